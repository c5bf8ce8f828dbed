"""Content-addressed store for large files (git-lfs objects), shared by all repos.

Objects live at ``DATA/lfs/objects/ab/cd/<sha256>`` exactly like git-lfs's own layout (or under
the same keys in an S3 bucket with ``--storage``: :mod:`.objects`). An upload is streamed to a temp
file in ``DATA/lfs/tmp`` while it is hashed, checked against the announced sha256 and size, and
only then renamed into place (or uploaded whole): a corrupted or interrupted upload never becomes
an object.

A file uploaded through Xet has no LFS object: its bytes are in the Xet CAS only, and an LFS read
of its sha256 is served by reassembling it from its xorbs (:meth:`LfsStore.open`). Its sha256
counts as stored for :meth:`LfsStore.size`, so the commit endpoint and the batch API need no Xet
knowledge. An LFS upload of bytes the CAS already holds as a file is not stored a second time.

Objects are shared, but a repo may only *use* an object it has been given: each repo keeps the list
of oids uploaded through it (``hub-lfs-oids`` inside its git folder). Without that, anyone who
learnt the sha256 of a file in someone's private repo could commit it into their own repo and
download it; with it, they must upload the bytes (which proves they have them) first.

The upload URL handed out by the batch endpoint carries an HMAC signature instead of a token,
because the huggingface_hub client sends its PUT without the ``Authorization`` header (as it would
to S3). The signing key is derived from the data folder's key
(``datadir.py``), so every worker process accepts the URLs, which expire.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from .datadir import derived_key
from .errors import ServerError, bad_request
from .objects import iter_range, open_objects

if TYPE_CHECKING:
    from .xet.store import XetStore

logger = logging.getLogger(__name__)

OID_RE = re.compile(r"^[0-9a-f]{64}$")
UPLOAD_URL_TTL_S = 3600
FLUSH_BYTES = 1 << 20


class LfsStore:
    """The LFS object store and its signed upload URLs."""

    def __init__(self, data_dir: Path, *, storage: str | None = None, xet: XetStore | None = None):
        self.objects = open_objects(storage, data_dir, "lfs/objects")
        self.xet = xet  # files uploaded through Xet are LFS objects too, read from their xorbs
        self.tmp = Path(data_dir) / "lfs" / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._key = derived_key(data_dir, "lfs-upload")  # the same on every worker, across restarts

    @staticmethod
    def check_oid(oid: object) -> str:
        if not isinstance(oid, str) or not OID_RE.match(oid):
            raise bad_request(f"Invalid LFS oid {oid!r}: expected a sha256 in lowercase hex")
        return oid

    def key(self, oid: str) -> str:
        oid = self.check_oid(oid)
        return f"{oid[:2]}/{oid[2:4]}/{oid}"

    def _xet_size(self, oid: str) -> int | None:
        found = self.xet.file_for_sha(oid) if self.xet is not None else None
        return None if found is None else found[0]

    def size(self, oid: str) -> int | None:
        """Size of a stored object (an LFS object, or a file in the Xet CAS), ``None`` when absent."""
        size = self._xet_size(self.check_oid(oid))  # local index first: no bucket round trip
        return size if size is not None else self.objects.size(self.key(oid))

    def local_path(self, oid: str) -> Path | None:
        """The object as a complete local file, when it is one (local storage, not a Xet-only file)."""
        path = self.objects.local_path(self.key(oid))
        return path if path is not None and path.is_file() else None

    def open(self, oid: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of a stored object: from the object, else rebuilt from its xorbs."""
        found = self.xet.file_for_sha(oid) if self.xet is not None else None
        if found is not None:
            return self.xet.iter_file(found[1], start, end)
        return iter_range(self.objects, self.key(oid), start, end)

    @staticmethod
    def _grants(git_dir: Path) -> Path:
        return git_dir / "hub-lfs-oids"

    def grant(self, git_dir: Path, oid: str) -> None:
        """Record that ``oid`` was uploaded through the repo at ``git_dir`` (one O_APPEND line)."""
        if not self.granted(git_dir, oid):
            fd = os.open(self._grants(git_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, f"{self.check_oid(oid)}\n".encode())
            finally:
                os.close(fd)

    def granted(self, git_dir: Path, oid: str) -> bool:
        """Whether the repo at ``git_dir`` may reference ``oid``."""
        return oid in self.grants(git_dir)

    def grants(self, git_dir: Path) -> set[str]:
        """Every oid the repo at ``git_dir`` may reference (read once for a whole commit)."""
        try:
            return set(self._grants(git_dir).read_text().split())
        except FileNotFoundError:
            return set()

    def sign(self, repo_id: str, oid: str, size: int, expires: int | None = None, op: str = "upload") -> str:
        """Query string authorising one upload (or, ``op="download"``, reads) of ``oid``/``size`` in ``repo_id``."""
        expires = expires or int(time.time()) + UPLOAD_URL_TTL_S
        sig = self._mac(repo_id, oid, size, expires, op)
        return f"size={size}&expires={expires}&sig={sig}"

    def _mac(self, repo_id: str, oid: str, size: int, expires: int, op: str) -> str:
        msg = f"{op}\n{repo_id}\n{oid}\n{size}\n{expires}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def check_signature(self, repo_id: str, oid: str, params: dict[str, str], op: str = "upload") -> int:
        """Validate a signed upload (or download) URL; returns the announced size."""
        what = op.capitalize()
        try:
            size, expires, sig = int(params["size"]), int(params["expires"]), params["sig"]
        except (KeyError, ValueError):
            raise ServerError(403, f"{what} URL is not signed") from None
        if expires < time.time():
            raise ServerError(403, f"{what} URL has expired; ask the batch endpoint again")
        if not hmac.compare_digest(sig, self._mac(repo_id, oid, size, expires, op)):
            raise ServerError(403, f"{what} URL signature is invalid")
        return size

    @staticmethod
    def _write(fh: Any, data: bytes) -> None:
        """The one place upload bytes hit the disk (tests inject ``ENOSPC`` here)."""
        fh.write(data)

    async def receive(self, oid: str, size: int, chunks: AsyncIterator[bytes]) -> bool:
        """Stream an upload into the store; returns ``False`` if the object was already there.

        Bytes go to a temp file while hashing (in a worker thread, ~1 MiB at a time, so the event
        loop stays free and memory stays flat). Any failure — a wrong hash, a wrong size, or the
        client vanishing mid-body — deletes the temp file and stores nothing.
        """
        self.check_oid(oid)
        tmp = self.tmp / f"{oid}.{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        received = 0
        fh = open(tmp, "wb")
        try:
            pending: list[bytes] = []
            pending_len = 0

            def flush(parts: list[bytes]) -> None:
                for part in parts:
                    digest.update(part)
                    self._write(fh, part)

            async for chunk in chunks:
                received += len(chunk)
                if received > size:
                    raise bad_request(f"Upload is larger than the announced size {size}")
                pending.append(chunk)
                pending_len += len(chunk)
                if pending_len >= FLUSH_BYTES:
                    await anyio.to_thread.run_sync(flush, pending)
                    pending, pending_len = [], 0
            await anyio.to_thread.run_sync(flush, pending)
            if received != size:
                raise bad_request(f"Upload has {received} bytes, announced {size}")
            if digest.hexdigest() != oid:
                raise bad_request(f"sha256 mismatch: upload hashes to {digest.hexdigest()}, announced {oid}")
            await anyio.to_thread.run_sync(os.fsync, fh.fileno())
            fh.close()
            if self._xet_size(oid) is not None:
                return False  # the Xet CAS holds these bytes already: one copy
            if not await anyio.to_thread.run_sync(self.objects.put_file, self.key(oid), tmp):
                return False
            logger.info("stored LFS object %s (%d bytes)", oid, size)
            return True
        finally:
            fh.close()
            tmp.unlink(missing_ok=True)
