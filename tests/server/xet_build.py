"""Build xorbs and shards byte by byte, as a Xet client would, to send the server what the stock
client never sends (wrong hashes, lying lengths, references to other people's xorbs)."""

from __future__ import annotations

import hashlib
import struct

from hub.server.xet.formats import BOOKEND, FLAG_METADATA, FLAG_VERIFICATION, SHARD_TAG
from hub.server.xet.hashing import chunk_hash, file_hash, hash_to_hex, hex_to_hash, merkle_root, verification_hash


def xorb(chunks: list[bytes]) -> tuple[str, bytes]:
    """``(xorb hash, serialized bytes)``; chunks stored uncompressed."""
    out = bytearray()
    for data in chunks:
        out += bytes([0]) + len(data).to_bytes(3, "little") + bytes([0]) + len(data).to_bytes(3, "little") + data
    return hash_to_hex(merkle_root([(chunk_hash(c), len(c)) for c in chunks])), bytes(out)


def shard(files: list[dict], xorbs: list[tuple[str, list[bytes]]] = ()) -> bytes:
    """A shard upload body (no footer).

    ``files``: ``{"terms": [(xorb hash, chunks of that xorb, start, end)], "sha256": hex, "id": hex,
    "verification": [bytes, ...]}`` — ``sha256``/``id``/``verification`` default to the true values.
    """
    out = bytearray(struct.pack("<32sQQ", SHARD_TAG, 2, 0))
    for f in files:
        used = [c for _, chunks, a, b in f["terms"] for c in chunks[a:b]]
        fid = f.get("id") or hash_to_hex(file_hash([(chunk_hash(c), len(c)) for c in used]))
        sha = f.get("sha256") or hashlib.sha256(b"".join(used)).hexdigest()
        out += struct.pack("<32sII8x", hex_to_hash(fid), FLAG_VERIFICATION | FLAG_METADATA, len(f["terms"]))
        for x, chunks, a, b in f["terms"]:
            out += struct.pack("<32sIIII", hex_to_hash(x), 0, sum(len(c) for c in chunks[a:b]), a, b)
        proofs = f.get("verification") or [verification_hash([chunk_hash(c) for c in chunks[a:b]])
                                           for _, chunks, a, b in f["terms"]]
        for proof in proofs:
            out += proof + bytes(16)
        out += hex_to_hash(sha) + bytes(16)
    out += BOOKEND
    for x, chunks in xorbs:
        offsets = [sum(len(c) for c in chunks[:i]) for i in range(len(chunks))]
        out += struct.pack("<32sIIII", hex_to_hash(x), 0, len(chunks), sum(map(len, chunks)),
                           sum(8 + len(c) for c in chunks))
        for c, off in zip(chunks, offsets):
            out += struct.pack("<32sII8x", chunk_hash(c), off, len(c))
    out += BOOKEND
    return bytes(out)


def file_id(chunks: list[bytes]) -> str:
    return hash_to_hex(file_hash([(chunk_hash(c), len(c)) for c in chunks]))
