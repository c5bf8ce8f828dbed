"""Turn the client's NDJSON commit payload into one git commit.

The payload (see ``huggingface_hub._commit_api._prepare_commit_payload``) is a ``header`` line
(``summary``, ``description``, optional ``parentCommit``) followed by one line per operation:
``file`` (base64 content), ``lfsFile`` (sha256 oid of an already uploaded object; ``size`` may be
missing for copies), ``deletedFile`` and ``deletedFolder``. The body is read line by line and
regular files are decoded to temp files as they arrive, so a commit never sits whole in memory.

Applying it happens in a worker thread under the repo's lock: read the branch head, refuse a stale
``parentCommit`` (412), build the new tree on a temporary index, ``commit-tree``, make all those
objects durable at once (``GitRepo.batch_objects``), then move the branch with ``update-ref``
compare-and-swap. Nothing is visible until that last step.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .cardmeta import CardLimitError, check_card_for_commit
from .errors import ServerError, bad_request, entry_not_found, revision_not_found
from .lfs import LfsStore
from .limits import Limits, expect, loads
from .storage import GitRepo, identity, lfs_pointer, parse_lfs_pointer

MAX_LINE_BYTES = 64 << 20
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@dataclass
class PendingCommit:
    """A parsed commit request whose regular files wait in ``workdir``."""

    workdir: Path
    summary: str = ""
    description: str = ""
    parent: str | None = None
    # ("add", path, file) | ("lfs", path, oid, size) | ("del", path) | ("deldir", path), in payload order
    ops: list[tuple] = field(default_factory=list)

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def check_path(path: object) -> str:
    """Refuse paths git or the filesystem would choke on, or that try to escape the repo."""
    if not isinstance(path, str) or not path or path.startswith("/") or path.endswith("/"):
        raise bad_request(f"Invalid path in repo: {path!r}")
    if CONTROL_RE.search(path):  # NUL, ESC, DEL, lone surrogates: git and terminals choke on them
        raise bad_request(f"Invalid path in repo: {path!r} (control characters)")
    parts = path.split("/")
    if any(p in ("", ".", "..", ".git") for p in parts) or any(c in path for c in "\0\n\r\\"):
        raise bad_request(f"Invalid path in repo: {path!r}")
    return path


async def _lines(chunks: AsyncIterator[bytes], max_total: int) -> AsyncIterator[bytes]:
    """Split a byte stream into non-empty lines without quadratic copying of long lines.

    The whole body is counted against ``max_total`` as it streams (413 past it), and so is each
    line against :data:`MAX_LINE_BYTES`.
    """
    buf = bytearray()
    total = 0
    max_line = min(MAX_LINE_BYTES, max_total)
    async for chunk in chunks:
        total += len(chunk)
        if total > max_total:
            raise commit_too_large(max_total)
        searched = len(buf)
        buf += chunk
        start = 0
        while (nl := buf.find(b"\n", max(start, searched))) >= 0:
            line = bytes(buf[start:nl])
            start = nl + 1
            if line.strip():
                yield line
        if start:
            del buf[:start]
        if len(buf) > max_line:
            raise ServerError(413, f"Commit payload line larger than {max_line} bytes; upload big files via LFS")
    if bytes(buf).strip():
        yield bytes(buf)


def write_file(path: Path, data: bytes) -> None:
    """The one place a commit's regular files hit the disk (tests inject ``ENOSPC`` here)."""
    path.write_bytes(data)


def commit_too_large(limit: int) -> ServerError:
    """413 for a commit body over the server's limit, saying what to do."""
    return ServerError(413, f"Commit payload is larger than this server's limit of {limit} bytes "
                            "(hub serve --max-commit-bytes); split it into several commits, "
                            "or upload big files via LFS")


MALFORMED = 'Malformed commit payload: expected NDJSON lines {"key": ..., "value": {...}}'


def _line_item(line: bytes, limits: Limits) -> tuple[str, dict]:
    """``(key, value)`` of one NDJSON line, its types checked (400 for anything else)."""
    item = loads(line, limits, "Commit payload line")
    if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not isinstance(item.get("value"), dict):
        raise bad_request(MALFORMED)
    return item["key"], item["value"]


async def parse_payload(chunks: AsyncIterator[bytes], tmp_root: Path, limits: Limits | None = None) -> PendingCommit:
    """Read the NDJSON body into a :class:`PendingCommit` (caller must ``cleanup()`` it)."""
    limits = limits or Limits()
    tmp_root.mkdir(parents=True, exist_ok=True)
    pending = PendingCommit(Path(tempfile.mkdtemp(dir=tmp_root, prefix="commit-")))
    try:
        seen_header = False
        async for line in _lines(chunks, limits.max_commit_bytes):
            key, value = _line_item(line, limits)
            if key == "header":
                seen_header = True
                pending.summary = expect(value.get("summary"), str, "header.summary") or ""
                pending.description = expect(value.get("description"), str, "header.description") or ""
                pending.parent = expect(value.get("parentCommit"), str, "header.parentCommit")
            elif key == "file":
                path = check_path(value.get("path"))
                if expect(value.get("encoding", "base64"), str, f"encoding of {path}", optional=False) != "base64":
                    raise bad_request(f"Unsupported encoding for {path}: {value.get('encoding')}")
                try:
                    content = base64.b64decode(expect(value.get("content"), str, f"content of {path}") or "",
                                               validate=True)
                except (binascii.Error, ValueError):
                    raise bad_request(f"Invalid base64 content for {path}") from None
                if path == "README.md":
                    try:
                        check_card_for_commit(content)
                    except CardLimitError as exc:
                        raise bad_request(f"{exc}; README.md refused") from None
                blob = pending.workdir / f"f{len(pending.ops)}"
                write_file(blob, content)
                pending.ops.append(("add", path, blob))
            elif key == "lfsFile":
                if expect(value.get("algo", "sha256"), str, "lfsFile.algo", optional=False) != "sha256":
                    raise bad_request("Only sha256 LFS objects are supported")
                size = expect(value.get("size"), int, f"size of {value.get('path')!r}")
                if size is not None and size < 0:
                    raise bad_request(f"Invalid size for {value.get('path')!r}")
                pending.ops.append(("lfs", check_path(value.get("path")), LfsStore.check_oid(value.get("oid")), size))
            elif key in ("deletedFile", "deletedFolder"):
                path = value.get("path")
                path = check_path(path.rstrip("/") if isinstance(path, str) else path)
                pending.ops.append(("del" if key == "deletedFile" else "deldir", path))
            else:
                raise bad_request(f"Unsupported commit operation {key!r}")
        if not seen_header:
            raise bad_request("Commit payload has no header line")
        return pending
    except BaseException:
        pending.cleanup()
        raise


def attr_matches(pattern: str, path: str) -> bool:
    if "/" not in pattern.strip("/"):
        return fnmatch.fnmatchcase(PurePosixPath(path).name, pattern)
    return fnmatch.fnmatchcase(path, pattern.lstrip("/").replace("**/", "*").replace("/**", "/*"))


def lfs_patterns(gitattributes: str) -> list[str]:
    return [line.split()[0] for line in gitattributes.splitlines()
            if line.strip() and not line.startswith("#") and "filter=lfs" in line.split()[1:]]


def apply_commit(repo: GitRepo, lfs: LfsStore, repo_id: str, branch: str, pending: PendingCommit,
                 user: str) -> str:
    """Build and publish the commit on ``branch``; returns the new commit sha. Call under the repo lock."""
    head = repo.branch_head(branch)
    if head is None:
        if repo.resolve(branch):
            raise bad_request(f"Cannot commit to '{branch}': commits go to a branch, not a tag or a commit")
        raise revision_not_found(repo_id, branch)
    parent = pending.parent
    if parent is not None and (not isinstance(parent, str) or len(parent) < 7 or not head.startswith(parent.lower())):
        raise ServerError(412, "A commit has happened since. Please refresh and try again.")

    entries = {e.path: (e.mode, e.oid) for e in repo.ls_tree(head, recursive=True) if e.type != "tree"}
    granted = lfs.grants(repo.path)
    # Every blob of the commit (regular files, then LFS pointers written next to them) goes through
    # one `hash-object --stdin-paths`; inside batch_objects git does not fsync each one, and the
    # block's end makes them, the trees and the commit durable at once, before the ref moves.
    blob_files: dict[int, Path] = {}
    for op in pending.ops:
        if op[0] == "add":
            _refuse_borrowed_pointer(op[2], op[1], granted)
            blob_files[id(op)] = op[2]
        elif op[0] == "lfs":
            path, oid, size = op[1:]
            stored = lfs.size(oid) if oid in granted else None
            if stored is None:
                raise bad_request(f"LFS object {oid} for '{path}' was not uploaded (or its upload failed)")
            if size is not None and size != stored:
                raise bad_request(f"LFS object {oid} for '{path}' has size {stored}, commit says {size}")
            pointer = pending.workdir / f"p{len(blob_files)}"
            write_file(pointer, lfs_pointer(oid, stored))
            blob_files[id(op)] = pointer
    lfs_paths: list[str] = []
    folders = Counter(folder for p in entries for folder in _folders(p))  # files under each folder

    def drop(path: str) -> bool:
        if entries.pop(path, None) is None:
            return False
        folders.subtract(_folders(path))
        return True

    def put(path: str, sha: str) -> None:
        drop(path)
        if any(folder in entries for folder in _folders(path)):
            raise bad_request(f"Cannot add '{path}': a parent folder is a file in the repo")
        if folders[path] > 0:
            raise bad_request(f"Cannot add '{path}': a folder with this name exists in the repo")
        entries[path] = ("100644", sha)
        folders.update(_folders(path))

    with repo.batch_objects():
        shas = dict(zip(blob_files, repo.write_blob_files(list(blob_files.values()))))
        for op in pending.ops:
            kind, path = op[0], op[1]
            if kind in ("add", "lfs"):
                put(path, shas[id(op)])
                if kind == "lfs":
                    lfs_paths.append(path)
            elif kind == "del":
                if not drop(path):
                    raise entry_not_found(f"{path} (A file with this name doesn't exist)", head)
            elif kind == "deldir":
                if folders[path] <= 0:
                    raise entry_not_found(f"{path} (A folder with this name doesn't exist)", head)
                for p in [p for p in entries if p.startswith(path + "/")]:
                    drop(p)

        _track_lfs_paths(repo, entries, lfs_paths)
        tree = _write_tree(repo, entries, pending.workdir)
        message = pending.summary.strip() or "Update files"
        if pending.description.strip():
            message += f"\n\n{pending.description.strip()}"
        commit = repo.git("commit-tree", tree, "-p", head, "-F", "-", input=message.encode(),
                          env=identity(user)).decode().strip()
        # The temp files are in git now. Deleted before the sync, they are never written back (and
        # not deleting written blocks afterwards: 3 s for 1,000 files on a disk mounted `discard`).
        pending.cleanup()
    if not repo.update_ref(f"refs/heads/{branch}", commit, head):
        raise ServerError(412, "A commit has happened since. Please refresh and try again.")
    return commit


def _folders(path: str) -> list[str]:
    """The folders a repo path sits in, outermost first (``a/b/c`` -> ``a``, ``a/b``)."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _track_lfs_paths(repo: GitRepo, entries: dict[str, tuple[str, str]], lfs_paths: list[str]) -> None:
    """Add LFS paths that ``.gitattributes`` does not cover, so git-lfs clients smudge them too."""
    current = ""
    if ".gitattributes" in entries:
        sha = entries[".gitattributes"][1]
        current = repo.read_blobs([sha])[sha].decode("utf-8", "replace")
    patterns = lfs_patterns(current)
    missing = [p for p in lfs_paths if not any(attr_matches(pat, p) for pat in patterns)]
    if missing:
        extra = "".join(f"{p.replace(' ', '[[:space:]]')} filter=lfs diff=lfs merge=lfs -text\n" for p in missing)
        text = current + ("" if not current or current.endswith("\n") else "\n") + extra
        entries[".gitattributes"] = ("100644", repo.write_blob(text.encode()))


def _write_tree(repo: GitRepo, entries: dict[str, tuple[str, str]], workdir: Path) -> str:
    index = workdir / "index"
    env = {"GIT_INDEX_FILE": str(index)}
    info = b"".join(f"{mode} {sha}\t{path}".encode() + b"\0" for path, (mode, sha) in sorted(entries.items()))
    repo.git("update-index", "-z", "--index-info", input=info, env=env)
    tree = repo.git("write-tree", env=env).decode().strip()
    os.unlink(index)
    return tree


def _refuse_borrowed_pointer(content: Path, path: str, granted: set[str]) -> None:
    """A regular file that *is* an LFS pointer must name an object uploaded through this repo.

    Otherwise anyone who learnt the sha256 of a file in a private repo could
    commit a hand-written pointer to it and download the bytes.
    """
    if content.stat().st_size > 1024:
        return
    pointer = parse_lfs_pointer(content.read_bytes())
    if pointer and pointer[0] not in granted:
        raise bad_request(f"'{path}' is an LFS pointer to an object that was not uploaded to this repo")


def lfs_info_for(repo: GitRepo, entries: list) -> dict[str, tuple[str, int, int]]:
    """``{blob oid: (sha256, size, pointer size)}`` for the entries that are LFS pointers."""
    small = sorted({e.oid for e in entries if e.type == "blob" and e.size <= 1024})
    result = {}
    for oid, data in repo.read_blobs(small).items():
        pointer = parse_lfs_pointer(data)
        if pointer:
            result[oid] = (pointer[0], pointer[1], len(data))
    return result
