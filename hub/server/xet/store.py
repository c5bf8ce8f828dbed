"""The CAS behind the Xet protocol: xorbs on disk, an index of their chunks, and file records.

Layout under ``DATA/xet``: ``xorbs/ab/<hash>`` holds each xorb exactly as uploaded (what a
download's byte ranges read; in the bucket under the same key with ``--storage``), and
``index.sqlite`` (always local) holds every chunk's place in its xorb, which repos each xorb was
uploaded through (its *owners*), and each uploaded file's reconstruction with its sha256.

A file uploaded through Xet is stored once, as xorbs. Its sha256 is checked against its chunks when
its shard arrives (so a shard cannot claim someone else's sha256) and granted to the repo; LFS
readers (plain HTTP, ``git lfs``, ``hub pull``) get it reassembled by :meth:`XetStore.iter_file`.
Data folders from before this keep their LFS mirror copies, which are served as they are.

Who may use what: a shard may reference a xorb only if the uploader may read one of its owner
repos and proves, with the term's verification hash, that it knows the chunk hashes; the dedup
query answers only from xorbs the caller may read. So a private repo's content can neither be
pulled into another repo nor probed for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path

from ..objects import iter_range, open_objects
from .formats import Chunk, FileInfo, FormatError, decompress, read_chunks
from .hashing import file_hash, hash_to_hex, merkle_root, verification_hash

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS chunk (hash TEXT NOT NULL, xorb TEXT NOT NULL, idx INTEGER NOT NULL,
    PRIMARY KEY (hash, xorb, idx));
CREATE TABLE IF NOT EXISTS xorb (hash TEXT PRIMARY KEY, chunks TEXT NOT NULL, bytes INTEGER NOT NULL,
    unpacked INTEGER NOT NULL, created REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS owner (xorb TEXT NOT NULL, repo TEXT NOT NULL, PRIMARY KEY (xorb, repo));
CREATE TABLE IF NOT EXISTS file (id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    terms TEXT NOT NULL, created REAL NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS file_sha ON file (sha256);
"""


RECENT_BYTES = 256 << 20  # decompressed xorbs kept until their shard arrives (then dropped)


class Rejected(ValueError):
    """An upload that is well-formed but not acceptable (unknown xorb, wrong hash, no access)."""


class XetStore:
    def __init__(self, data_dir: Path, *, storage: str | None = None):
        self.root = Path(data_dir) / "xet"
        self.objects = open_objects(storage, data_dir, "xet/xorbs")
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.root / "index.sqlite", check_same_thread=False, isolation_level=None,
                                   timeout=30.0)  # other worker processes may hold the write lock
        self._db.executescript("PRAGMA journal_mode=WAL;" + SCHEMA)
        for table in ("xorb", "file"):  # an index made before gc existed: rows without a time count as old
            if "created" not in [row[1] for row in self._db.execute(f"PRAGMA table_info({table})")]:
                with contextlib.suppress(sqlite3.OperationalError):  # another worker added it first
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN created REAL NOT NULL DEFAULT 0")
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, list[bytes]] = OrderedDict()  # xorb -> its chunks, decompressed
        self._recent_bytes = 0

    # -- xorbs -------------------------------------------------------------------------------
    @staticmethod
    def xorb_key(xorb_hex: str) -> str:
        return f"{xorb_hex[:2]}/{xorb_hex}"

    def chunks_of(self, xorb_hex: str) -> list[Chunk] | None:
        row = self._db.execute("SELECT chunks FROM xorb WHERE hash = ?", (xorb_hex,)).fetchone()
        if row is None:
            return None
        return [Chunk(bytes.fromhex(h), s, e, n) for h, s, e, n in json.loads(row[0])]

    def put_xorb(self, xorb_hex: str, blob: bytes, repo_id: str) -> bool:
        """Verify and store one xorb; ``False`` when it was already stored. Records ``repo_id`` as an owner."""
        data: list[bytes] = []
        chunks = read_chunks(blob, data)
        root = hash_to_hex(merkle_root([(c.hash, c.size) for c in chunks]))
        if root != xorb_hex:
            raise FormatError(f"xorb content hashes to {root}, not {xorb_hex} (the path's hash)")
        inserted = False
        if self.chunks_of(xorb_hex) is None:  # stored (complete) before the index may list it
            tmp = self.tmp / f"{xorb_hex}.{uuid.uuid4().hex}"
            try:
                with open(tmp, "wb") as fh:
                    fh.write(blob)
                    fh.flush()
                    os.fsync(fh.fileno())
                self.objects.put_file(self.xorb_key(xorb_hex), tmp)
            finally:
                tmp.unlink(missing_ok=True)
            listing = json.dumps([[c.hash.hex(), c.start, c.end, c.size] for c in chunks])
            with self._lock:
                self._db.execute("BEGIN")
                cur = self._db.execute("INSERT OR IGNORE INTO xorb (hash, chunks, bytes, unpacked, created) "
                                       "VALUES (?, ?, ?, ?, ?)",
                                       (xorb_hex, listing, len(blob), sum(c.size for c in chunks), time.time()))
                inserted = cur.rowcount == 1
                self._db.executemany("INSERT OR IGNORE INTO chunk VALUES (?, ?, ?)",
                                     [(c.hash.hex(), xorb_hex, i) for i, c in enumerate(chunks)])
                self._db.execute("COMMIT")
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO owner VALUES (?, ?)", (xorb_hex, repo_id))
        if inserted:
            logger.info("stored xorb %s (%d chunks, %d bytes)", xorb_hex, len(chunks), len(blob))
            self._remember(xorb_hex, data)
        return inserted

    def _remember(self, xorb_hex: str, data: list[bytes]) -> None:
        """Keep a new xorb's decompressed chunks for its shard's sha256 check (which would otherwise
        read and decompress every byte a second time), within :data:`RECENT_BYTES`, oldest out first."""
        size = sum(map(len, data))
        with self._lock:
            if size > RECENT_BYTES:
                return
            self._recent[xorb_hex] = data
            self._recent_bytes += size
            while self._recent_bytes > RECENT_BYTES:
                _, old = self._recent.popitem(last=False)
                self._recent_bytes -= sum(map(len, old))

    def forget(self, xorbs: list[str]) -> None:
        """Drop kept chunks once the shard that uses them has been checked."""
        with self._lock:
            for xorb in xorbs:
                old = self._recent.pop(xorb, None)
                if old is not None:
                    self._recent_bytes -= sum(map(len, old))

    def owners(self, xorb_hex: str) -> list[str]:
        return [r for (r,) in self._db.execute("SELECT repo FROM owner WHERE xorb = ?", (xorb_hex,))]

    def rename_owner(self, src: str, dst: str) -> None:
        """A moved repo keeps the xorbs it uploaded."""
        with self._lock:
            self._db.execute("UPDATE OR IGNORE owner SET repo = ? WHERE repo = ?", (dst, src))

    def read_range(self, xorb_hex: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of a stored xorb, in blocks (the storage is opened before the first)."""
        return iter_range(self.objects, self.xorb_key(xorb_hex), start, end)

    def bytes_stored(self) -> int:
        return int(self._db.execute("SELECT COALESCE(SUM(bytes), 0) FROM xorb").fetchone()[0])

    # -- dedup -------------------------------------------------------------------------------
    def xorbs_with_chunk(self, chunk_hex_raw: str) -> list[str]:
        """Xorbs holding the chunk whose raw hash is ``chunk_hex_raw`` (bytes.hex())."""
        return [x for (x,) in self._db.execute("SELECT DISTINCT xorb FROM chunk WHERE hash = ?", (chunk_hex_raw,))]

    # -- files -------------------------------------------------------------------------------
    def check_file(self, info: FileInfo, may_use: Callable[[str], bool]) -> tuple[str, str, int]:
        """Validate one file reconstruction of a shard: ``(file id, sha256, size)`` or :class:`Rejected`."""
        fid = hash_to_hex(info.hash)
        if info.sha256 is None:
            raise Rejected(f"file {fid} has no sha256 metadata; a git repo needs it for the LFS pointer")
        if not info.terms:
            raise Rejected(f"file {fid} has no terms")
        leaves, size = [], 0
        for n, term in enumerate(info.terms):
            xorb = hash_to_hex(term.xorb)
            chunks = self.chunks_of(xorb)
            if chunks is None or not may_use(xorb):
                raise Rejected(f"file {fid} term {n} references xorb {xorb}, which was never uploaded or "
                               "which you cannot read")
            if term.end > len(chunks):
                raise Rejected(f"file {fid} term {n} asks for chunks [{term.start}, {term.end}) of a "
                               f"{len(chunks)}-chunk xorb")
            used = chunks[term.start:term.end]
            if not term.verification or verification_hash([c.hash for c in used]) != term.verification:
                raise Rejected(f"file {fid} term {n}: the verification hash does not match xorb {xorb}'s chunks")
            unpacked = sum(c.size for c in used)
            if unpacked != term.size:
                raise Rejected(f"file {fid} term {n} says {term.size} bytes, its chunks hold {unpacked}")
            leaves += [(c.hash, c.size) for c in used]
            size += unpacked
        actual = hash_to_hex(file_hash(leaves))
        if actual != fid:
            raise Rejected(f"file {fid}: its chunks hash to {actual}")
        return fid, hash_to_hex(info.sha256), size  # stored like a Xet hash: the string form is the real sha256

    def iter_file(self, terms: list[list], lo: int = 0, hi: int | None = None) -> Iterator[bytes]:
        """Bytes ``[lo, hi)`` of a file from its terms ``[[xorb, first chunk, end chunk], ...]``.

        Chunks wholly outside the range are never read; each term's needed span of its xorb is one
        ranged read (one GET on S3), decompressed chunk by chunk as it streams in.
        """
        pos = 0
        for xorb, first, last in terms:
            chunks = self.chunks_of(xorb)[first:last]
            used = []
            for i, c in enumerate(chunks):
                if (hi is None or pos < hi) and pos + c.size > lo:
                    used.append((first + i, c, pos))
                pos += c.size
            if not used:
                continue
            with self._lock:
                kept = self._recent.get(xorb)
            if kept is not None:  # just uploaded: its chunks are still in memory, decompressed
                for i, _, at in used:
                    yield _cut(kept[i], at, lo, hi)
                continue
            fh = self.objects.open_range(self.xorb_key(xorb), used[0][1].start, used[-1][1].end)
            try:
                for _, c, at in used:
                    raw = _read_exactly(fh, c.end - c.start, xorb)
                    yield _cut(decompress(raw[4], raw[8:], c.size), at, lo, hi)
            finally:
                fh.close()

    def verify_file(self, terms: list[list], sha256: str, size: int) -> None:
        """Reassemble the file and check the sha256 its shard claims (a claim grants that sha256)."""
        digest, seen = hashlib.sha256(), 0
        for part in self.iter_file(terms):
            digest.update(part)
            seen += len(part)
        if digest.hexdigest() != sha256 or seen != size:
            raise Rejected(f"file content hashes to sha256 {digest.hexdigest()}, the shard says {sha256}")

    def record_file(self, fid: str, sha256: str, size: int, terms: list[list]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO file (id, sha256, size, terms, created) VALUES (?, ?, ?, ?, ?)",
                             (fid, sha256, size, json.dumps(terms), time.time()))

    def file(self, fid: str) -> tuple[str, int, list[list]] | None:
        row = self._db.execute("SELECT sha256, size, terms FROM file WHERE id = ?", (fid,)).fetchone()
        return None if row is None else (row[0], row[1], json.loads(row[2]))

    def file_id_for_sha(self, sha256: str) -> str | None:
        row = self._db.execute("SELECT id FROM file WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else row[0]

    def file_for_sha(self, sha256: str) -> tuple[int, list[list]] | None:
        """``(size, terms)`` of a file uploaded through Xet with this sha256, else ``None``."""
        row = self._db.execute("SELECT size, terms FROM file WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    # -- garbage collection (gc.py) -------------------------------------------------------------
    def file_rows(self) -> list[tuple[str, str, int, float]]:
        """``(id, sha256, size, created)`` of every file record."""
        return list(self._db.execute("SELECT id, sha256, size, created FROM file"))

    def xorbs_used(self, excluding: list[str]) -> set[str]:
        """Xorbs some file record other than ``excluding`` reconstructs from."""
        skip, used = set(excluding), set()
        for fid, terms in self._db.execute("SELECT id, terms FROM file"):
            if fid not in skip:
                used.update(xorb for xorb, _, _ in json.loads(terms))
        return used

    def drop(self, files: list[str], xorbs: list[str]) -> None:
        """Forget file records and xorbs (index rows first, so no reader finds a row without bytes), then
        delete the xorbs' bytes."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM file WHERE id = ?", [(f,) for f in files])
            for table, column in (("xorb", "hash"), ("chunk", "xorb"), ("owner", "xorb")):
                self._db.executemany(f"DELETE FROM {table} WHERE {column} = ?", [(x,) for x in xorbs])
            self._db.execute("COMMIT")
        for xorb in xorbs:
            self.objects.delete(self.xorb_key(xorb))

    def close(self) -> None:
        self._db.close()


def _cut(data: bytes, at: int, lo: int, hi: int | None) -> bytes:
    """The part of a chunk that starts at file offset ``at`` inside ``[lo, hi)``."""
    if at < lo or (hi is not None and at + len(data) > hi):
        return data[max(lo - at, 0):(hi - at) if hi is not None else None]
    return data


def _read_exactly(fh, n: int, xorb: str) -> bytes:
    """``n`` bytes from a stream that may return fewer per read (an S3 body does)."""
    parts, left = [], n
    while left > 0:
        part = fh.read(left)
        if not part:
            raise OSError(f"xorb {xorb} ended {left} bytes early")
        parts.append(part)
        left -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)
