"""The user's own images: a folder of class folders, or a CSV/JSONL manifest.

Both readers return file paths, not pixels: images are decoded lazily by
``hub.runtime.preprocess`` (the function deployers use too), so a folder of
large photos costs no memory up front. Every file is still opened once at load
time with Pillow's ``verify()`` (header and, for PNG, checksums: 2000 small
PNG/JPEG files took 0.06 s warm on the build machine), so a corrupt file fails
in seconds with its name, not an hour into training. ``verify()`` does not
decode pixel data: a JPEG truncated mid-stream passes it and is reported, with
its path, when it is first decoded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hub.data import SPLITS, Dataset, Split, split_indices
from hub.errors import DataError
from hub.records import format_of, read_records

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

#: folder or manifest value -> split name
_SPLIT_ALIASES = {"train": "train", "training": "train", "validation": "validation", "val": "validation",
                  "valid": "validation", "dev": "validation", "test": "test", "testing": "test"}

#: share of train carved out for each split the data does not provide itself
_CARVE_FRACTION = 0.15

Rows = dict[str, list[tuple[str, str, str]]]  # split -> [(path, label, where)]


def image_folder(path: str | Path, split: str | None = "auto", seed: int = 0,
                 extensions: Iterable[str] = IMAGE_EXTENSIONS, labels: Sequence[str] | None = None,
                 verify: bool = True) -> Dataset:
    """Images under ``path/<class>/...`` (any depth below the class folder).

    ``split="auto"``: if ``path`` holds a ``train/`` folder, its siblings
    ``validation/`` (or ``val/``) and ``test/`` are the other splits, each
    with class folders inside; a split that is absent is carved out of train
    (15% each, seeded). Otherwise, and always with ``split=None``, the top-level
    folders are classes and the pool is split 70/15/15 by ``seed``.

    Label names are the class folder names sorted, unless ``labels`` gives
    them (and their order, i.e. the class indices). Files with other suffixes
    and hidden files are skipped.
    """
    root = Path(path).expanduser()
    if split not in (None, "auto"):
        raise ValueError(f"image_folder split must be None or 'auto', got {split!r}")
    if not root.is_dir():
        raise DataError(f"{root}: image folder does not exist (expected {root}/<class>/<image files>)")
    suffixes = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    split_dirs = _split_folders(root) if split == "auto" else {}
    rows: Rows = {}
    if split_dirs:
        for name, folder in split_dirs.items():
            rows[name] = _scan_classes(folder, suffixes)
    else:
        rows["train"] = _scan_classes(root, suffixes)
    return _assemble(root.name or str(root), rows, labels, seed, verify, presplit=bool(split_dirs),
                     info={"source": str(root), "layout": "split folders" if split_dirs else "class folders"})


def manifest(path: str | Path, root: str | Path | None = None, path_column: str = "path",
             label_column: str = "label", split_column: str | None = None, seed: int = 0,
             labels: Sequence[str] | None = None, verify: bool = True) -> Dataset:
    """Images listed in a CSV/TSV (header row) or JSONL file (one object a line), by suffix.

    Relative image paths are resolved against ``root`` (default: the
    manifest's own folder). With ``split_column``, its values (train,
    validation/val, test) assign the splits; absent splits are carved out of
    train as in :func:`image_folder`. Without it the rows are split 70/15/15.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"{file}: manifest does not exist")
    base = Path(root).expanduser() if root is not None else file.parent
    try:
        fmt = format_of(file)
    except DataError:
        raise DataError(f"{file}: unknown manifest format {file.suffix.lower()!r}; use a .csv or .tsv "
                        "(with a header row) or a .jsonl file (optionally .gz/.bz2/.xz)") from None
    records = read_records(file, fmt)
    rows: Rows = {}
    count = 0
    for line, record in records:
        count += 1
        where = f"{file}:{line}"
        for column in (path_column, label_column) + ((split_column,) if split_column else ()):
            if column not in record:
                raise DataError(f"{where}: no {column!r} column/field (has: {', '.join(map(str, record)) or 'none'});"
                                f" name the right one with path_column=, label_column= or split_column=")
        rel, label = _text(record[path_column]), _text(record[label_column])
        if not rel or not label:
            empty = path_column if not rel else label_column
            raise DataError(f"{where}: empty {empty!r}; every row needs a path and a label")
        name = "train"
        if split_column:
            value = _text(record[split_column]).lower()
            if value not in _SPLIT_ALIASES:
                raise DataError(f"{where}: split {record[split_column]!r} is not one of train, validation (val), test")
            name = _SPLIT_ALIASES[value]
        image = Path(rel).expanduser()
        image = image if image.is_absolute() else base / image
        if not image.is_file():
            raise DataError(f"{where}: image {image} does not exist "
                            f"(relative paths are read from {base}; pass root=...)")
        rows.setdefault(name, []).append((str(image), label, where))
    if count == 0:
        raise DataError(f"{file}: manifest is empty; add one row per image ({path_column}, {label_column})")
    if split_column and "train" not in rows:
        raise DataError(f"{file}: no row has split 'train'; the {split_column!r} column must mark training rows")
    return _assemble(file.stem, rows, labels, seed, verify, presplit=bool(split_column),
                     info={"source": str(file), "layout": "manifest"})


def _text(value: Any) -> str:
    """A manifest cell as stripped text; JSON numbers (label 0) stay, null becomes empty."""
    return "" if value is None else str(value).strip()


def _split_folders(root: Path) -> dict[str, Path]:
    """Split name -> folder when ``root`` is laid out as train/validation/test, else ``{}``."""
    children = {p.name.lower(): p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if "train" not in children:
        found = [n for n in children if n in ("validation", "val", "test")]
        if found and len(found) == len(children):
            raise DataError(f"{root}: has {'/, '.join(found)}/ but no train/ folder; add {root}/train/<class>/...")
        return {}
    out: dict[str, Path] = {}
    for name, folder in children.items():
        split = {"train": "train", "validation": "validation", "val": "validation", "test": "test"}.get(name)
        if split is None:
            raise DataError(f"{root}: mixes split folders (train/) with {folder.name}/; put class folders inside "
                            f"train/, validation/ and test/, or pass split=None to treat every folder as a class")
        if split in out:
            raise DataError(f"{root}: has both val/ and validation/; keep one")
        out[split] = folder
    return out


def _scan_classes(folder: Path, suffixes: set[str]) -> list[tuple[str, str, str]]:
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{folder}: no class folders; expected {folder}/<class name>/<image files>")
    out = []
    for cls in classes:
        files = sorted(p for p in cls.rglob("*") if p.suffix.lower() in suffixes and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(cls).parts))
        if not files:
            raise DataError(f"{cls}: class folder has no images ({', '.join(sorted(suffixes))}); "
                            f"add images or remove the folder")
        out.extend((str(p), cls.name, str(p)) for p in files)
    return out


def _verify(path: str, where: str) -> None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... for bad files
        detail = f" ({where})" if where != path else ""
        raise DataError(f"{path}{detail}: not a readable image ({type(exc).__name__}: {exc}); "
                        f"replace or delete the file") from exc


def _assemble(name: str, rows: Rows, labels: Sequence[str] | None, seed: int, verify: bool,
              presplit: bool, info: dict[str, Any]) -> Dataset:
    """Check labels and files, map labels to indices, fill in absent splits from train."""
    import numpy as np

    all_rows = [r for split_rows in rows.values() for r in split_rows]
    if labels is not None:
        names = tuple(str(x) for x in labels)
        if len(set(names)) != len(names):
            raise ValueError(f"labels= repeats names: {list(names)}")
        allowed = set(names)
        for _, label, where in all_rows:
            if label not in allowed:
                raise DataError(f"{where}: label {label!r} is not in the given labels "
                                f"({', '.join(names)}); fix the data or add it to labels=")
    else:
        names = tuple(sorted({label for _, label, _ in all_rows}))
    if presplit:
        in_train = {label for _, label, _ in rows.get("train", [])}
        for split, split_rows in rows.items():
            for _, label, where in split_rows:
                if label not in in_train:
                    raise DataError(f"{where}: class {label!r} has images in {split} but none in train; "
                                    f"a model cannot learn a class it never sees")
    if verify:
        for path, _, where in all_rows:
            _verify(path, where)
    index = {label: i for i, label in enumerate(names)}

    def as_split(part: list[tuple[str, str, str]]) -> Split:
        return Split([p for p, _, _ in part], np.array([index[lb] for _, lb, _ in part], dtype=np.int64))

    splits = {s: as_split(rows[s]) for s in SPLITS if s in rows}
    missing = [s for s in SPLITS if s not in splits]
    if missing:
        train = rows["train"]
        fractions = [1.0 - _CARVE_FRACTION * len(missing)] + [_CARVE_FRACTION] * len(missing)
        parts = split_indices(len(train), fractions, seed)
        for split, idx in zip(["train"] + missing, parts):
            splits[split] = as_split([train[i] for i in idx])
    info = dict(info, counts={s: len(splits[s]) for s in SPLITS}, carved=missing)
    return Dataset(name=name, modality="image", label_names=names,
                   splits={s: splits[s] for s in SPLITS}, info=info)
