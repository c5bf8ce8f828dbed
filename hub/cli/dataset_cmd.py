"""``hub dataset``: publish a folder of parquet files as a dataset repo, or write a registered dataset as parquet.

``hub train --dataset hf:NS/NAME[@REV]`` (or ``parquet:DIR``) reads what these write; the library
code is :mod:`hub.data_sources` (``datasets`` and huggingface_hub are imported inside the commands).
"""

from __future__ import annotations

from pathlib import Path

import click

from ._output import echo_json
from .common import json_option, no_progress_option


@click.group()
def dataset() -> None:
    """Publish training data as a dataset repo (`hub train --dataset hf:NS/NAME` reads it)."""


@dataset.command("push")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("repo_id")
@click.option("--license", "license_", default="", metavar="ID", help="License for the card, e.g. cc-by-4.0.")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--endpoint", default=None, metavar="URL",
              help="Hub to publish to [default: HF_ENDPOINT; without it and without a token, a local hub serve].")
@no_progress_option
@json_option()
def push(folder: Path, repo_id: str, license_: str, private: bool, endpoint: str | None, no_progress: bool,
         as_json: bool) -> None:
    """Publish FOLDER's .parquet files to the dataset repo REPO_ID (created if missing) in one commit.

    Splits come from the file names (train-*, validation-*/valid-*/dev-*, test-*; a folder whose names
    say none is all train). A generated README.md card lists them, the features (ClassLabel names
    included when the files carry them) and --license. FOLDER is never modified; parquet files the
    repo has and FOLDER no longer has are deleted by the same commit.
    """
    from ..data_sources.publishing import push_dataset
    from ..progress import shown

    with shown(not no_progress):
        result = push_dataset(folder, repo_id, license=license_, private=private, endpoint=endpoint)
    if as_json:
        echo_json({"repo_id": result.repo_id, "endpoint": result.endpoint, "commit_sha": result.commit,
                   "splits": result.splits, "files": result.files, "skipped": result.skipped,
                   "dataset": result.reference})
        return
    rows = ", ".join(f"{split} {n}" for split, n in result.splits.items())
    click.echo(f"pushed {len(result.files)} parquet files ({rows} rows) -> {result.endpoint}/datasets/{result.repo_id} "
               f"(commit {result.commit[:12]})")
    if result.skipped:
        click.echo(f"  not published (not .parquet): {', '.join(result.skipped[:5])}"
                   + (f" and {len(result.skipped) - 5} more" if len(result.skipped) > 5 else ""))
    click.echo(f"  train on it: hub train --backbone NAME --dataset hf:{result.repo_id}")


@dataset.command("export")
@click.argument("name")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="A dataset option, e.g. seed=1 (repeatable).")
@json_option()
def export(name: str, out: Path, overrides: tuple[str, ...], as_json: bool) -> None:
    """Write the registered dataset NAME (e.g. digits) to OUT as one parquet file per split,
    with an image or text column and a ClassLabel `label` column."""
    from ..data_sources.export import export_dataset
    from ..plugins import get_hub
    from ..zoo import apply_override

    table: dict = {"dataset": {"name": name}}
    for assignment in overrides:
        apply_override(table, f"dataset.{assignment}")
    options = {k: v for k, v in table["dataset"].items() if k != "name"}
    rows = export_dataset(get_hub().registry, name, out, options)
    if as_json:
        echo_json({"out": str(out), "splits": rows})
        return
    click.echo(f"wrote {name} to {out}: " + ", ".join(f"{split} {n} rows" for split, n in rows.items()))
