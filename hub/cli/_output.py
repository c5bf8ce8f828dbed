"""Plain-text tables and JSON for CLI output (no rich: it costs start-up time)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h).upper() for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def warn_broken(hub: Any) -> None:
    """One stderr line when plugins are broken, so listings never hide it."""
    broken = hub.broken
    if broken:
        names = ", ".join(p.name for p in broken)
        click.echo(f"warning: {len(broken)} plugin(s) broken ({names}); see `hub plugins`", err=True)


def human_count(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)
