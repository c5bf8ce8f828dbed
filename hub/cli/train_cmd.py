"""``hub train``: fine-tune a zoo entry or an ad-hoc combination into a run directory."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import click

from .common import no_progress_option

from .zoo_cmd import zoo_option


def recipe_options(func):
    """The options that choose a recipe, shared by ``hub train`` and ``hub run``."""
    for option in reversed([
        click.argument("entry", required=False),
        zoo_option,
        click.option("--backbone", help="Ad-hoc: backbone name (instead of ENTRY)."),
        click.option("--dataset", help="Ad-hoc: dataset name, or hf:NS/NAME[@REV] (a dataset repo), parquet:PATH, arrow:PATH."),
        click.option("--head", help="Head name (default: the task's)."),
        click.option("--task", help="Task name (default: the dataset's)."),
        click.option("--strategy", help="Shortcut for --set train.strategy=..."),
        click.option("--epochs", type=int, help="Shortcut for --set train.epochs=N"),
        click.option("--target-dataset", "target_dataset", metavar="NAME",
                     help="Domain adaptation toward this unlabelled dataset (--set adapt.target=NAME)."),
        click.option("--adapt", "adapt_method", metavar="METHOD",
                     help="Adaptation method: dann, coral, mmd, adabn, instance-weighting, pseudo-label, mcc, fixmatch, shot, "
                          "or auto (train them all, keep one by an unsupervised criterion) (--set adapt.method=...)."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override a recipe key, e.g. train.lr=0.01, backbone.image_size=96 (repeatable)."),
        no_progress_option,
    ]):
        func = option(func)
    return func


@click.command()
@recipe_options
@click.option("--out", "out", type=click.Path(file_okay=False), help="Run directory (default: runs/NAME-TIME).")
@click.option("--resume", "resume", type=click.Path(file_okay=False), help="Continue the run in this directory.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary (summary.json + run_dir) as JSON.")
def train(entry: str | None, zoo_path: str | None, backbone: str | None, dataset: str | None, head: str | None,
          task: str | None, strategy: str | None, epochs: int | None, target_dataset: str | None,
          adapt_method: str | None, overrides: tuple[str, ...], out: str | None, resume: str | None,
          no_progress: bool, as_json: bool) -> None:
    """Train ENTRY from zoo.toml, or --backbone X --dataset Y, or continue --resume RUN_DIR."""
    from ..plugins import get_hub

    registry = get_hub().registry
    overrides = adapt_overrides(target_dataset, adapt_method) + tuple(overrides)
    recipe = choose_recipe(entry, zoo_path, backbone, dataset, head, task, strategy, epochs, overrides, resume, registry)
    run_dir = Path(resume or out or f"runs/{recipe.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    click.echo(f"training {recipe.name}: {recipe.backbone.name} + {recipe.head.name} on {recipe.dataset.name} "
               f"({recipe.train.strategy}) -> {run_dir}", err=True)

    from ..training.api import train as run_training

    result = run_training(recipe, run_dir, registry, resume=bool(resume), progress=not no_progress,
                          on_epoch=print_epoch)
    if as_json:
        from ._output import echo_json

        echo_json({"run_dir": str(run_dir), **result.summary})
        return
    test = result.summary.get("test") or result.summary.get("validation") or {}
    scores = ", ".join(f"{k}={v:.4f}" for k, v in test.items())
    click.echo(f"done in {result.summary['seconds']:.1f}s; test: {scores}; run dir: {run_dir}")
    if "target" in result.summary:  # domain adaptation: the target's labelled test split, for evaluation only
        target = result.summary["target"]
        click.echo(f"target {target['dataset']} test: "
                   + ", ".join(f"{k}={v:.4f}" for k, v in target["test"].items()))
    auto = (result.summary.get("adaptation") or {}).get("auto")
    if auto:  # which candidate won, by what score: the choice must be auditable at a glance
        scores = ", ".join(f"{c['method'].split(':')[-1]}={_score(c, auto['criterion'])}" for c in auto["candidates"])
        click.echo(f"auto chose {auto['chosen']} by {auto['criterion']} ({scores})")
        if auto.get("fallback"):
            click.echo(f"note: {auto['fallback']}")


def _score(candidate: dict, criterion: str) -> str:
    if "error" in candidate:
        return candidate["error"].split(":")[0]
    value = candidate.get("scores", {}).get(criterion)
    return "n/a" if value is None else f"{value:.4f}"


def adapt_overrides(target_dataset: str | None, method: str | None) -> tuple[str, ...]:
    """``--target-dataset``/``--adapt`` as the ``--set`` assignments they stand for."""
    sets = (f"adapt.target={target_dataset!r}",) if target_dataset else ()
    return sets + ((f"adapt.method={method!r}",) if method else ())


def print_epoch(logs: dict[str, Any]) -> None:
    shown = ", ".join(f"{k}={v:.4f}" for k, v in logs.items() if isinstance(v, float) and k not in ("lr", "seconds"))
    click.echo(f"epoch {logs['epoch']}: {shown} ({logs['seconds']:.1f}s)", err=True)


def choose_recipe(entry, zoo_path, backbone, dataset, head, task, strategy, epochs, overrides, resume, registry):
    from ..errors import HubError
    from ..training.rundir import read_run_info
    from ..zoo import apply_override, load_catalogue, recipe_from_table

    if entry is None and backbone is None and resume:
        if overrides or strategy or epochs is not None or head or task or dataset:
            raise HubError("--resume continues a run exactly; drop --set/--strategy/--epochs/--head/--task/--dataset")
        return read_run_info(Path(resume)).recipe
    if entry is not None and backbone is not None:
        raise click.UsageError("give either ENTRY or --backbone/--dataset, not both")
    if entry is not None:
        catalogue = load_catalogue(zoo_path)
        catalogue.entry(entry)
        raw, name = copy.deepcopy(catalogue.raw[entry]), entry
        if not overrides and not any((head, task, strategy)) and epochs is None:
            return catalogue.recipe(entry, registry)
    elif backbone and dataset:
        raw, name = {"backbone": backbone, "dataset": dataset}, "adhoc"
    else:
        raise click.UsageError("give a zoo ENTRY, or both --backbone and --dataset (or --resume RUN_DIR)")
    for key, value in (("head", head), ("task", task)):
        if value:
            raw[key] = value
    sets = list(overrides) + ([f"train.strategy={strategy!r}"] if strategy else []) + (
        [f"train.epochs={epochs}"] if epochs is not None else [])
    for assignment in sets:
        apply_override(raw, assignment)
    return recipe_from_table(name, raw, registry, source="command line")
