"""What the processes of one ``hub serve`` share through its data folder: lock, key, write locks, temp.

``hub serve --workers N`` runs N processes over one folder, so nothing that must hold across
requests may live in one process's memory:

* **The folder lock** (``serve.lock``, an exclusive ``flock``): taken by the single server or by the
  supervisor of the workers, and inherited by the workers (the same open file, so the lock is held
  as long as any process of the group lives). A second independent server is refused.
* **The key** (``serve-secret.key``, 32 random bytes, 0600, created once atomically, never logged):
  what Xet tokens, signed xorb URLs and signed LFS upload URLs are signed with, so every worker
  accepts them and they survive a restart. Each use gets its own derived key.
* **Write locks** (``locks/*.lock``): a commit, branch, tag, delete or move of a repo holds that repo's
  ``flock`` (taken in a thread, after the process's own asyncio lock, so one process never blocks its
  event loop and never queues two of its own requests on the file lock).
* **Temp folders** are cleared once at start, by the process that took the folder lock, before any
  worker runs: a worker (re)starting must not delete another worker's upload in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import shutil
import threading
from pathlib import Path
from typing import Any

import anyio.to_thread

__all__ = ["DataDirBusy", "RepoLock", "ProcessLock", "clear_temp", "derived_key", "lock_data_dir"]

KEY_FILE = "serve-secret.key"
KEY_BYTES = 32


class DataDirBusy(RuntimeError):
    """Another server holds the data folder."""


def lock_data_dir(data_dir: Path) -> Any:
    """An open ``serve.lock`` holding the folder's exclusive lock; :class:`DataDirBusy` when taken."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fh = open(data_dir / "serve.lock", "a+")
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks, rely on the documentation
        return fh
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise DataDirBusy(f"another hub serve is already using {data_dir}; stop it (`hub serve stop --data "
                          f"{data_dir}`) or give this one another --data folder") from None
    return fh


def check_inherited_lock(fh: Any, data_dir: Path) -> None:
    """A worker's check that the lock file it was handed really holds ``data_dir``'s lock.

    Locking again through the same open file (what a worker inherits) succeeds at once; anything else
    (a file of another folder, a lock that was lost) fails here instead of serving unlocked.
    """
    try:
        import fcntl
    except ImportError:
        return
    try:
        same = os.path.samestat(os.fstat(fh.fileno()), os.stat(data_dir / "serve.lock"))
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        same = False
    if not same:
        raise DataDirBusy(f"this worker was not handed the lock of {data_dir}")


def _server_key(data_dir: Path) -> bytes:
    """The folder's signing key, created on first use: temp file (0600), then a hard link, so no
    reader ever sees a partial key and two processes creating it at once agree on one."""
    path = Path(data_dir) / KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        tmp = path.with_name(f".{KEY_FILE}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(KEY_BYTES))
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise RuntimeError(f"{path} is damaged ({len(key)} bytes, expected {KEY_BYTES}); delete it and start "
                           "again (open web sessions stay valid, Xet tokens and upload URLs must be asked again)")
    return key


def derived_key(data_dir: Path, purpose: str) -> bytes:
    """A key for one ``purpose`` (``"xet-tokens"``, ``"lfs-upload"``...), derived from the folder's key."""
    return hmac.new(_server_key(data_dir), purpose.encode(), hashlib.sha256).digest()


def clear_temp(*folders: Path | None) -> None:
    """Empty the temp folders (partial uploads and commits of a previous run); keep the folders."""
    for folder in folders:
        if folder is None or not Path(folder).is_dir():
            continue
        for child in Path(folder).iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def lock_path(data_dir: Path, name: str) -> Path:
    """The lock file of ``name`` (a repo id): hashed, so no name can reach outside ``locks/``."""
    return Path(data_dir) / "locks" / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.lock"


def gc_lock_path(data_dir: Path) -> Path:
    """The lock ``hub serve gc`` holds exclusively while it decides and deletes, and every repo write
    holds shared: no commit can check that an object exists while gc is removing it."""
    return Path(data_dir) / "locks" / "gc.lock"


def _flock(path: Path, shared: bool = False) -> int:
    """Open ``path`` and take its lock (exclusive, or ``shared``), waiting for it; the descriptor holds it."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


class ProcessLock:
    """A blocking lock across threads *and* processes (``with``), for code already in a worker thread."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> ProcessLock:
        self._thread_lock.acquire()
        try:
            self._fd = _flock(self.path) if os.name == "posix" else None
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                os.close(fd)  # closing the only descriptor releases the flock
        finally:
            self._thread_lock.release()


class RepoLock:
    """``async with``: the process's asyncio lock for a repo, then the repo's file lock (in a thread)."""

    def __init__(self, local: asyncio.Lock, path: Path, gc_path: Path | None = None):
        self.local = local
        self.path = path
        self.gc_path = gc_path
        self._fds: list[int] = []

    async def __aenter__(self) -> RepoLock:
        await self.local.acquire()
        if os.name != "posix":
            return self
        got: list[int] = []

        def take() -> None:
            got.append(_flock(self.path))
            if self.gc_path is not None:
                got.append(_flock(self.gc_path, shared=True))

        try:
            await anyio.to_thread.run_sync(take)
        except BaseException:  # cancelled after the thread took the lock: give it back, or it is held forever
            for fd in got:
                os.close(fd)
            self.local.release()
            raise
        self._fds = got
        return self

    async def __aexit__(self, *exc: object) -> None:
        fds, self._fds = self._fds, []
        try:
            for fd in reversed(fds):
                os.close(fd)
        finally:
            self.local.release()
