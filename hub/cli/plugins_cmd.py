"""``hub plugins``: which plugins loaded, from which distribution, and why not."""

from __future__ import annotations

import click

from ._output import echo_json, echo_table


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(as_json: bool) -> None:
    """List installed plugins with their status and components."""
    from ..plugins import get_hub

    hub = get_hub()
    if as_json:
        echo_json([p.as_dict() for p in hub.plugins])
        return
    if not hub.plugins:
        click.echo("no plugins installed (entry point group 'hub')")
        return
    rows = [
        (p.name, p.distribution or "-", p.version or "-", p.status, len(p.components), p.error or "")
        for p in hub.plugins
    ]
    echo_table(("plugin", "distribution", "version", "status", "components", "error"), rows)
