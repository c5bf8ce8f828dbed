"""Atomic file and folder writes: readers see the old version or the new one, never half.

Everything the hub writes for later use (checkpoints, run outputs, exports)
goes through here: write to a temporary sibling, flush, then ``os.replace``
(atomic on POSIX within one file system).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import OutputDirError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_json_if_changed(path: Path, data: Any) -> bool:
    """Like :func:`atomic_write_json`, but an unchanged file is left alone (same bytes, same mtime)."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    path = Path(path)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    atomic_write_text(path, text)
    return True


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder; on success it becomes ``path`` (an old ``path`` is replaced)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


#: What this module's writers leave behind when a process is killed mid-write (never user files).
_LEFTOVER = re.compile(r"^\..+\.(tmp|old)$")


def check_output_dir(path: Path, kind: str, *, markers: tuple[str, ...] = (), inputs: tuple[Path, ...] = (),
                     flag: str = "--out") -> None:
    """Refuse an output folder whose replacement would destroy something; call it before any work.

    The rule for every verb that writes a folder: ``path`` may be new, an empty folder, or a
    previous output of the same ``kind`` (it holds every file named in ``markers``; with no
    markers, only new or empty folders pass). It may never be, lie inside, or contain one of
    the command's ``inputs`` (``hub export RUN --out RUN`` would replace the run it reads).
    Symlinks are resolved first, so a link cannot smuggle an input in. Temporary files that
    a killed atomic write left (``.NAME.*.tmp``) do not count: rerunning the command that was
    killed must work.
    Raises :class:`hub.errors.OutputDirError` (a :class:`~hub.errors.HubError`) with one line.
    """
    path = Path(path)
    real = Path(os.path.realpath(path))
    for source in inputs:
        src = Path(os.path.realpath(source))
        if real == src or src in real.parents:
            what = "is" if real == src else "lies inside"
            raise OutputDirError(f"{path}: {flag} {what} the {kind}'s own input {source}; writing there would "
                                 f"replace it. Choose a folder outside {source}")
        if real in src.parents:
            raise OutputDirError(f"{path}: {flag} contains the {kind}'s own input {source}; writing there would "
                                 f"replace it. Choose a folder that does not hold {source}")
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir():
        raise OutputDirError(f"{path}: exists and is not a folder; choose an empty or new {flag} folder")
    try:
        entries = sorted(p.name for p in path.iterdir() if not _LEFTOVER.match(p.name))
    except OSError as exc:
        raise OutputDirError(f"{path}: cannot be read ({exc.strerror or exc}); choose another {flag} folder") from None
    if not entries or (markers and all((path / m).exists() for m in markers)):
        return
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    raise OutputDirError(f"{path}: exists and is not a previous {kind} (it holds {shown}); nothing was changed. "
                         f"Choose an empty or new {flag} folder")
