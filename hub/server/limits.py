"""Budgets for untrusted request bodies: sizes, JSON depth, and the whole-commit limit.

Every body the server reads comes from the network, so none is read without a cap: a JSON body
is streamed up to :attr:`Limits.max_json_bytes` (413 past it) and parsed with a nesting limit (400
past it; Python's parser would otherwise raise ``RecursionError`` deep down, which is a 500), and a
commit's NDJSON body is counted against :attr:`Limits.max_commit_bytes` while it streams, because a
commit of many small files is as large as one big line. Large files belong in LFS, whose uploads
are bounded by the size announced (and signed) in the batch answer.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from .errors import ServerError, bad_request

MAX_COMMIT_ENV = "HUB_SERVE_MAX_COMMIT_BYTES"
DEFAULT_MAX_COMMIT_BYTES = 64 << 20
DEFAULT_MAX_JSON_BYTES = 16 << 20
DEFAULT_MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class Limits:
    """What one request may send. ``max_commit_bytes`` is ``hub serve --max-commit-bytes``."""

    max_commit_bytes: int = DEFAULT_MAX_COMMIT_BYTES
    max_json_bytes: int = DEFAULT_MAX_JSON_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH

    def __post_init__(self) -> None:
        for name in ("max_commit_bytes", "max_json_bytes", "max_json_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")


def parse_size(text: str, what: str = MAX_COMMIT_ENV) -> int:
    """``"64M"``, ``"1G"``, ``"500k"`` or plain bytes -> bytes (binary units); ``ValueError`` if not."""
    raw = text.strip().upper().removesuffix("B").removesuffix("I")
    factor = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(raw[-1:], 1)
    digits = raw[:-1] if factor > 1 else raw
    if not digits.isdigit() or int(digits) < 1:
        raise ValueError(f"{what}: expected a positive size such as 67108864, 64M or 1G, got {text!r}")
    return int(digits) * factor


def max_commit_from_env() -> int | None:
    """``HUB_SERVE_MAX_COMMIT_BYTES`` if set (``ValueError`` if malformed), else ``None``."""
    value = os.environ.get(MAX_COMMIT_ENV, "").strip()
    return parse_size(value) if value else None


def check_declared_length(headers: Any, limit: int, what: str) -> None:
    """413 at once when ``Content-Length`` already says the body is over ``limit``."""
    declared = headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise too_large(what, limit)


def too_large(what: str, limit: int, hint: str = "") -> ServerError:
    return ServerError(413, f"{what} is larger than {limit} bytes{hint}")


async def read_capped(chunks: AsyncIterator[bytes], limit: int, what: str) -> bytes:
    """The whole stream, or 413 as soon as it passes ``limit`` bytes."""
    buf = bytearray()
    async for chunk in chunks:
        buf += chunk
        if len(buf) > limit:
            raise too_large(what, limit)
    return bytes(buf)


def json_depth_ok(value: Any, limit: int) -> bool:
    """Whether ``value`` nests no deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return True


def loads(data: bytes | str, limits: Limits, what: str = "Request body") -> Any:
    """Parse JSON with the depth limit; 400 (never a 500) for anything malformed."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise bad_request(f"{what} nests deeper than {limits.max_json_depth} levels") from None
    except (ValueError, TypeError):  # UnicodeDecodeError is a ValueError
        raise bad_request(f"{what} is not valid JSON") from None
    if not json_depth_ok(value, limits.max_json_depth):
        raise bad_request(f"{what} nests deeper than {limits.max_json_depth} levels")
    return value


def expect(value: Any, kind: type | tuple[type, ...], what: str, optional: bool = True) -> Any:
    """``value`` if it has the JSON type ``kind`` (``None`` allowed when ``optional``), else 400.

    ``bool`` is refused where a number is expected: JSON ``true`` is not a size.
    """
    if value is None and optional:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise bad_request(f"{what} must be {_names(kinds)}, not {json.dumps(value)}")
    if not isinstance(value, kinds):
        raise bad_request(f"{what} must be {_names(kinds)}, not {type(value).__name__}")
    return value


def _names(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", dict: "an object", list: "a list", bool: "a boolean"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)
