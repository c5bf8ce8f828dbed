"""``hub card EXPORT_DIR``: preview the model card ``hub push`` would publish, without pushing.

The card is rendered by the same function push uses, from the same file list (the export's
publishable files plus the generated README and manifest), so what this prints is byte for byte
what a push of EXPORT_DIR to REPO_ID would commit. It checks the folder the way push does, so a
file push would refuse fails here too.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("export_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--repo-id", default=None, metavar="NAMESPACE/NAME",
              help="Repo the card is written for [default: zoo/<export name>, as `hub run` pushes].")
@click.option("--revision", default="main", show_default=True, help="Branch the snippets download from.")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the card to this file (atomically) instead of printing it.")
def card(export_dir: Path, repo_id: str | None, revision: str, out: Path | None) -> None:
    """Print the model card (README.md) that `hub push EXPORT_DIR` would publish."""
    from ..fsutil import atomic_write_text
    from ..publish.card import render
    from ..publish.files import GENERATED, collect_export
    from ..runtime import read_config

    config = read_config(export_dir)
    repo_id = repo_id or f"zoo/{config.get('name') or export_dir.name}"
    files = collect_export(export_dir)
    text = render(export_dir, sorted([*files, *GENERATED]), repo_id, revision)
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    atomic_write_text(out, text)
    click.echo(f"wrote the card for {repo_id}@{revision} to {out}")
