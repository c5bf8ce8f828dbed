"""``hub serve gc``: remove the stored bytes no commit references any more.

Deleting a repo or a branch removes refs, not bytes: LFS objects, Xet file records and xorbs stay.
Collection is mark and sweep over the whole data folder:

* **Mark**: every LFS pointer reachable from any ref of any repo (models and datasets), read with
  ``git rev-list --objects --all`` and one ``cat-file --batch`` of the small blobs.
* **Sweep**: an LFS object, or a Xet file record, whose sha256 is not marked; then every xorb no
  remaining file record uses. Anything younger than ``grace`` seconds is kept whatever the marks say:
  an upload finished but not yet committed (the batch API's signed URL lives an hour) is not garbage.

Why it never removes a referenced object, even with the server running: gc holds the data folder's
gc lock exclusively from mark to sweep, and every repo write (``Hub.lock``) holds it shared, so no
commit can check "object stored" and move a ref while gc decides and deletes; it also holds the
create/move/delete lock, so no repo slips from an unvisited key to a visited one during the mark. A
commit that raced an upload of an object gc then removed is refused (its object is missing) instead
of landing with a dangling pointer; the client uploads again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .datadir import ProcessLock, _flock, gc_lock_path
from .repos import RepoStore
from .storage import POINTER_MAX, GitRepo, parse_lfs_pointer

logger = logging.getLogger(__name__)

DEFAULT_GRACE_S = 3600.0  # the LFS upload URL's lifetime: an upload can finish that long after its batch call


@dataclass
class Swept:
    """What one kind of stored thing came to: removed (or would be, in a dry run) and kept."""

    removed: int = 0
    removed_bytes: int = 0
    kept: int = 0
    kept_bytes: int = 0

    def add(self, size: int, remove: bool) -> None:
        if remove:
            self.removed, self.removed_bytes = self.removed + 1, self.removed_bytes + size
        else:
            self.kept, self.kept_bytes = self.kept + 1, self.kept_bytes + size


@dataclass
class GcReport:
    dry_run: bool
    repos: int = 0
    referenced: int = 0
    lfs: Swept = field(default_factory=Swept)
    xet_files: Swept = field(default_factory=Swept)
    xorbs: Swept = field(default_factory=Swept)

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "repos": self.repos, "referenced": self.referenced,
                **{k: vars(getattr(self, k)) for k in ("lfs", "xet_files", "xorbs")}}


def pointers(repo: GitRepo) -> set[str]:
    """sha256 of every LFS pointer reachable from any ref of ``repo`` (all branches, tags, history)."""
    listing = repo.git("rev-list", "--objects", "--all").decode()
    oids = [line.split(" ", 1)[0] for line in listing.splitlines() if line]
    if not oids:
        return set()
    checked = repo.git("cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)",
                       input="".join(f"{o}\n" for o in oids).encode()).decode()
    small = [oid for oid, kind, size in (line.split() for line in checked.splitlines())
             if kind == "blob" and int(size) <= POINTER_MAX]
    found = set()
    for data in repo.read_blobs(small).values():
        parsed = parse_lfs_pointer(data)
        if parsed is not None:
            found.add(parsed[0])
    return found


def mark(store: RepoStore) -> tuple[int, set[str]]:
    """``(repos visited, referenced sha256s)`` over every model and dataset repo."""
    keys = store.list_ids("model") + store.list_ids("dataset")
    marked: set[str] = set()
    for key in keys:
        marked |= pointers(store.open(key))
    return len(keys), marked


@contextlib.contextmanager
def exclusive(data_dir: Path) -> Iterator[None]:
    """Hold the gc lock exclusively (repo writes wait) and the create/move/delete lock."""
    with ProcessLock(Path(data_dir) / "locks" / "repos.lock"):
        fd = _flock(gc_lock_path(data_dir)) if os.name == "posix" else None
        try:
            yield
        finally:
            if fd is not None:
                os.close(fd)


def collect(data_dir: Path, storage: str | None = None, *, dry_run: bool = False,
            grace: float = DEFAULT_GRACE_S) -> GcReport:
    """Mark and sweep ``data_dir`` (objects in ``storage`` when given); see the module docstring."""
    from .lfs import LfsStore
    from .xet.store import XetStore

    data_dir = Path(data_dir)
    xet = XetStore(data_dir, storage=storage)
    lfs = LfsStore(data_dir, storage=storage, xet=xet)
    report = GcReport(dry_run=dry_run)
    cutoff = time.time() - grace
    try:
        with exclusive(data_dir):
            report.repos, marked = mark(RepoStore(data_dir))
            report.referenced = len(marked)
            for key, size, mtime in list(lfs.objects.entries()):
                remove = key.rsplit("/", 1)[-1] not in marked and mtime < cutoff
                report.lfs.add(size, remove)
                if remove and not dry_run:
                    lfs.objects.delete(key)
            dead_files = []
            for fid, sha256, size, created in xet.file_rows():
                remove = sha256 not in marked and created < cutoff
                report.xet_files.add(size, remove)
                if remove:
                    dead_files.append(fid)
            used = xet.xorbs_used(excluding=dead_files)
            dead_xorbs = []
            for key, size, mtime in list(xet.objects.entries()):  # the bytes, so orphans of a failed drop go too
                xorb = key.rsplit("/", 1)[-1]
                remove = xorb not in used and mtime < cutoff
                report.xorbs.add(size, remove)
                if remove:
                    dead_xorbs.append(xorb)
            if not dry_run:
                xet.drop(dead_files, dead_xorbs)  # index rows first: a reader never finds a row without bytes
    finally:
        xet.close()
    logger.info("gc of %s%s: %s", data_dir, " (dry run)" if dry_run else "", report.as_dict())
    return report
