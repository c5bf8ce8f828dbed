"""``hub pretrain``: train a backbone without a head (SimCLR or supervised) into a weights folder."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .train_cmd import print_epoch
from .zoo_cmd import zoo_option


@click.command()
@click.argument("entry", required=False)
@zoo_option
@click.option("--backbone", help="Ad-hoc: backbone name (instead of ENTRY).")
@click.option("--image-size", type=int, help="Shortcut for --set backbone.image_size=N")
@click.option("--dataset", help="Ad-hoc: dataset name (its unlabelled split, else its train split's images).")
@click.option("--objective", type=click.Choice(["simclr", "supervised"]), help="Shortcut for --set pretrain.objective=...")
@click.option("--epochs", type=int, help="Shortcut for --set pretrain.epochs=N")
@click.option("--batch-size", type=int, help="Shortcut for --set pretrain.batch_size=N")
@click.option("--lr", type=float, help="Shortcut for --set pretrain.lr=X")
@click.option("--temperature", type=float, help="Shortcut for --set pretrain.temperature=X (simclr)")
@click.option("--seed", type=int, help="Shortcut for --set pretrain.seed=N")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Shortcut for --set pretrain.device=...")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a key, e.g. pretrain.max_images=20000, dataset.seed=1 (repeatable).")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: pretrained/NAME-TIME); replaced only if it holds a previous pretrain output.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def pretrain(entry, zoo_path, backbone, image_size, dataset, objective, epochs, batch_size, lr, temperature, seed,
             device, overrides, out, no_progress) -> None:
    """Pre-train ENTRY's backbone (an entry with a [pretrain] section), or --backbone X --dataset Y.

    Writes backbone.safetensors (the backbone's own state-dict layout), pretrain.json and a
    README card; `hub push OUT ns/name --tag v1` publishes it, and a recipe names it with
    backbone.weights = "ns/name@v1".
    """
    from ..plugins import get_hub
    from ..pretrain.job import job_from_catalogue, job_from_table
    from ..zoo import apply_override, load_catalogue

    registry = get_hub().registry
    sets = [f"pretrain.{key}={value!r}" if isinstance(value, str) else f"pretrain.{key}={value}"
            for key, value in (("objective", objective), ("epochs", epochs), ("batch_size", batch_size), ("lr", lr),
                               ("temperature", temperature), ("seed", seed), ("device", device)) if value is not None]
    sets = ([f"backbone.image_size={image_size}"] if image_size is not None else []) + sets + list(overrides)
    if entry is not None and (backbone or dataset):
        raise click.UsageError("give either ENTRY or --backbone/--dataset, not both")
    if entry is not None:
        job = job_from_catalogue(load_catalogue(zoo_path), entry, registry, tuple(sets))
    elif backbone and dataset:
        raw: dict = {"backbone": backbone, "dataset": dataset, "pretrain": {}}
        for assignment in sets:
            apply_override(raw, assignment)
        job = job_from_table("adhoc-pretrain", raw, registry, source="command line")
    else:
        raise click.UsageError("give a zoo ENTRY, or both --backbone and --dataset")
    out = out or Path(f"pretrained/{job.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    cfg = job.config
    click.echo(f"pre-training {job.recipe.backbone.name} ({cfg.objective}, {cfg.epochs} epochs) on "
               f"{job.recipe.dataset.name} -> {out}", err=True)

    from ..pretrain.api import pretrain as run_pretrain

    result = run_pretrain(job, out, registry, progress=not no_progress, on_epoch=print_epoch)
    info = result.info
    click.echo(f"done in {info['seconds']:.1f}s; loss {info['loss_curve'][0]:.4f} -> {info['loss_curve'][-1]:.4f} "
               f"over {info['data']['images']} images; sha256 {info['weights']['sha256'][:12]}; out: {out}")
