"""``hub zoo``: browse the catalogue of ready-to-run entries in zoo.toml."""

from __future__ import annotations

import click

from ._output import echo_json, echo_table, safe, warn_broken

zoo_option = click.option(
    "--zoo", "zoo_path", type=click.Path(dir_okay=False), default=None,
    help="Catalogue file (default: $HUB_ZOO, ./zoo.toml, or the one shipped with the hub).",
)


@click.group()
def zoo() -> None:
    """Browse zoo.toml entries, bench them into a leaderboard, pick one for a budget."""


@zoo.command("list")
@zoo_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def zoo_list(zoo_path: str | None, as_json: bool) -> None:
    """List entries; an entry whose components are not installed is marked unavailable."""
    from ..errors import HubError
    from ..plugins import get_hub
    from ..zoo import load_catalogue

    catalogue = load_catalogue(zoo_path)
    hub = get_hub()
    warn_broken(hub)
    rows = []
    for name, entry in catalogue.entries.items():
        try:
            catalogue.recipe(name, hub.registry)
            status = "ok"
        except HubError as exc:
            status = f"unavailable: {getattr(exc, 'reason', exc)}"
        rows.append({
            "name": name, "backbone": entry.backbone.name, "dataset": entry.dataset.name,
            "task": entry.task.name if entry.task else None, "head": entry.head.name if entry.head else None,
            "strategy": entry.sections["train"].strategy, "status": status, "description": entry.description,
        })
    if as_json:
        echo_json(rows)
        return
    echo_table(("name", "backbone", "dataset", "strategy", "status"),
               [(r["name"], r["backbone"], r["dataset"], r["strategy"], r["status"]) for r in rows])


@zoo.command("show")
@click.argument("name")
@zoo_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def zoo_show(name: str, zoo_path: str | None, as_json: bool) -> None:
    """Show an entry's fully resolved recipe (defaults filled in, components checked)."""
    from ..plugins import get_hub
    from ..zoo import load_catalogue

    hub = get_hub()
    recipe = load_catalogue(zoo_path).recipe(name, hub.registry)
    data = recipe.to_dict()
    if as_json:
        echo_json(data)
        return
    click.echo(safe(f"{recipe.name}  ({recipe.source})"))
    if recipe.description:
        click.echo(safe(f"  {recipe.description}"))
    for key in ("backbone", "head", "task", "dataset"):
        ref = data[key]
        opts = ", ".join(f"{k}={v!r}" for k, v in ref["options"].items())
        click.echo(safe(f"  {key:<9} {ref['name']}" + (f"  ({opts})" if opts else "")))
    click.echo(safe(f"  {'pretrained':<9} {recipe.pretrained}"))
    if recipe.weights:
        click.echo(safe(f"  {'weights':<9} {recipe.weights}"))
    if recipe.input_size:
        click.echo(safe(f"  {'input':<9} " + ", ".join(f"{k}={v}" for k, v in recipe.input_size.items())))
    for section in ("train", "export", "publish", "adapt"):
        if data.get(section) is None:
            continue
        values = ", ".join(f"{k}={v!r}" for k, v in data[section].items())
        click.echo(safe(f"  [{section}] {values}"))


def _leaderboard_commands() -> None:
    from .leaderboard_cmd import zoo_bench, zoo_pick

    zoo.add_command(zoo_bench)
    zoo.add_command(zoo_pick)


_leaderboard_commands()
