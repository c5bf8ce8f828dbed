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
