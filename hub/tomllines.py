"""Line numbers for TOML keys: tomllib keeps no positions, so errors find them in the text.

Used by :mod:`hub.zoo` to say ``zoo.toml:17: entries.x.train.lr: ...``. The index is built
once per text (one pass over its lines), so locating every entry of a catalogue is linear in
the file size; the first version rescanned the whole text for every entry, which made a
5000-entry catalogue take minutes to load.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib

_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_STR = r"\"(?:[^\"\\]|\\.)*\"|'[^']*'"  # a basic string (with escapes) or a literal one
_HEADER_RE = re.compile(r"^\s*\[\[?\s*(.+?)\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(rf"^\s*((?:[A-Za-z0-9_-]+|{_STR})(?:\s*\.\s*(?:[A-Za-z0-9_-]+|{_STR}))*)\s*=")
_PART_RE = re.compile(rf"({_STR})|([A-Za-z0-9_-]+)")


def _split_key(key: str) -> tuple[str, ...]:
    """A dotted TOML key as its parts, quoted parts decoded (``"a\\nb"`` is the two-line key)."""
    return tuple(_unquote(q) if q else bare for q, bare in _PART_RE.findall(key))


def _unquote(quoted: str) -> str:
    if quoted.startswith("'") or "\\" not in quoted:
        return quoted[1:-1]
    try:
        return tomllib.loads(f"k = {quoted}")["k"]
    except tomllib.TOMLDecodeError:
        return quoted[1:-1]


class _LineIndex:
    """Where each table header and key sits in a TOML text, built in one pass.

    :func:`locate` runs once per entry while a catalogue loads; scanning the whole text on
    every call made loading quadratic (5000 entries took minutes). With the index, a lookup
    costs the length of the key path plus the lines of one table.
    """

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.header_rows: list[int] = []
        self.first: dict[tuple[str, ...], int] = {}  # header keys -> index into header_rows
        for i, line in enumerate(self.lines):
            if "[" in line and (m := _HEADER_RE.match(line)):
                self.first.setdefault(_split_key(m.group(1)), len(self.header_rows))
                self.header_rows.append(i)

    def locate(self, keypath: tuple[str, ...]) -> int | None:
        best_line, best_len, start, end = None, 0, 0, (self.header_rows[0] if self.header_rows else len(self.lines))
        for size in range(len(keypath), 0, -1):
            pos = self.first.get(keypath[:size])
            if pos is not None:
                row = self.header_rows[pos]
                best_line, best_len, start = row + 1, size, row + 1
                end = self.header_rows[pos + 1] if pos + 1 < len(self.header_rows) else len(self.lines)
                break
        rest = keypath[best_len:]
        if not rest:
            return best_line
        for i in range(start, end):
            m = _KEY_RE.match(self.lines[i])
            if m and rest[: len(keys := _split_key(m.group(1)))] == keys:
                return i + 1
        return best_line


@functools.lru_cache(maxsize=4)
def _index(text: str) -> _LineIndex:
    return _LineIndex(text)


def locate(text: str, keypath: tuple[str, ...]) -> int | None:
    """Best-effort 1-based line of ``keypath`` in TOML ``text`` (tomllib keeps no positions)."""
    return _index(text).locate(tuple(keypath))


def show_keypath(keypath: tuple[str, ...]) -> str:
    """A key path as TOML writes it: bare parts plain, any other part quoted (``train."bad\\nkey"``)."""
    return ".".join(k if _BARE_KEY_RE.match(k) else json.dumps(k) for k in keypath)
