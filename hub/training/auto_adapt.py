"""``adapt.method = "auto"``: train candidate methods, keep one chosen without target labels.

Layout of an auto run::

    RUN/auto.json                the plan (candidates, epochs, criterion): claims the folder, guides --resume
    RUN/candidates/NAME/         one complete run per candidate, exactly the run `hub train` with
                                 adapt.method = NAME (or no adapt, for "none") would make
    RUN/run.json, weights.safetensors, summary.json, metrics.jsonl, curves.png, confusion.png
                                 the chosen candidate's, so export, push and the card read an auto run
                                 like any other; summary.json["adaptation"]["auto"] is the audit trail

Each candidate is scored by every criterion of :mod:`hub.training.selection` on the
target's unlabelled *validation* split (never seen in adaptation) and the source's
labelled validation split; its target *test* accuracy is recorded for evaluation
only and never read by the choice. With ``epochs`` below ``train.epochs`` the
candidates are judged on that short budget and the chosen one is trained again
for the full run (``candidates/NAME-full``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..adapt_recipe import AUTO, NONE
from ..data import Split
from ..errors import HubError
from ..fsutil import atomic_write_json, check_output_dir
from ..job import Job
from .adapting import check_target
from .rundir import WEIGHTS, RunDirError, RunInfo, read_run_info, write_run_info
from . import selection
from .trainer import TrainingDiverged

log = logging.getLogger(__name__)

PLAN = "auto.json"
RECORDS = ("metrics.jsonl", "curves.png", "confusion.png")


def train_auto(job: Job, run_dir: Path, fit: Callable[..., Any], info: RunInfo, *, resume: bool) -> dict[str, Any]:
    """Run ``job`` (an auto recipe) into ``run_dir``; ``fit(job, run_dir, resume, label)`` trains one candidate.

    ``info`` (the auto run's run.json) is written when the folder is claimed, so an interrupted run is
    a run dir that `hub train --resume` recognises. Returns the summary (also written to summary.json)."""
    started = time.perf_counter()
    recipe = job.recipe
    options = dict(recipe.adapt.method)
    epochs = recipe.train.epochs
    names = candidate_names(job, options)
    budget = epochs if len(names) == 1 else options.get("epochs", epochs)  # one candidate: that method, once
    if budget > epochs:
        raise HubError(f"adapt.method.epochs = {budget} is more than train.epochs = {epochs}; the candidates' "
                       "budget is at most the run's (leave it out to train each for the whole run)")
    check_target(recipe, job.dataset, job.target)  # what every candidate needs: fail once, before any claim
    if "candidates" in options:
        _check_named(job, names)
    _claim(run_dir, resume, {"candidates": names, "epochs": budget, "criterion": options["criterion"]}, info)
    records = [_candidate(job, name, budget, run_dir / "candidates" / _slug(name), fit, resume,
                          f"candidate {i}/{len(names)}") for i, name in enumerate(names, 1)]
    trained = [r for r in records if "error" not in r]
    if not trained:
        raise HubError("adapt auto: no candidate could train (" + "; ".join(
            f"{r['method']}: {r['error']}" for r in records) + ")")
    data = _selection_data(job)
    for record in trained:
        record.update(_judge(job, Path(record.pop("_dir")), data))
    chosen, fallback = _choose(trained, options["criterion"], data, len(records))
    record = {"criterion": options["criterion"], "chosen": chosen["method"], "epochs": budget,
              "fallback": fallback, "data": data["described"], "candidates": records}
    final = run_dir / "candidates" / _slug(chosen["method"])
    if budget < epochs:  # judged on the short budget; the chosen method trains for the whole run
        final = final.with_name(final.name + "-full")
        if not (final / "summary.json").is_file():
            fit(job.derive(_candidate_recipe(recipe, chosen["method"], epochs)), final,
                (final / "run.json").is_file(), "the chosen method, whole run")
        record["retrained"] = str(final.relative_to(run_dir))
        record["retrained_target_test"] = _judge(job, final, data)["_target_test"]
    if fallback:
        log.warning("adapt auto: %s", fallback)
    return _adopt(job, final, run_dir, record, data, time.perf_counter() - started)


def _check_named(job: Job, names: list[str]) -> None:
    """A candidate the user named that cannot act with this recipe is their error: say so before any claim
    (the batch-norm check needs the built backbone and comes at its turn)."""
    from .adapting import MethodUnfit, check_fit
    from .strategies import make_strategy

    spec = job.components.backbone_spec
    frozen = make_strategy(job.recipe.train, [g.name for g in spec.layer_groups]).frozen_backbone
    for name in names:
        if name != NONE:
            try:
                check_fit(job.recipe, job.registry.get("adaptation", name).spec, frozen)
            except MethodUnfit as exc:
                raise HubError(f"adapt auto: candidate {name!r} cannot run: {exc}") from None


def candidate_names(job: Job, options: dict[str, Any]) -> list[str]:
    """The recipe's candidates, or "none" plus every installed method for the backbone's modality."""
    if "candidates" in options:
        names = list(options["candidates"])
    else:
        modality = job.components.backbone_spec.modality
        names = [NONE] + [c.qualified_name for c in job.registry.all("adaptation")
                          if modality in c.spec.modalities]
    excluded = set(options.get("exclude", ()))
    names = [n for n in names if n not in excluded]
    if not names:
        raise HubError("adapt auto: exclude leaves no candidate; exclude fewer methods")
    return names


def _candidate_recipe(recipe: Any, name: str, epochs: int) -> Any:
    adapt = None if name == NONE else dataclasses.replace(recipe.adapt, method={"name": name})
    return dataclasses.replace(recipe, adapt=adapt, train=dataclasses.replace(recipe.train, epochs=epochs))


def _slug(name: str) -> str:
    return name.replace(":", "-")


def _claim(run_dir: Path, resume: bool, plan: dict[str, Any], info: RunInfo) -> None:
    """run.json and auto.json first: they claim the folder, and a resume must find the same recipe and plan
    (finished candidates are reused, so a changed recipe would mix runs of two recipes)."""
    path = run_dir / PLAN
    if resume:
        if not path.is_file():
            raise RunDirError(f"{run_dir}: nothing to resume (no {PLAN}); start it without --resume")
        old, new = read_run_info(run_dir).recipe.to_dict(), info.recipe.to_dict()
        old.pop("source", None), new.pop("source", None)
        if old != new or json.loads(path.read_text()) != plan:
            diff = sorted(k for k in new if old.get(k) != new.get(k)) or ["adapt.method"]
            raise RunDirError(f"{run_dir} was made with a different recipe (differs in: {', '.join(diff)}); "
                              "resume with the same recipe or use a new run dir")
        return
    if (run_dir / "run.json").is_file() or path.is_file():
        raise RunDirError(f"{run_dir} already holds a run; pass --resume to continue it or choose a new --out")
    check_output_dir(run_dir, "run directory")
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, plan)
    write_run_info(run_dir, info)


def _candidate(job: Job, name: str, epochs: int, folder: Path, fit: Callable[..., Any], resume: bool,
               label: str) -> dict[str, Any]:
    """Train one candidate (or reuse it, on resume). One that cannot act with this recipe (a
    :class:`~hub.training.adapting.MethodUnfit`, from the default list) or that diverges is recorded, not fatal."""
    from .adapting import MethodUnfit

    record: dict[str, Any] = {"method": name, "run_dir": str(Path("candidates") / folder.name)}
    if not (resume and (folder / "summary.json").is_file()):
        try:
            fit(job.derive(_candidate_recipe(job.recipe, name, epochs)), folder,
                resume and (folder / "run.json").is_file(), f"{label}: {name}")
        except TrainingDiverged as exc:
            return {**record, "error": f"diverged: {exc}"}
        except MethodUnfit as exc:
            return {**record, "error": f"skipped: {exc}"}
    record["seconds"] = json.loads((folder / "summary.json").read_text()).get("seconds")
    record["_dir"] = str(folder)
    return record


def _selection_data(job: Job) -> dict[str, Any]:
    """The splits the criteria read: the target's validation split (labels dropped) and the source's.

    Falls back, and says so, to the target's unlabelled training pool and the source training split."""
    target, source = job.target, job.dataset
    described: dict[str, Any] = {}
    notes: list[str] = []
    held_out = target.splits.get("validation")
    if held_out is not None and len(held_out):
        t_split, described["target"] = held_out, "validation split"
    else:
        t_split, described["target"] = target.pool(), "unlabelled training pool"
        notes.append(f"target {target.name!r} has no validation split, so the criterion reads the unlabelled "
                     "data the methods adapted on")
    s_split = source.splits.get("validation")
    if s_split is not None and len(s_split):
        described["source"] = "validation"
    else:
        s_split, described["source"] = source.split("train"), "train"
        notes.append(f"source {source.name!r} has no validation split, so the criterion reads its training split")
    described.update(target_examples=len(t_split), source_examples=len(s_split))
    # fewer target examples than this and no criterion is computed: two per class, at least 20
    minimum = max(20, 2 * source.num_classes)
    return {"target": Split(t_split.inputs), "source": s_split, "test": target.split("test"),
            "described": described, "notes": notes, "minimum": minimum}


def _outputs(model: torch.nn.Module, split: Split, encoder: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Backbone features and head logits of a whole split (eval mode, CPU)."""
    from .data import batch_plan, iterate

    device = next(model.parameters()).device
    features, logits = [], []
    with torch.no_grad():
        for inputs, _ in iterate(Split(split.inputs, np.zeros(len(split), dtype=np.int64)), encoder,
                                 batch_plan(len(split), 256, shuffle=False, seed=0, epoch=0), device):
            f = model.backbone(*inputs).float()
            features.append(f.cpu())
            logits.append(model.head(f).float().cpu())
    return torch.cat(features), torch.cat(logits)


def _judge(job: Job, folder: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Every criterion for one trained candidate, and (for the audit only) its target test accuracy."""
    from ..model import build_task
    from .data import InputEncoder
    from .distributed import select_device
    from .rundir import load_run

    info, comps, model = load_run(folder, job.registry, job=job)
    model = model.to(select_device(job.recipe.train.device))  # the run's device: the GPU when it trained there
    encoder = InputEncoder(info.input, job.tokenizer)
    t_features, t_logits = _outputs(model, data["target"], encoder)
    s_features, s_logits = _outputs(model, data["source"], encoder)
    source_labels = torch.as_tensor(np.asarray(data["source"].labels), dtype=torch.long)
    enough = len(t_logits) >= data["minimum"]
    scores = selection.scores(t_features, t_logits, s_features, s_logits, source_labels) if enough else {}
    own = json.loads((folder / "summary.json").read_text()).get("target", {}).get("test")
    if isinstance(own, dict) and "accuracy" in own:  # the run's own report (its precision, its task options)
        test_metrics = own
    else:  # "none" trained without a target: measured here, in fp32
        _, test_logits = _outputs(model, data["test"], encoder)
        task = build_task(comps.task, {}, len(info.label_names))
        test_metrics = task.metrics(test_logits, torch.as_tensor(np.asarray(data["test"].labels), dtype=torch.long))
    return {"scores": scores,
            "source_validation_accuracy": round(float((s_logits.argmax(1) == source_labels).float().mean()), 6),
            "target_test_accuracy": round(float(test_metrics["accuracy"]), 6),
            "_target_test": {k: float(v) for k, v in test_metrics.items()}}


def _choose(records: list[dict[str, Any]], criterion: str, data: dict[str, Any],
            total: int) -> tuple[dict[str, Any], str | None]:
    """The best candidate by ``criterion``; when it cannot be computed, the best source validation accuracy."""
    notes = list(data["notes"])
    if len(records) == 1:
        if total > 1:
            notes.append(f"only {records[0]['method']} of {total} candidates trained (the others' errors are in "
                         "candidates); nothing was compared")
        return records[0], "; ".join(notes) or None
    chosen = selection.best(records, criterion)
    if chosen is None:
        described = data["described"]
        why = (f"the target's {described['target']} has {described['target_examples']} examples, fewer than "
               f"{data['minimum']}" if described["target_examples"] < data["minimum"] else
               "it failed on these data (too few examples of a domain for its folds)")
        split = "validation" if described["source"] == "validation" else "training-split"
        notes.append(f"criterion {criterion!r} could not be computed ({why}); chose by source {split} accuracy "
                     "instead")
        chosen = max(records, key=lambda r: (r["source_validation_accuracy"], -records.index(r)))
    return chosen, "; ".join(notes) or None


def _adopt(job: Job, final: Path, run_dir: Path, record: dict[str, Any], data: dict[str, Any],
           seconds: float) -> dict[str, Any]:
    """The chosen run's weights and records become the auto run's; run.json names the auto recipe."""
    summary = json.loads((final / "summary.json").read_text())
    chosen = next(r for r in record["candidates"] if r["method"] == record["chosen"])
    target_test = chosen.pop("_target_test")
    for r in record["candidates"]:
        r.pop("_target_test", None)
    if record.get("retrained"):  # the shipped, full run's target numbers, not the short budget's
        target_test = record.pop("retrained_target_test")
    adaptation = summary.get("adaptation") or {"method": NONE, "target": job.target.name,
                                                "weight": job.recipe.adapt.weight, "target_examples": len(job.target.pool())}
    summary["adaptation"] = {**adaptation, "method": AUTO, "chosen": record["chosen"], "auto": record}
    summary["target"] = {"dataset": job.target.name, "test": target_test}
    summary["seconds"] = round(seconds, 2)
    for name in (WEIGHTS, *RECORDS):
        if (final / name).is_file():
            tmp = run_dir / f".{name}.auto.tmp"
            shutil.copyfile(final / name, tmp)
            os.replace(tmp, run_dir / name)
    write_run_info(run_dir, dataclasses.replace(read_run_info(final), recipe=job.recipe))
    atomic_write_json(run_dir / "summary.json", summary)
    return summary
