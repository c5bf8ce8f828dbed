"""``hub run``: the whole job for one recipe — train, export + gate, publish.

Each stage is the same public function its own verb calls (``hub train``,
``hub export``, ``hub push``), chained on plain paths, so ``hub run`` adds
no behaviour of its own beyond the order and the folder layout::

    OUT/run/      the run directory (resumable)
    OUT/export/   the gated ONNX export
    OUT/pulled/   the pushed revision pulled back (sha256-verified) and run by hub.runtime on the test split
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .recipe import Recipe
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
        endpoint: str | None = None, resume: bool = False, progress: bool = True,
        on_stage: Callable[[str], None] | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
    from .export import export_run
    from .train.api import train

    out = Path(out)
    note = on_stage or (lambda message: log.info("%s", message))
    if not progress:  # --no-progress covers huggingface_hub's upload/download bars too
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    run_dir, export_dir = out / "run", out / "export"
    if not resume:
        from .fsutil import check_output_dir

        check_output_dir(out, "`hub run` folder", markers=("run",))
    note(f"train -> {run_dir}")
    result = train(recipe, run_dir, registry, resume=resume, progress=progress, on_epoch=on_epoch)
    note(f"export + validation gate -> {export_dir}")
    report = export_run(run_dir, export_dir, registry=registry)
    if not publish:
        return Outcome(run_dir, export_dir, result.summary, report)
    pushed = publish_stage(recipe, export_dir, repo, endpoint, note)
    verified = verify_stage(recipe, registry, out, pushed, result.summary, note)
    return Outcome(run_dir, export_dir, result.summary, report, pushed, verified)


def publish_stage(recipe: Recipe, export_dir: Path, repo: str | None, endpoint: str | None,
                  note: Callable[[str], None]) -> Any:
    """Push an export with the recipe's publish section (repo default ``zoo/NAME``); shared with ensembles."""
    from .publish import push

    repo_id = repo or recipe.publish.repo or f"zoo/{recipe.name}"
    note(f"publish -> {repo_id}@{recipe.publish.revision}")
    return push(export_dir, repo_id, revision=recipe.publish.revision, tag=recipe.publish.tag or None,
                private=recipe.publish.private, endpoint=endpoint)


def verify_stage(recipe: Recipe, registry: Registry, out: Path, pushed: Any, summary: dict[str, Any],
                 note: Callable[[str], None]) -> dict[str, Any]:
    """Pull the pushed commit into OUT/pulled and classify the test split with hub.runtime."""
    from .train.api import load_dataset
    from .verify import verify_published

    folder = out / "pulled"  # pull_dir replaces only an empty folder or a previous pull
    note(f"pull {pushed.repo_id}@{pushed.commit_sha[:12]} -> {folder}, verify with hub.runtime on the test split")
    data = load_dataset(recipe, registry)
    split = data.splits.get("test") or data.split("validation")
    return verify_published(pushed.repo_id, pushed.commit_sha, folder, split, endpoint=pushed.endpoint or None,
                            pytorch_accuracy=(summary.get("test") or summary.get("validation") or {}).get("accuracy"),
                            max_drop_points=recipe.export.max_metric_drop)

