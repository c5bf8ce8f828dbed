"""``hub run``: the whole job for one recipe — train, export + gate, publish.

Each stage is the same public function its own verb calls (``hub train``,
``hub export``, ``hub push``), chained on plain paths, so ``hub run`` adds
no behaviour of its own beyond the order and the folder layout::

    OUT/run/      the run directory (resumable)
    OUT/export/   the gated ONNX export
    OUT/pulled/   the pushed revision pulled back (sha256-verified) and run by hub.runtime on the test split
    OUT/stages.json  fingerprints of each finished stage's inputs: a re-run reuses what did not change
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .recipes import Recipe
from .registry import Registry

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    run_dir: Path
    export_dir: Path
    summary: dict[str, Any]
    report: dict[str, Any]
    push: Any = None  # hub.publish.PushResult, or None with publish off
    verified: dict[str, Any] | None = None  # hub.verify.verify_published: the pulled revision, run by hub.runtime


def run(recipe: Recipe, registry: Registry, out: Path, *, publish: bool = True, repo: str | None = None,
        endpoint: str | None = None, resume: bool = False, progress: bool = True, force: bool = False,
        on_stage: Callable[[str], None] | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
    """The whole job; a stage whose inputs did not change since the last run into ``out`` is reused
    (:mod:`hub.stages`) unless ``force``. ``resume`` continues an interrupted training."""
    from .progress import shown

    out = Path(out)
    note = on_stage or (lambda message: log.info("%s", message))
    if not resume:
        from .fsutil import check_output_dir

        check_output_dir(out, "`hub run` folder", markers=("run",))
    with shown(progress):
        return _run(recipe, registry, out, publish, repo, endpoint, resume, progress, force, note, on_epoch)


def _run(recipe, registry, out, publish, repo, endpoint, resume, progress, force, note, on_epoch) -> Outcome:
    from .exporting.pipeline import export_run
    from .job import plan
    from .stages import StageLog, digest, replacing
    from .training.api import train

    run_dir, export_dir = out / "run", out / "export"
    stages = StageLog(out)
    job = plan(recipe, registry)  # resolved once: every stage below reads this job
    inputs = job.fingerprints

    def train_again() -> dict[str, Any]:
        with contextlib.nullcontext() if resume else replacing(run_dir):
            return train(recipe, run_dir, registry, resume=resume, progress=progress, on_epoch=on_epoch,
                         job=job).summary

    summary = stages.stage("train", inputs, label="train", where=run_dir, unchanged="recipe, code and data unchanged",
                           reuse=lambda: _read_json(run_dir / "summary.json"), redo=train_again, note=note,
                           force=force, why="resumed" if resume else None)
    export_inputs = {"train": digest(inputs), "recipe": digest(recipe.to_dict()["export"])}
    report = stages.stage(  # export_run replaces a previous export atomically
        "export", export_inputs, label="export + validation gate", where=export_dir,
        unchanged="run and export section unchanged", reuse=lambda: _read_json(export_dir / "report.json"),
        redo=lambda: export_run(run_dir, export_dir, registry=registry, job=job, **export_options(recipe)),
        note=note, force=force)
    if not publish:
        return Outcome(run_dir, export_dir, summary, report)
    pushed = publish_stage(recipe, export_dir, repo, endpoint, note)  # always asked: the server is the truth
    verify_inputs = {"commit": f"{pushed.repo_id}@{pushed.commit_sha}", "export": digest(export_inputs),
                     "data": inputs["data"]}
    verified = stages.stage(
        "verify", verify_inputs, label="pull + verify", where=out / "pulled",
        unchanged="this commit was verified before",
        reuse=lambda: stages.result("verify") if (out / "pulled").is_dir() else None,
        redo=lambda: verify_stage(job.recipe, job.dataset, out, pushed, summary, note), note=note, force=force,
        keep=lambda result: result)
    return Outcome(run_dir, export_dir, summary, report, pushed, verified)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # gone or damaged: the stage runs again


def export_options(recipe: Recipe) -> dict[str, Any]:
    """The job's export section, passed explicitly: a reused run's run.json holds the section it was
    trained with, and a changed export section must act without retraining."""
    from .exporting.pipeline import GateOptions
    cfg = recipe.export
    gate_options = GateOptions(atol=cfg.atol, rtol=cfg.rtol, max_metric_drop=cfg.max_metric_drop,
                               min_agreement=cfg.min_agreement or None, allow_few_samples=cfg.allow_few_samples)
    return {"opset": cfg.opset, "quantize": list(cfg.quantize), "target": cfg.target, "gate_options": gate_options}


def publish_stage(recipe: Recipe, export_dir: Path, repo: str | None, endpoint: str | None,
                  note: Callable[[str], None]) -> Any:
    """Push an export with the recipe's publish section (repo default ``zoo/NAME``); shared with ensembles."""
    from .publish import push

    repo_id = repo or recipe.publish.repo or f"zoo/{recipe.name}"
    note(f"publish -> {repo_id}@{recipe.publish.revision}")
    return push(export_dir, repo_id, revision=recipe.publish.revision, tag=recipe.publish.tag or None,
                private=recipe.publish.private, endpoint=endpoint)


def verify_stage(recipe: Recipe, data: Any, out: Path, pushed: Any, summary: dict[str, Any],
                 note: Callable[[str], None]) -> dict[str, Any]:
    """Pull the pushed commit into OUT/pulled and classify ``data``'s test split with hub.runtime."""
    from .verify import verify_published

    folder = out / "pulled"  # pull_dir replaces only an empty folder or a previous pull
    note(f"pull {pushed.repo_id}@{pushed.commit_sha[:12]}, verify with hub.runtime on the test split")
    split = data.splits.get("test") or data.split("validation")
    return verify_published(pushed.repo_id, pushed.commit_sha, folder, split, endpoint=pushed.endpoint or None,
                            pytorch_accuracy=(summary.get("test") or summary.get("validation") or {}).get("accuracy"),
                            max_drop_points=recipe.export.max_metric_drop)
