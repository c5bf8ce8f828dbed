"""Plain-text tables and JSON for CLI output (no rich: it costs start-up time)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import click

# C0/C1 control characters except tab (ESC starts terminal escape sequences; CR and LF would
# forge extra output lines), DEL, and the Unicode bidi controls that make text display in another
# order than it reads ("Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(text: Any) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``), never sent raw.

    Descriptions, labels, file names and error messages come from files anyone may have
    written (zoo.toml, config.json, a plugin); raw, they could move the cursor, recolour or
    retitle the terminal, hide text, or forge a line of output that scripts would parse.
    """
    return _UNSAFE.sub(_escape, str(text))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h).upper() for h in headers]] + [["" if c is None else safe(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def warn_broken(hub: Any) -> None:
    """One stderr line when plugins are broken, so listings never hide it."""
    broken = hub.broken
    if broken:
        names = ", ".join(p.name for p in broken)
        click.echo(safe(f"warning: {len(broken)} plugin(s) broken ({names}); see `hub plugins`"), err=True)


def human_count(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)
