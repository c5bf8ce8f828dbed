"""``hub run``: the whole job for one recipe — train, export + gate, publish.

Each stage is the same public function its own verb calls (``hub train``,
``hub export``, ``hub push``), chained on plain paths, so ``hub run`` adds
no behaviour of its own beyond the order and the folder layout::

    OUT/run/      the run directory (resumable)
    OUT/export/   the gated ONNX export
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


def run(recipe: Recipe, registry: Registry, out: Path, *, publish: bool = True, repo: str | None = None,
        endpoint: str | None = None, resume: bool = False, progress: bool = True,
        on_stage: Callable[[str], None] | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
    from .export import export_run
    from .train.api import train

    out = Path(out)
    note = on_stage or (lambda message: log.info("%s", message))
    run_dir, export_dir = out / "run", out / "export"
    if not resume:
        from .fsutil import check_output_dir

        check_output_dir(out, "`hub run` folder", markers=("run",))
    note(f"train -> {run_dir}")
    result = train(recipe, run_dir, registry, resume=resume, progress=progress, on_epoch=on_epoch)
    note(f"export + validation gate -> {export_dir}")
    report = export_run(run_dir, export_dir, registry=registry)
    pushed = None
    if publish:
        from .publish import push

        repo_id = repo or recipe.publish.repo or f"zoo/{recipe.name}"
        note(f"publish -> {repo_id}@{recipe.publish.revision}")
        pushed = push(export_dir, repo_id, revision=recipe.publish.revision, tag=recipe.publish.tag or None,
                      private=recipe.publish.private, endpoint=endpoint)
    return Outcome(run_dir, export_dir, result.summary, report, pushed)
