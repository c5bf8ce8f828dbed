"""Reading xorbs and shards as uploaded by a Xet client, and writing the dedup-answer shard.

Formats from the public "Xet Protocol Specification" (docs/xet/xorb.md, shard.md). Every parser
here reads untrusted bytes: each length is checked against what is left before it is used, and
any inconsistency is a :class:`FormatError` (the route answers 400 and stores nothing).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import lz4.block
import lz4.frame
import numpy as np

from .hashing import chunk_hash

MAX_XORB_BYTES = 64 << 20
MAX_CHUNK_BYTES = 128 << 10
CHUNK_HEADER = 8
SHARD_TAG = b"HFRepoMetaData\x00" + bytes([85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205,
                                           209, 74, 169])
SHARD_HEADER_VERSION = 2
SHARD_FOOTER_VERSION = 1
SHARD_FOOTER_BYTES = 200
ENTRY = 48
BOOKEND = b"\xff" * 32 + bytes(16)
FLAG_VERIFICATION = 1 << 31
FLAG_METADATA = 1 << 30


class FormatError(ValueError):
    """Bytes that are not a well-formed xorb or shard."""


@dataclass(frozen=True)
class Chunk:
    hash: bytes
    start: int  # offset of the chunk header in the serialized xorb
    end: int  # offset just past its compressed data
    size: int  # uncompressed length


def _ungroup4(data: bytes) -> bytes:
    """Undo byte grouping: four groups (sizes differ by at most one byte) back to interleaved.

    numpy's strided copy: ~1.4x a bytearray's slice assignment, and most chunks of float weights
    are grouped, so this runs on nearly every byte of a Xet upload (twice: store, then sha256 check).
    """
    n = len(data)
    src, out, pos = np.frombuffer(data, np.uint8), np.empty(n, np.uint8), 0
    for i in range(4):
        size = n // 4 + (1 if i < n % 4 else 0)
        out[i::4] = src[pos:pos + size]
        pos += size
    return out.tobytes()


def decompress(kind: int, payload: bytes, size: int) -> bytes:
    if kind == 0:
        data = payload
    elif kind in (1, 2):
        try:
            data = lz4.frame.decompress(payload) if payload[:4] == b"\x04\x22\x4d\x18" else \
                lz4.block.decompress(payload, uncompressed_size=size)
        except Exception as exc:  # lz4 raises its own error types for corrupt input
            raise FormatError(f"chunk does not decompress ({exc})") from None
        if kind == 2:
            data = _ungroup4(data)
    else:
        raise FormatError(f"unknown chunk compression type {kind}")
    if len(data) != size:
        raise FormatError(f"chunk decompresses to {len(data)} bytes, its header says {size}")
    return data


def read_chunks(blob: bytes, keep: list[bytes] | None = None) -> list[Chunk]:
    """The chunks of a serialized xorb (hash, byte range, length), hashed from their content.

    Clients upload the bare chunk sequence; a stored xorb may also end with a metadata footer whose
    length is its last four bytes. Either way the chunks must tile the bytes exactly, and the
    footer's own chunk hashes are never trusted: every chunk is decompressed and hashed.
    """
    if len(blob) > MAX_XORB_BYTES:
        raise FormatError(f"xorb is {len(blob)} bytes, over the 64 MiB limit")
    chunks: list[Chunk] = []
    pos, problem = 0, ""
    while pos < len(blob):
        problem = _chunk_problem(blob, pos)
        if problem:
            break
        csize = int.from_bytes(blob[pos + 1:pos + 4], "little")
        usize = int.from_bytes(blob[pos + 5:pos + 8], "little")
        stop = pos + CHUNK_HEADER + csize
        data = decompress(blob[pos + 4], blob[pos + CHUNK_HEADER:stop], usize)
        chunks.append(Chunk(chunk_hash(data), pos, stop, usize))
        if keep is not None:  # the caller wants the bytes too (decompressing is the dear part)
            keep.append(data)
        pos = stop
    if pos != len(blob):  # not a bare sequence: a footer must start exactly where the chunks stopped
        footer = int.from_bytes(blob[-4:], "little") if len(blob) >= 4 else -1
        if footer < 0 or len(blob) - 4 - footer != pos:
            raise FormatError(problem or f"xorb has {len(blob) - pos} bytes after its last chunk")
    if not chunks:
        raise FormatError("xorb holds no chunks")
    return chunks


def _chunk_problem(blob: bytes, pos: int) -> str:
    """Why the bytes at ``pos`` are not a chunk ("" when they are one)."""
    if len(blob) - pos < CHUNK_HEADER:
        return f"truncated chunk header at byte {pos}"
    if blob[pos] != 0:
        return f"chunk at byte {pos} has version {blob[pos]}, expected 0"
    csize = int.from_bytes(blob[pos + 1:pos + 4], "little")
    usize = int.from_bytes(blob[pos + 5:pos + 8], "little")
    if usize > MAX_CHUNK_BYTES or csize > MAX_CHUNK_BYTES + 1024 or blob[pos + 4] > 2:
        return f"chunk at byte {pos} has an invalid header (compression {blob[pos + 4]}, {usize} bytes)"
    if pos + CHUNK_HEADER + csize > len(blob):
        return f"chunk at byte {pos} runs past the end of the xorb"
    return ""


@dataclass
class Term:
    xorb: bytes
    size: int  # unpacked bytes of chunks [start, end)
    start: int
    end: int
    verification: bytes = b""


@dataclass
class FileInfo:
    hash: bytes
    terms: list[Term] = field(default_factory=list)
    sha256: bytes | None = None


@dataclass
class CasInfo:
    xorb: bytes
    chunks: list[tuple[bytes, int, int]]  # (chunk hash, byte start, unpacked size)
    bytes_in_cas: int
    bytes_on_disk: int


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise FormatError(f"shard is truncated in {what} (byte {self.pos})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out


def read_shard(data: bytes, max_entries: int = 1 << 20) -> tuple[list[FileInfo], list[CasInfo]]:
    """File reconstructions and xorb listings of an uploaded shard (footer optional)."""
    r = _Reader(data)
    tag, version, footer_size = struct.unpack("<32sQQ", r.take(48, "the header"))
    if tag != SHARD_TAG:
        raise FormatError("not a shard (wrong magic tag)")
    if version != SHARD_HEADER_VERSION:
        raise FormatError(f"shard header version {version} is not supported (expected {SHARD_HEADER_VERSION})")
    files: list[FileInfo] = []
    count = 0
    while True:
        head = r.take(ENTRY, "a file header")
        if head == BOOKEND:
            break
        fhash, flags, n = struct.unpack("<32sII8x", head)
        count += n
        if count > max_entries:
            raise FormatError("shard has too many entries")
        info = FileInfo(fhash)
        for _ in range(n):
            xorb, _flags, size, start, end = struct.unpack("<32sIIII", r.take(ENTRY, "a file term"))
            if end <= start:
                raise FormatError(f"file term has an empty chunk range [{start}, {end})")
            info.terms.append(Term(xorb, size, start, end))
        if flags & FLAG_VERIFICATION:
            for term in info.terms:
                term.verification = r.take(ENTRY, "a verification entry")[:32]
        if flags & FLAG_METADATA:
            info.sha256 = r.take(ENTRY, "a metadata entry")[:32]
        files.append(info)
    cas: list[CasInfo] = []
    while True:
        head = r.take(ENTRY, "a xorb header")
        if head == BOOKEND:
            break
        xorb, _flags, n, in_cas, on_disk = struct.unpack("<32sIIII", head)
        count += n
        if count > max_entries:
            raise FormatError("shard has too many entries")
        chunks = []
        for _ in range(n):
            h, start, size = struct.unpack("<32sII8x", r.take(ENTRY, "a xorb chunk entry"))
            chunks.append((h, start, size))
        cas.append(CasInfo(xorb, chunks, in_cas, on_disk))
    rest = len(data) - r.pos  # an upload has no footer; a stored shard has lookup tables + footer
    if footer_size not in (0, SHARD_FOOTER_BYTES) or rest < footer_size or (not footer_size and rest):
        raise FormatError(f"shard has {rest} unexpected bytes after its sections")
    return files, cas


def _truncate(h: bytes) -> int:
    return int.from_bytes(h[:8], "little")


def write_dedup_shard(xorbs: list[CasInfo], hmac_key: bytes, created: int, expiry: int) -> bytes:
    """A shard with no files and the given xorb listings (chunk hashes already keyed), with footer.

    The footer's lookup tables (sorted truncated hashes -> entry index) are written as the
    reference client writes them: its reader searches them, it does not scan the sections.
    """
    out = bytearray(struct.pack("<32sQQ", SHARD_TAG, SHARD_HEADER_VERSION, SHARD_FOOTER_BYTES))
    file_info_offset = len(out)
    out += BOOKEND
    cas_info_offset = len(out)
    xorb_lookup, chunk_lookup, index = [], [], 0
    for x in xorbs:
        xorb_lookup.append((_truncate(x.xorb), index))
        out += struct.pack("<32sIIII", x.xorb, 0, len(x.chunks), x.bytes_in_cas, x.bytes_on_disk)
        for i, (h, start, size) in enumerate(x.chunks):
            out += struct.pack("<32sII8x", h, start, size)
            chunk_lookup.append((_truncate(h), index, i))
        index += 1 + len(x.chunks)
    out += BOOKEND
    file_lookup_offset = xorb_lookup_offset = len(out)
    for key, at in sorted(xorb_lookup):
        out += struct.pack("<QI", key, at)
    chunk_lookup_offset = len(out)
    for key, at, i in sorted(chunk_lookup):
        out += struct.pack("<QII", key, at, i)
    footer_offset = len(out)
    on_disk = sum(x.bytes_on_disk for x in xorbs)
    unpacked = sum(x.bytes_in_cas for x in xorbs)
    out += struct.pack("<QQQQQQQQQ32sQQ48xQQQQ", SHARD_FOOTER_VERSION, file_info_offset, cas_info_offset,
                       file_lookup_offset, 0, xorb_lookup_offset, len(xorb_lookup), chunk_lookup_offset,
                       len(chunk_lookup), hmac_key, created, expiry, on_disk, unpacked, unpacked, footer_offset)
    assert len(out) - footer_offset == SHARD_FOOTER_BYTES
    return bytes(out)
