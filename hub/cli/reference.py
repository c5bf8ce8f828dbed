"""docs/cli-reference.md, generated from the click commands themselves.

Hand-written option lists drift; this one cannot: a test compares the file
with what the installed commands say, and ``python -m hub.cli.reference >
docs/cli-reference.md`` regenerates it.
"""

from __future__ import annotations

import click

HEADER = """# CLI reference

Generated from the commands by `python -m hub.cli.reference > docs/cli-reference.md`
(a test keeps it current). The guide with examples is [cli.md](cli.md).
Every command also takes `-h` / `--help`.
"""


def _rows(command: click.Command, ctx: click.Context) -> list[str]:
    rows = []
    for param in command.get_params(ctx):
        if isinstance(param, click.Argument) or "--help" in param.opts:  # every command takes -h/--help
            continue
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, text = record
        rows.append(f"| `{names.replace('|', '/')}` | {text.replace('|', '/')} |")
    return rows


def _section(command: click.Command, path: list[str], parent: click.Context | None) -> list[str]:
    ctx = click.Context(command, info_name=path[-1], parent=parent)
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines = [f"## `{' '.join(path)}`", "", "```", f"{' '.join(path)} {usage}".rstrip(), "```", ""]
    help_text = (command.help or "").strip()
    if help_text:
        lines += [" ".join(help_text.split()), ""]
    rows = _rows(command, ctx)
    if rows:
        lines += ["| option | meaning |", "|---|---|", *rows, ""]
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(ctx)):
            lines += _section(command.get_command(ctx, name), path + [name], ctx)
    return lines


def render() -> str:
    from . import cli

    return HEADER + "\n" + "\n".join(_section(cli, ["hub"], None)).rstrip() + "\n"


if __name__ == "__main__":
    click.echo(render(), nl=False)
