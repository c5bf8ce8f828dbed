"""Read a source through ``datasets`` into the :class:`hub.data.Dataset` every dataset plugin returns.

Images are decoded here, once, to the layout the vision datasets use (uint8 ``(N, H, W)`` for grey,
``(N, H, W, 3)`` for colour, stacked when every image has the same size, else a list of such
arrays, which :func:`hub.runtime.preprocess.preprocess_images` takes as well), so every backbone,
task, trainer and export path works unchanged. Splits are the source's own (train / validation /
test, names as ``datasets`` infers them); a missing validation or test split is carved from train
with a seeded permutation (``validation_fraction``, ``test_fraction``, ``seed``), and the info says so.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

from ..data import SPLITS, Dataset, Split, split_indices
from ..errors import DataError, HubError
from . import columns as cols
from .names import OPTIONS, check_options, group_by_split, local_files, parse


def load_source(name: str, modality: str, **options: Any) -> Dataset:
    """The factory behind every ``hf:``/``parquet:``/``arrow:`` dataset (see :func:`hub.data_sources.refs.component`)."""
    import numpy as np

    problems = check_options(name, options)
    if problems:
        key, problem = problems[0]
        raise DataError(f"dataset {name}: option {key}: {problem}")
    opts = {**OPTIONS, **options}
    source = parse(name)
    table = _read(source)
    if "train" not in table:
        raise DataError(f"dataset {name}: has splits {', '.join(table) or 'none'} but no 'train' split; name the "
                        "training files train-*.parquet (or declare a train split in the card's configs)")
    features = table["train"].features
    chosen = cols.choose(name, features, modality, opts)
    raw = {split: table[split] for split in SPLITS if split in table}
    values = {split: part[chosen.label] for split, part in raw.items()}
    labels_of = {split: list(v) for split, v in values.items()}
    names = cols.label_names(name, features[chosen.label], chosen.label_kind, list(labels_of.values()))
    index = {n: i for i, n in enumerate(names)}
    splits, dropped = {}, {}
    for split, part in raw.items():
        ids = [_label_id(v, chosen.label_kind, index) for v in labels_of[split]]
        keep = [i for i, v in enumerate(ids) if v is not None]
        if len(keep) < len(ids):
            dropped[split] = len(ids) - len(keep)
        if not keep:
            continue
        inputs = _inputs(name, part, chosen.input, modality, keep)
        splits[split] = Split(inputs, np.asarray([ids[i] for i in keep], dtype=np.int64))
    if "train" not in splits:
        raise DataError(f"dataset {name}: no row of the train split has a label in column {chosen.label!r}")
    carved = _carve(splits, opts)
    info = {"source": str(source), "columns": {"input": chosen.input, "label": chosen.label},
            "label_kind": chosen.label_kind, "carved": carved, "unlabelled_rows_dropped": dropped}
    return Dataset(name=name, modality=modality, label_names=names, splits=splits, info=info)


def _label_id(value: Any, kind: str, index: dict[str, int]) -> int | None:
    """The class index of one label; None for a missing one (ClassLabel -1, null), whose row is dropped."""
    if value is None:
        return None
    if kind == "string":
        return index[str(value)]
    value = int(value)
    return value if value >= 0 else None


def _carve(splits: dict[str, Split], opts: dict[str, Any]) -> list[str]:
    """Carve the missing validation/test splits out of train (seeded); returns the names carved."""
    missing = [s for s in ("validation", "test") if s not in splits]
    if not missing:
        return []
    train = splits["train"]
    shares = {"validation": float(opts["validation_fraction"]), "test": float(opts["test_fraction"])}
    fractions = [1.0 - sum(shares[s] for s in missing)] + [shares[s] for s in missing]
    parts = split_indices(len(train), fractions, seed=int(opts["seed"]))
    if any(len(p) == 0 for p in parts):
        raise DataError(f"too few training rows ({len(train)}) to carve {' and '.join(missing)} split(s) from; "
                        "add more rows or give those splits as files")
    take = (lambda idx: train.inputs[idx]) if hasattr(train.inputs, "shape") else \
        (lambda idx: [train.inputs[i] for i in idx])
    for split, idx in zip(["train", *missing], parts):
        idx = sorted(idx)
        splits[split] = Split(take(idx), train.labels[idx])
    return missing


def _read(source: Any) -> Any:
    """The source as a ``datasets.DatasetDict`` (nothing decoded yet)."""
    try:
        import datasets
    except ImportError:
        raise DataError(f"dataset {source}: reading dataset repos and parquet needs the `datasets` library: "
                        "pip install 'zoohub[train]'") from None
    with _quiet(datasets):
        if source.kind == "hf":
            from .hubrepo import endpoint, read_error, target

            where = target()
            try:
                with endpoint(where.endpoint):
                    return datasets.load_dataset(source.where, revision=source.revision or None,
                                                 token=where.token or False)
            except HubError:
                raise
            except Exception as exc:
                raise read_error(exc, source, where) from None
        root, files = local_files(source)
        if root.is_file():
            data_files = {"train": [str(root)]}
        else:  # named files only: a saved dataset's state.json or a stray CSV must not be read as data
            grouped = group_by_split(root, [p.relative_to(root).as_posix() for p in files])
            data_files = {split: [str(root / rel) for rel in rels] for split, rels in grouped.items()}
        try:
            return datasets.load_dataset(source.kind, data_files=data_files)
        except Exception as exc:
            detail = " ".join(str(exc).split())[:300]
            raise DataError(f"dataset {source}: cannot read {root} as {source.kind}: {type(exc).__name__}: "
                            f"{detail}") from None


@contextlib.contextmanager
def _quiet(datasets: Any) -> Iterator[None]:
    """No ``datasets`` progress bars inside hub's own output (training draws its own)."""
    was = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was:
            datasets.enable_progress_bars()


def _inputs(name: str, part: Any, column: str, modality: str, keep: list[int]) -> Any:
    if len(keep) < len(part):
        part = part.select(keep)
    if modality == "text":
        texts = list(part[column])
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise DataError(f"dataset {name}: row {keep[bad]} of column {column!r} holds no text ({texts[bad]!r})")
        return texts
    return _images(name, part, column)


def _images(name: str, part: Any, column: str) -> Any:
    """Decode every image once: grey stays (H, W), everything else becomes RGB (H, W, 3), like the vision datasets."""
    import numpy as np
    from PIL import Image

    from ..runtime.preprocess import _pil_mode  # the runtime's own mode rules (16-bit grey, palettes, EXIF)

    if type(part.features[column]).__name__ == "Image":
        import datasets

        part = part.cast_column(column, datasets.Image(decode=False))
    arrays = []
    for i, cell in enumerate(part[column]):
        data = cell.get("bytes") if isinstance(cell, dict) else cell
        path = cell.get("path") if isinstance(cell, dict) else None
        try:
            with (Image.open(io.BytesIO(data)) if data else Image.open(path)) as image:
                image.load()
                arrays.append(np.asarray(_pil_mode(image, 3), dtype=np.uint8))
        except Exception as exc:  # missing bytes, truncated or unknown formats
            raise DataError(f"dataset {name}: row {i} of column {column!r} is not a readable image "
                            f"({type(exc).__name__}: {exc})") from None
    if arrays and all(a.shape == arrays[0].shape for a in arrays):
        return np.stack(arrays)
    return arrays
