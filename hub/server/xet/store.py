"""The CAS behind the Xet protocol: xorbs on disk, an index of their chunks, and file records.

Layout under ``DATA/xet``: ``xorbs/ab/<hash>`` holds each xorb exactly as uploaded (what a
download's byte ranges read), and ``index.sqlite`` holds every chunk's place in its xorb, which
repos each xorb was uploaded through (its *owners*), and each uploaded file's reconstruction with
its sha256.

A file uploaded through Xet is also written to the LFS store under its sha256 and granted to the
repo, so git, ``hub pull``'s sha256 checks and plain HTTP downloads see a normal LFS object and
the commit endpoint needs no Xet knowledge. (That mirror costs a second copy of new bytes; the
xorbs are what dedup saves on the wire and in the CAS.)

Who may use what: a shard may reference a xorb only if the uploader may read one of its owner
repos and proves, with the term's verification hash, that it knows the chunk hashes; the dedup
query answers only from xorbs the caller may read. So a private repo's content can neither be
pulled into another repo nor probed for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from .formats import Chunk, FileInfo, FormatError, decompress, read_chunks
from .hashing import file_hash, hash_to_hex, merkle_root, verification_hash

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS chunk (hash TEXT NOT NULL, xorb TEXT NOT NULL, idx INTEGER NOT NULL,
    PRIMARY KEY (hash, xorb, idx));
CREATE TABLE IF NOT EXISTS xorb (hash TEXT PRIMARY KEY, chunks TEXT NOT NULL, bytes INTEGER NOT NULL,
    unpacked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS owner (xorb TEXT NOT NULL, repo TEXT NOT NULL, PRIMARY KEY (xorb, repo));
CREATE TABLE IF NOT EXISTS file (id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
    terms TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS file_sha ON file (sha256);
"""


class Rejected(ValueError):
    """An upload that is well-formed but not acceptable (unknown xorb, wrong hash, no access)."""


class XetStore:
    def __init__(self, data_dir: Path):
        self.root = Path(data_dir) / "xet"
        self.xorbs = self.root / "xorbs"
        self.tmp = self.root / "tmp"
        self.xorbs.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.root / "index.sqlite", check_same_thread=False, isolation_level=None,
                                   timeout=30.0)  # other worker processes may hold the write lock
        self._db.executescript("PRAGMA journal_mode=WAL;" + SCHEMA)
        self._lock = threading.Lock()

    # -- xorbs -------------------------------------------------------------------------------
    def xorb_path(self, xorb_hex: str) -> Path:
        return self.xorbs / xorb_hex[:2] / xorb_hex

    def chunks_of(self, xorb_hex: str) -> list[Chunk] | None:
        row = self._db.execute("SELECT chunks FROM xorb WHERE hash = ?", (xorb_hex,)).fetchone()
        if row is None:
            return None
        return [Chunk(bytes.fromhex(h), s, e, n) for h, s, e, n in json.loads(row[0])]

    def put_xorb(self, xorb_hex: str, blob: bytes, repo_id: str) -> bool:
        """Verify and store one xorb; ``False`` when it was already stored. Records ``repo_id`` as an owner."""
        chunks = read_chunks(blob)
        root = hash_to_hex(merkle_root([(c.hash, c.size) for c in chunks]))
        if root != xorb_hex:
            raise FormatError(f"xorb content hashes to {root}, not {xorb_hex} (the path's hash)")
        inserted = False
        if self.chunks_of(xorb_hex) is None:
            final = self.xorb_path(xorb_hex)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.tmp / f"{xorb_hex}.{uuid.uuid4().hex}"
            with open(tmp, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
            listing = json.dumps([[c.hash.hex(), c.start, c.end, c.size] for c in chunks])
            with self._lock:
                self._db.execute("BEGIN")
                cur = self._db.execute("INSERT OR IGNORE INTO xorb VALUES (?, ?, ?, ?)",
                                       (xorb_hex, listing, len(blob), sum(c.size for c in chunks)))
                inserted = cur.rowcount == 1
                self._db.executemany("INSERT OR IGNORE INTO chunk VALUES (?, ?, ?)",
                                     [(c.hash.hex(), xorb_hex, i) for i, c in enumerate(chunks)])
                self._db.execute("COMMIT")
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO owner VALUES (?, ?)", (xorb_hex, repo_id))
        if inserted:
            logger.info("stored xorb %s (%d chunks, %d bytes)", xorb_hex, len(chunks), len(blob))
        return inserted

    def owners(self, xorb_hex: str) -> list[str]:
        return [r for (r,) in self._db.execute("SELECT repo FROM owner WHERE xorb = ?", (xorb_hex,))]

    def rename_owner(self, src: str, dst: str) -> None:
        """A moved repo keeps the xorbs it uploaded."""
        with self._lock:
            self._db.execute("UPDATE OR IGNORE owner SET repo = ? WHERE repo = ?", (dst, src))

    def read_range(self, xorb_hex: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of a stored xorb."""
        with open(self.xorb_path(xorb_hex), "rb") as fh:
            fh.seek(start)
            return fh.read(end - start)

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

    def iter_file(self, terms: list[list]) -> Iterator[bytes]:
        """The bytes of a file from its terms ``[[xorb, first chunk, end chunk], ...]``."""
        for xorb, first, last in terms:
            chunks = self.chunks_of(xorb)
            with open(self.xorb_path(xorb), "rb") as fh:
                for c in chunks[first:last]:
                    fh.seek(c.start)
                    raw = fh.read(c.end - c.start)
                    yield decompress(raw[4], raw[8:], c.size)

    def materialise(self, terms: list[list], sha256: str, size: int, dest_for: Callable[[str], Path],
                    tmp_dir: Path) -> None:
        """Write the file to ``dest_for(sha256)`` (the LFS store) unless it is there; check sha256 first."""
        final = dest_for(sha256)
        if final.exists():
            return
        tmp = tmp_dir / f"{sha256}.{uuid.uuid4().hex}"
        digest, written = hashlib.sha256(), 0
        try:
            with open(tmp, "wb") as fh:
                for part in self.iter_file(terms):
                    digest.update(part)
                    fh.write(part)
                    written += len(part)
                fh.flush()
                os.fsync(fh.fileno())
            if digest.hexdigest() != sha256 or written != size:
                raise Rejected(f"file content hashes to sha256 {digest.hexdigest()}, the shard says {sha256}")
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

    def record_file(self, fid: str, sha256: str, size: int, terms: list[list]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO file VALUES (?, ?, ?, ?)", (fid, sha256, size, json.dumps(terms)))

    def file(self, fid: str) -> tuple[str, int, list[list]] | None:
        row = self._db.execute("SELECT sha256, size, terms FROM file WHERE id = ?", (fid,)).fetchone()
        return None if row is None else (row[0], row[1], json.loads(row[2]))

    def file_id_for_sha(self, sha256: str) -> str | None:
        row = self._db.execute("SELECT id FROM file WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        self._db.close()
