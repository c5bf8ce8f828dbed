"""The Xet protocol's hashes: chunk, xorb (Merkle root), file, and term-verification hashes.

A hash is 32 raw bytes; the protocol writes it as a string by reading each 8-byte quarter as a
little-endian u64 and printing the four as 16 hex digits each (``hash_to_hex``), so the string
is *not* the bytes in hex. Every hash here is BLAKE3 keyed with one of the protocol's keys
(from the public "Xet Protocol Specification", docs/xet/hashing.md).

The Merkle tree is not binary: a level is cut into groups of 2 to 9 nodes, a group ending after
the first node (from the third on) whose hash's last u64 is divisible by 4, so the tree's shape
depends only on the content and dedup stays stable when data is inserted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from blake3 import blake3

DATA_KEY = bytes([102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28, 157, 228, 33, 16,
                  155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41])
INTERNAL_NODE_KEY = bytes([1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230, 93, 221, 83,
                           111, 55, 199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63])
VERIFICATION_KEY = bytes([127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243, 164, 205, 38,
                          213, 181, 219, 73, 230, 65, 36, 152, 127, 40, 251, 148, 195])
ZERO_KEY = bytes(32)
BRANCHING = 4
HEX_RE = re.compile(r"^[0-9a-f]{64}$")


def hash_to_hex(raw: bytes) -> str:
    """The protocol's string form of a hash (each 8-byte quarter as a little-endian u64)."""
    return "".join(f"{int.from_bytes(raw[i:i + 8], 'little'):016x}" for i in range(0, 32, 8))


def hex_to_hash(text: str) -> bytes:
    """Inverse of :func:`hash_to_hex`; ``ValueError`` unless 64 lowercase hex digits."""
    if not isinstance(text, str) or not HEX_RE.match(text):
        raise ValueError(f"not a Xet hash (64 lowercase hex digits): {str(text)[:80]!r}")
    return b"".join(int(text[i:i + 16], 16).to_bytes(8, "little") for i in range(0, 64, 16))


def keyed(data: bytes, key: bytes) -> bytes:
    return blake3(data, key=key).digest()


def chunk_hash(data: bytes) -> bytes:
    return keyed(data, DATA_KEY)


def _node(group: Sequence[tuple[bytes, int]]) -> tuple[bytes, int]:
    text = "".join(f"{hash_to_hex(h)} : {size}\n" for h, size in group)
    return keyed(text.encode(), INTERNAL_NODE_KEY), sum(size for _, size in group)


def _cut(level: Sequence[tuple[bytes, int]], start: int) -> int:
    """End (exclusive) of the group that starts at ``start``."""
    left = len(level) - start
    if left <= 2:
        return len(level)
    end = min(2 * BRANCHING + 1, left)
    for i in range(2, end):
        if int.from_bytes(level[start + i][0][24:32], "little") % BRANCHING == 0:
            return start + i + 1
    return start + end


def merkle_root(leaves: Sequence[tuple[bytes, int]]) -> bytes:
    """Root of the aggregated tree over ``(chunk hash, chunk length)`` leaves: the xorb hash."""
    if not leaves:
        return bytes(32)
    level = list(leaves)
    while len(level) > 1:
        nxt, start = [], 0
        while start < len(level):
            end = _cut(level, start)
            nxt.append(_node(level[start:end]))
            start = end
        level = nxt
    return level[0][0]


def file_hash(leaves: Sequence[tuple[bytes, int]]) -> bytes:
    """A file's Xet id: the Merkle root over its chunks, keyed once more with zeros."""
    if not leaves:
        return bytes(32)
    return keyed(merkle_root(leaves), ZERO_KEY)


def verification_hash(chunk_hashes: Sequence[bytes]) -> bytes:
    """Proof that a shard's uploader knows the chunk hashes of the xorb range a term uses."""
    return keyed(b"".join(chunk_hashes), VERIFICATION_KEY)
