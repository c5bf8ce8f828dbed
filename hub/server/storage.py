"""Git-backed repository store: every repo is a real bare git repository.

Commits, branches and tags are real git objects and refs, written with git plumbing
(``hash-object``, ``update-index`` on a temporary index, ``write-tree``, ``commit-tree``,
``update-ref`` with the expected old value), so ``git log``/``git ls-tree``/``git clone`` read what
was published and a ref is only ever moved from the value the writer saw. Large files are
committed as git-lfs pointer files; their bytes live in the shared LFS store (``lfs.py``).

Durability: every object a commit references is on disk before the ref update that publishes it,
and the ref update itself is fsynced (``core.fsync=committed``). Git would fsync each loose object
as it writes it, one fsync per file; a commit of many files instead writes its objects inside
:meth:`GitRepo.batch_objects`, with git's loose-object fsync off, and leaving that block makes them
all durable with one ``syncfs(2)`` of the filesystem, before the caller moves the ref. Where
``syncfs`` is missing (not Linux) git's per-object fsync stays on and the block syncs nothing.

Layout under ``DATA``::

    repos/models/{namespace}/{name}.git     bare git repository
    repos/models/{namespace}/{name}.json    metadata (private flag, creation time), written atomically
    repos/datasets/{namespace}/{name}.*     the same for dataset repos (see repos.py)
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..fsutil import atomic_write_bytes as atomic_write  # noqa: F401 (routes_read uses it too)

logger = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$")
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
# Revision names are plain branch/tag names: no git revision syntax (main~1, main^{tree}, @{-1}...).
BAD_REV_RE = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|^[-/.]|/$|//|\.lock$|^@$")
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1\n"
POINTER_MAX = 1024

# Same spirit as the Hub's default .gitattributes: weights and archives go to LFS.
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gguf", "*.gz", "*.h5", "*.joblib",
        "*.lfs.*", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot",
        "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors",
        "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip",
        "*.zst", "*tfevents*",
    )
)

# Isolate git from the user's and the system's configuration (signing, hooks, templates...).
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_LITERAL_PATHSPECS": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}


# What git fsyncs by itself. Refs always (``committed`` = loose objects, packs and refs: also for repos
# created before the repo config said so); inside ``batch_objects`` everything but loose objects,
# which the batch makes durable all at once when it ends.
FSYNC_ALL = ("-c", "core.fsync=committed")
FSYNC_BUT_LOOSE_OBJECTS = ("-c", "core.fsync=pack,reference")


def _load_syncfs():
    """libc's ``syncfs(int fd)``, or ``None`` where there is none (not Linux/glibc)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return fn


_SYNCFS = _load_syncfs()


def syncfs(path: Path) -> None:
    """Flush everything written on the filesystem holding ``path`` to stable storage.

    On Linux ``syncfs`` waits for the writeback and the device cache flush, so it gives what an
    fsync of every file (data and directory entries) on that filesystem would give; since 5.8 it
    also reports writeback errors, raised here as ``OSError``.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        if _SYNCFS(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"syncfs {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def iso_utc(timestamp: float) -> str:
    """A UTC time in the exact ISO form the Hub uses (the client parses no other)."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def now_iso() -> str:
    """Current UTC time in the Hub's ISO form."""
    return iso_utc(datetime.now(timezone.utc).timestamp())


def lfs_pointer(oid: str, size: int) -> bytes:
    """The standard git-lfs pointer file for an object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def parse_lfs_pointer(data: bytes) -> tuple[str, int] | None:
    """``(sha256, size)`` if ``data`` is a git-lfs pointer file, else ``None``."""
    if not data.startswith(LFS_POINTER_PREFIX) or len(data) > POINTER_MAX:
        return None
    fields = dict(line.split(" ", 1) for line in data.decode("ascii", "replace").splitlines() if " " in line)
    oid, size = fields.get("oid", ""), fields.get("size", "")
    if not oid.startswith("sha256:") or not size.isdigit():
        return None
    return oid[len("sha256:"):], int(size)


@dataclass(frozen=True)
class TreeEntry:
    """One ``git ls-tree -l`` line."""

    mode: str
    type: str  # "blob" | "tree" | "commit"
    oid: str
    size: int
    path: str


@dataclass(frozen=True)
class CommitRecord:
    """One commit as the API reports it."""

    oid: str
    author: str
    date: str
    title: str
    message: str


class GitRepo:
    """Thin synchronous wrapper over git plumbing for one bare repository (call from a thread)."""

    # How objects written in batch_objects() become durable: "syncfs" (one syncfs when the batch
    # ends) or "git" (git fsyncs each loose object; the only choice without syncfs). A class
    # attribute so that bench/commit_files.py can compare the two in one process.
    object_sync: str = "syncfs" if _SYNCFS else "git"

    def __init__(self, path: Path):
        self.path = path
        self._fsync_opts: tuple[str, ...] = FSYNC_ALL
        self._batching = False

    @contextlib.contextmanager
    def batch_objects(self) -> Iterator[None]:
        """Write objects inside this block; when it ends without error they are all durable.

        Git skips its per-object fsync inside the block and :meth:`sync_objects` runs once at its
        end, so a caller that moves a ref after the block publishes only objects on stable storage.
        """
        deferred = self.object_sync == "syncfs"
        if deferred:
            self._fsync_opts = FSYNC_BUT_LOOSE_OBJECTS
        self._batching = True
        try:
            yield
        finally:
            self._fsync_opts, self._batching = FSYNC_ALL, False
        if deferred:
            self.sync_objects()

    def sync_objects(self) -> None:
        """Make every object written so far durable (one ``syncfs`` of the repo's filesystem)."""
        syncfs(self.path / "objects")

    def git(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
            check: bool = True) -> bytes:
        """Run ``git`` on this repository and return stdout; raise on failure when ``check``."""
        full_env = {**os.environ, **GIT_ENV, **(env or {})}
        proc = subprocess.run(["git", f"--git-dir={self.path}", *self._fsync_opts, *args], input=input,
                              env=full_env, capture_output=True)
        if check and proc.returncode != 0:
            stderr = proc.stderr.decode(errors="replace")
            if "No space left on device" in stderr or "Disk quota exceeded" in stderr:
                raise OSError(errno.ENOSPC, f"git {args[0]}: {stderr.strip()}")  # answered as 507
            raise RuntimeError(f"git {args[0]} failed ({proc.returncode}): {stderr}")
        return proc.stdout

    def _try(self, *args: str) -> str | None:
        proc = subprocess.run(["git", f"--git-dir={self.path}", *FSYNC_ALL, *args], env={**os.environ, **GIT_ENV},
                              capture_output=True)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def branch_head(self, branch: str) -> str | None:
        """Commit a branch points to, or ``None``."""
        if BAD_REV_RE.search(branch):
            return None
        return self._try("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")

    def resolve(self, rev: str) -> str | None:
        """Full commit sha for a branch, a tag or a full commit sha; ``None`` if unknown."""
        if not rev or BAD_REV_RE.search(rev):
            return None
        if SHA_RE.match(rev):
            return self._try("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        for ref in (f"refs/heads/{rev}", f"refs/tags/{rev}"):
            sha = self._try("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
            if sha:
                return sha
        return None

    def ls_tree(self, commit: str, path: str = "", recursive: bool = False) -> list[TreeEntry]:
        """Entries of ``commit`` at ``path`` (a folder's children, or the file itself)."""
        args = ["ls-tree", "-l", "-z"]
        if recursive:
            args += ["-r", "-t"]
        args.append(commit)
        if path:
            args += ["--", path]
        out = self.git(*args)
        entries = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, name = record.partition(b"\t")
            mode, typ, oid, size = meta.decode().split()
            path = name.decode("utf-8", "surrogateescape")
            entries.append(TreeEntry(mode, typ, oid, int(size) if size.isdigit() else 0, path))
        return entries

    def read_blobs(self, oids: list[str]) -> dict[str, bytes]:
        """Contents of several (small) blobs in one ``cat-file --batch`` call."""
        if not oids:
            return {}
        out = self.git("cat-file", "--batch", input="".join(f"{o}\n" for o in oids).encode())
        result, pos = {}, 0
        for oid in oids:
            nl = out.index(b"\n", pos)
            header = out[pos:nl].split()
            size = int(header[2])
            result[oid] = out[nl + 1:nl + 1 + size]
            pos = nl + 1 + size + 1
        return result

    def write_blob_files(self, files: list[Path]) -> list[str]:
        """Store files as blobs (``hash-object -w``), returning their shas in order."""
        if not files:
            return []
        out = self.git("hash-object", "-w", "--no-filters", "--stdin-paths",
                       input="".join(f"{f}\n" for f in files).encode())
        return out.decode().split()

    def write_blob(self, data: bytes) -> str:
        """Store bytes as a blob."""
        return self.git("hash-object", "-w", "--no-filters", "--stdin", input=data).decode().strip()

    def log(self, commit: str, path: str | None = None, max_count: int | None = None) -> list[CommitRecord]:
        """Commits reachable from ``commit`` (newest first), optionally only those touching ``path``."""
        args = ["log", "-z", "--format=%H%x1f%an%x1f%at%x1f%s%x1f%b"]
        if max_count:
            args.append(f"--max-count={max_count}")
        args.append(commit)
        if path:
            args += ["--", path]
        records = []
        for item in self.git(*args).decode("utf-8", "replace").split("\0"):
            if item.strip():
                oid, author, date, title, body = item.lstrip("\n").split("\x1f", 4)
                records.append(CommitRecord(oid, author, iso_utc(int(date)), title, body.strip()))
        return records

    def refs(self) -> dict[str, list[tuple[str, str]]]:
        """``{"branches": [(name, commit)], "tags": [(name, commit)]}``, annotated tags peeled."""
        out = self.git("for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)",
                       "refs/heads", "refs/tags").decode()
        result: dict[str, list[tuple[str, str]]] = {"branches": [], "tags": []}
        for line in out.splitlines():
            ref, obj, peeled = line.split("\0")
            if ref.startswith("refs/heads/"):
                result["branches"].append((ref[len("refs/heads/"):], obj))
            elif ref.startswith("refs/tags/"):
                result["tags"].append((ref[len("refs/tags/"):], peeled or obj))
        return result

    def ref_value(self, ref: str) -> str | None:
        """The object a full ref name (``refs/...``) points to, or ``None``."""
        if not ref.startswith("refs/") or BAD_REV_RE.search(ref[len("refs/"):]):
            return None
        return self._try("rev-parse", "--verify", "--quiet", ref)

    def update_ref(self, ref: str, new: str, old: str) -> bool:
        """Compare-and-swap a ref (``old`` all zeros: must not exist; ``new`` empty: delete)."""
        if self._batching:
            raise RuntimeError("update_ref inside batch_objects: the objects are not durable yet")
        args = ["update-ref", "-m", "hub serve", ref, new, old] if new else ["update-ref", "-d", ref, old]
        return self._try(*args) is not None

    def check_ref_name(self, name: str) -> bool:
        """Whether ``name`` is a valid branch/tag name for git."""
        return bool(name) and not name.startswith("-") and not BAD_REV_RE.search(name) and self._try("check-ref-format", "--branch", name) == name


def identity(user: str) -> dict[str, str]:
    """Author/committer environment for a commit made on behalf of ``user``."""
    email = f"{user}@users.noreply.hub-serve.local"
    return {"GIT_AUTHOR_NAME": user, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": user, "GIT_COMMITTER_EMAIL": email}
