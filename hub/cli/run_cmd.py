"""``hub run``: train, export with the validation gate, and publish, in one command."""

from __future__ import annotations

from pathlib import Path

import click

from .train_cmd import adapt_overrides, choose_recipe, print_epoch, recipe_options


@click.command("run")
@recipe_options
@click.option("--out", type=click.Path(file_okay=False),
              help="Folder for run/, export/ and pulled/ (default: runs/NAME). Running again into the same folder "
                   "reuses every stage whose recipe, code and data did not change.")
@click.option("--resume", type=click.Path(file_okay=False), help="Continue the job whose folder is this (from --out).")
@click.option("--repo", help="Hub repo id (default: the recipe's publish.repo, else zoo/NAME).")
@click.option("--endpoint", help="Hub endpoint (default: HF_ENDPOINT, else a local `hub serve`).")
@click.option("--no-push", is_flag=True, help="Stop after export.")
@click.option("--force", is_flag=True, help="Redo every stage, even those whose inputs did not change.")
@click.option("--json", "as_json", is_flag=True, help="Print the job's summary as JSON.")
def run(entry, zoo_path, backbone, dataset, head, task, strategy, epochs, target_dataset, adapt_method, overrides,
        no_progress, out, resume, repo, endpoint, no_push, force, as_json) -> None:
    """Train ENTRY, export it to ONNX (gated on held-out data) and push it to a Hub repo."""
    from ..pipeline import run as run_pipeline
    from ..pipeline_ensemble import runner_for
    from ..plugins import get_hub

    registry = get_hub().registry
    run_dir = Path(resume) / "run" if resume else None
    overrides = adapt_overrides(target_dataset, adapt_method) + tuple(overrides)
    recipe = choose_recipe(entry, zoo_path, backbone, dataset, head, task, strategy, epochs, overrides,
                           str(run_dir) if run_dir else None, registry)
    folder = Path(resume or out or f"runs/{recipe.name}")
    click.echo(f"{recipe.name}: {recipe.backbone.name} + {recipe.head.name} on {recipe.dataset.name} "
               f"({recipe.train.strategy})", err=True)
    runner = runner_for(entry, zoo_path, overrides) or run_pipeline  # an ensemble entry trains each member first
    outcome = runner(recipe, registry, folder, publish=not no_push, repo=repo, endpoint=endpoint,
                     resume=bool(resume), progress=not no_progress, force=force,
                     on_stage=lambda message: click.echo(f"== {message}", err=True), on_epoch=print_epoch)
    if as_json:
        from ._output import echo_json

        echo_json(summary_data(outcome))
        return
    test = outcome.summary.get("test", {})
    click.echo(f"trained: test accuracy {test.get('accuracy', float('nan')):.4f} ({outcome.run_dir})")
    kept = [v["variant"] for v in outcome.report["variants"] if v.get("passed")]
    click.echo(f"exported: {outcome.export_dir} (variants passing the gate: {', '.join(kept)}; "
               f"preferred {outcome.report['preferred_variant']})")
    if outcome.push is not None:
        p = outcome.push
        state = "new commit" if p.created_commit else "unchanged, no new commit"
        where = " (local hub serve)" if p.embedded else ""
        click.echo(f"published: {p.url}{where} @ {p.commit_sha[:12]} ({state})")
    if getattr(outcome, "verified", None):
        echo_verified(outcome.verified)


def summary_data(outcome) -> dict:
    data = {"run_dir": str(outcome.run_dir), "export_dir": str(outcome.export_dir), "train": outcome.summary,
            "gate": {v["variant"]: {k: v.get(k) for k in ("passed", "top1_agreement", "metric_drop_points",
                                                           "max_abs_diff", "failures")}
                     for v in outcome.report.get("variants", [])},
            "preferred_variant": outcome.report.get("preferred_variant")}
    if outcome.push is not None:
        p = outcome.push
        data["published"] = {"repo_id": p.repo_id, "commit_sha": p.commit_sha, "url": p.url,
                             "created_commit": p.created_commit, "endpoint": p.endpoint}
    if getattr(outcome, "verified", None):
        data["verified"] = outcome.verified
    return data


def echo_verified(verified: dict) -> None:
    """The summary table: each published variant as the deployer runs it, next to PyTorch."""
    from ._output import echo_table

    torch_acc = verified.get("pytorch_accuracy")
    rows = []
    for name, v in verified["variants"].items():
        size = f"{v['size_bytes'] / 1e6:.1f}" if isinstance(v.get("size_bytes"), int) else "-"
        rows.append((name, f"{torch_acc:.4f}" if torch_acc is not None else "-", f"{v['accuracy']:.4f}",
                     f"{v['top1_agreement_vs_fp32']:.4f}", size,
                     v.get("latency_ms_p50") if v.get("latency_ms_p50") is not None else "-"))
    click.echo(f"verified: pulled {verified['repo_id']}@{verified['commit_sha'][:12]} ({verified['files_verified']} "
               f"files sha256-checked) and ran it with hub.runtime on {verified['samples']} test examples:")
    echo_table(("variant", "pytorch acc", "onnx acc", "agree vs fp32", "size MB", "p50 ms"), rows)
