"""``hub plugins``: which plugins loaded, from which distribution, and why not; ``hub plugins check``."""

from __future__ import annotations

import click

from ._output import echo_json, echo_table, safe


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List installed plugins with their status and components (`hub plugins check NAME` tests one)."""
    if ctx.invoked_subcommand is not None:
        return
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


@plugins.command("check")
@click.argument("name")
@click.option("--no-export", is_flag=True, help="Skip the ONNX export + onnxruntime + int8 checks (the slow part).")
@click.option("--json", "as_json", is_flag=True, help="One object per check: component, name, status, detail.")
def check(name: str, no_export: bool, as_json: bool) -> None:
    """Run the conformance suite (hub.testing) on every component plugin NAME registered; exit 1 on a failure."""
    from ..plugins import get_hub
    from ..testing.plugin_check import check_plugin

    results = check_plugin(name, get_hub(), export=not no_export)
    failed = [c for c in results if c.status == "fail"]
    if as_json:
        echo_json([c.as_dict() for c in results])
    else:
        for c in results:
            click.echo(safe(c.line()))
        skipped = sum(c.status == "skip" for c in results)
        click.echo(f"{len(results) - len(failed) - skipped} passed, {len(failed)} failed, {skipped} skipped")
    if failed:
        raise click.exceptions.Exit(1)


@plugins.command("new")
@click.argument("name")
@click.option("--dir", "folder", type=click.Path(file_okay=False),
              help="Where to write the distribution (default: ./hub-plugin-NAME); must be new or empty.")
def new(name: str, folder: str | None) -> None:
    """Scaffold plugin distribution NAME: pyproject, torch-free plugin module, example backbone with shipped
    weights, head and dataset, conformance tests, README."""
    from pathlib import Path

    from ..testing.scaffold import scaffold

    out = scaffold(name, Path(folder or f"hub-plugin-{name}"))
    click.echo(f"wrote {out}; next: pip install -e {out} && hub plugins check {name}")
