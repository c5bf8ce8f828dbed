"""Parsing source references and the options they take; pure (no ``datasets``, no network).

``hf:NS/NAME[@REV]`` is a dataset repo on the configured hub; ``parquet:PATH`` and ``arrow:PATH`` a
local file or a folder of such files (split names come from the file names, as ``datasets`` infers
them: train-*, validation-*/valid-*/dev-*, test-*).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError

PREFIXES = ("hf:", "parquet:", "arrow:")
_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
FILE_SUFFIXES = {"parquet": (".parquet",), "arrow": (".arrow",)}

#: What a source reference accepts as options (``--set dataset.label_column=...`` or a zoo table).
#: None means "guess" (see hub.data_sources.columns).
OPTIONS: dict[str, Any] = {
    "image_column": None, "text_column": None, "label_column": None,
    "seed": 0, "validation_fraction": 0.15, "test_fraction": 0.15,
}
TASKS = {"image": "image-classification", "text": "text-classification"}
SPLIT_WORDS = {"train": ("train", "training"), "validation": ("validation", "valid", "val", "dev"),
               "test": ("test", "testing", "eval", "evaluation")}


@dataclass(frozen=True)
class Source:
    """A parsed reference: ``kind`` is "hf", "parquet" or "arrow"; ``where`` the repo id or the path."""

    kind: str
    where: str
    revision: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.where}" + (f"@{self.revision}" if self.revision else "")

    @property
    def pinned(self) -> bool:
        return self.kind != "hf" or bool(_SHA_RE.match(self.revision))


def is_source(name: Any) -> bool:
    return isinstance(name, str) and name.startswith(PREFIXES)


def parse(name: str) -> Source:
    """``hf:NS/NAME[@REV]`` or ``parquet:PATH`` / ``arrow:PATH`` (a file or a folder); a malformed one is one line."""
    kind, _, rest = name.partition(":")
    if kind == "hf":
        repo, _, revision = rest.partition("@")
        if not _REPO_RE.match(repo) or ".." in repo or (_ and not revision.strip()):
            raise DataError(f"dataset {name!r}: expected hf:NAMESPACE/NAME or hf:NAMESPACE/NAME@REVISION "
                            "(a branch, tag or commit), e.g. hf:acme/digits@main")
        return Source("hf", repo, revision.strip())
    if kind in FILE_SUFFIXES:
        if not rest.strip():
            raise DataError(f"dataset {name!r}: expected {kind}:PATH, a {kind} file or a folder of them")
        return Source(kind, rest)
    raise DataError(f"dataset {name!r}: unknown source; use hf:NS/NAME[@REV], parquet:PATH or arrow:PATH")


def check_options(name: str, options: Any) -> list[tuple[str, str]]:
    """``[(key, problem)]`` for options a source does not take or of the wrong type (zoo.py adds the file line)."""
    problems = []
    for key, value in dict(options).items():
        if key not in OPTIONS:
            problems.append((key, f"dataset source {name!r} has no option {key!r}; it takes {', '.join(OPTIONS)}"))
        elif key.endswith("_column") and not (isinstance(value, str) and value):
            problems.append((key, f"must be a column name (a string), got {value!r}"))
        elif key == "seed" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            problems.append((key, f"must be an integer >= 0, got {value!r}"))
        elif key.endswith("_fraction") and (isinstance(value, bool) or not isinstance(value, (int, float))
                                            or not 0 < value < 0.5):
            problems.append((key, f"must be a number between 0 and 0.5 (the share of train carved off), got {value!r}"))
    return problems


def fingerprint(name: str) -> str:
    """What a source's data is, without reading it: the commit sha of a pinned repo; for local files, their
    names, sizes and bytes (hashed: a rewritten file under the same name counts)."""
    source = parse(name)
    if source.kind == "hf":
        if not source.pinned:
            raise DataError(f"dataset {name!r}: not pinned to a commit; plan the job first (hub.job.plan)")
        return f"hf:{source.where}@{source.revision}"
    h = hashlib.blake2b(digest_size=16)
    root, files = local_files(source)
    for path in files:
        h.update(f"{path.relative_to(root) if path != root else path.name}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return f"{source.kind}:{h.hexdigest()}"


def local_files(source: Source) -> tuple[Path, list[Path]]:
    """``(root, files)`` of a ``parquet:``/``arrow:`` source; a missing or empty one is one line."""
    path = Path(source.where).expanduser()
    suffixes = FILE_SUFFIXES[source.kind]
    if path.is_file():
        return path, [path]
    if not path.is_dir():
        raise DataError(f"dataset {source}: {path} does not exist; give a {source.kind} file or a folder of them")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in suffixes
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise DataError(f"dataset {source}: {path} holds no {'/'.join(suffixes)} files")
    return path, files


def split_of(rel: str) -> str | None:
    """The split a file belongs to, by a split word in its path (train-0.parquet, data/test/x.parquet)."""
    words = re.split(r"[/_.\-\s]+", rel.lower())
    for split, names in SPLIT_WORDS.items():
        if any(w in names for w in words[:-1]):  # the last word is the suffix
            return split
    return None


def group_by_split(root: Path, files: list[str]) -> dict[str, list[str]]:
    """``{split: [relative paths]}`` in train/validation/test order; no split word anywhere: all train.
    A file without one among files with one is an error, never silently left out."""
    placed = {rel: split_of(rel) for rel in files}
    if all(s is None for s in placed.values()):
        placed = dict.fromkeys(files, "train")
    lost = [rel for rel, s in placed.items() if s is None]
    if lost:
        raise DataError(f"{root / lost[0]}: cannot tell which split it belongs to; put train, validation or test "
                        "in its name (e.g. train-00000.parquet) or its folder")
    splits = {split: [rel for rel, s in placed.items() if s == split] for split in SPLIT_WORDS}
    return {split: rels for split, rels in splits.items() if rels}
