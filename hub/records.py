"""Example files listed row by row: CSV, TSV or JSONL, optionally .gz/.bz2/.xz compressed.

Datasets of every modality read the user's own listings (texts with labels,
image manifests) through this one reader, so every plugin reports bad rows
the same way: ``file:line: what is wrong``.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import DataError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def format_of(path: Path, fmt: str | None = None) -> str:
    """``csv``, ``tsv`` or ``jsonl``: ``fmt`` if given, else from the name (compression suffix ignored)."""
    if fmt is not None:
        if fmt not in ("csv", "tsv", "jsonl"):
            raise DataError(f"unknown format {fmt!r}; use 'csv', 'tsv' or 'jsonl'.")
        return fmt
    suffixes = [s.lower() for s in Path(path).suffixes if s.lower() not in _COMPRESSED]
    found = FORMATS.get(suffixes[-1] if suffixes else "")
    if found is None:
        raise DataError(f"{path}: cannot tell the format from the name; pass format='csv', 'tsv' or 'jsonl'.")
    return found


def read_text(path: Path) -> str:
    """The whole (possibly compressed) UTF-8 file; bad bytes are reported with their line."""
    opener = _COMPRESSED.get(Path(path).suffix.lower(), open)
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


def read_records(path: Path, fmt: str | None = None, required: Sequence[str] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, record)`` per non-blank row; ``required`` columns/keys must be present."""
    path = Path(path)
    fmt = format_of(path, fmt)
    content = read_text(path)
    if fmt == "jsonl":
        yield from _jsonl(path, content, required)
        return
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter="," if fmt == "csv" else "\t")
    try:
        header = reader.fieldnames or []
        for column in required:
            if column not in header:
                raise DataError(f"{path}:1: no column {column!r}; the header has {header}.")
        for row in reader:
            if None in row:
                raise DataError(f"{path}:{reader.line_num}: more fields than the header has columns.")
            if any(row[c] is None for c in required):
                raise DataError(f"{path}:{reader.line_num}: fewer fields than the header has columns.")
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue  # a row of empty cells
            yield reader.line_num, row
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: malformed {fmt.upper()} ({exc}).") from exc


def _jsonl(path: Path, content: str, required: Sequence[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for line_no, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{line_no}: not valid JSON ({exc.msg}).") from exc
        if not isinstance(record, dict):
            raise DataError(f"{path}:{line_no}: each line must be a JSON object, got {type(record).__name__}.")
        for column in required:
            if column not in record:
                raise DataError(f"{path}:{line_no}: no key {column!r}; the object has {sorted(record)}.")
        yield line_no, record
