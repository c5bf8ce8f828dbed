"""Ensemble zoo entries: the ``ensemble`` key of zoo.toml and what ``hub run ENTRY`` does with it.

An entry with an ``ensemble`` table is run as: train every member into ``OUT/members/NAME``,
combine them with :func:`hub.exporting.export_ensemble` into ``OUT/export`` (gated on the entry's
own dataset, with the entry's ``export`` settings), then push as any export (the entry's
``publish`` settings)::

    [entries.digits-ensemble]
    backbone = { name = "efficientnet-lite0", image_size = 64 }
    dataset = "digits"
    ensemble = { seeds = [0, 1, 2] }              # the entry's own recipe, once per train.seed
    # ensemble = { members = ["entry-a", "entry-b"], weights = [2, 1] }   # other entries

``members`` (other entries, trained with their own recipes) come first, then one member per
seed of the entry's own recipe (``seed0``, ``seed1``...); ``weights`` follow that order. The
``[ensemble]`` table is validated by :func:`hub.recipes.parse_ensemble_section` (zoo.py reads it
while listing the catalogue); this module runs the job.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ZooError
from .recipes import FieldError, Recipe, parse_ensemble_section
from .registry import Registry

log = logging.getLogger(__name__)

def runner_for(entry: str | None, zoo_path: str | None, overrides: Sequence[str] = ()) -> Callable[..., Any] | None:
    """A drop-in for :func:`hub.pipeline.run` when ``entry`` is an ensemble entry; ``None`` otherwise.

    ``overrides`` are the command line's ``--set`` assignments, so ``--set ensemble.seeds=[0,1]``
    changes the members as ``--set train.epochs=3`` changes their recipe.
    """
    if entry is None:
        return None
    from .zoo import apply_override, load_catalogue

    catalogue = load_catalogue(zoo_path)
    catalogue.entry(entry)
    raw = copy.deepcopy(catalogue.raw[entry])
    for assignment in overrides:
        apply_override(raw, assignment)
    if "ensemble" not in raw:
        return None
    try:
        section = parse_ensemble_section(raw["ensemble"])
    except FieldError as exc:
        raise ZooError(f"command line: entries.{entry}.{'.'.join(exc.path)}: {exc}") from None
    return functools.partial(run, section=section, catalogue=catalogue)


def member_recipes(recipe: Recipe, section: Mapping[str, Any], catalogue: Any, registry: Registry) -> list[tuple[str, Recipe]]:
    """(member name, recipe) in ensemble order; every member recipe is resolved before anything trains."""
    members = []
    for name in section["members"]:
        other = catalogue.entry(name)
        if getattr(other, "ensemble", None) is not None:
            raise ZooError(f"{catalogue.path}: entry {recipe.name!r}: member {name!r} is itself an ensemble entry; "
                           "list entries that train one model")
        members.append((name, catalogue.recipe(name, registry)))
    for seed in section["seeds"]:
        members.append((f"seed{seed}", dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, seed=seed))))
    names = [n for n, _ in members]
    if len(set(names)) != len(names):
        raise ZooError(f"{catalogue.path}: entry {recipe.name!r}: member names {names} repeat; rename the entry")
    _check_contracts(recipe.name, members, registry)
    return members


def _check_contracts(entry: str, members: list[tuple[str, Recipe]], registry: Registry) -> None:
    """Fail before hours of training when members cannot share one preprocessing."""
    from .model import input_contract

    contracts = {}
    for name, recipe in members:
        spec = registry.get("backbone", recipe.backbone.name).spec
        contracts[name] = (spec.modality, input_contract(spec, recipe), tuple(spec.input_names))
    first = members[0][0]
    odd = [n for n, c in contracts.items() if c != contracts[first]]
    if odd:
        shown = "; ".join(f"{n}: {contracts[n][0]} {contracts[n][1]}" for n in [first, *odd])
        raise ZooError(f"ensemble entry {entry!r}: members differ in their input contract ({shown}); one "
                       "preprocessing feeds the ensemble, so give every member the same backbone input "
                       "(e.g. the same image_size)")


def run(recipe: Recipe, registry: Registry, out: Path, *, section: Mapping[str, Any], catalogue: Any,
        publish: bool = True, repo: str | None = None, endpoint: str | None = None, resume: bool = False,
        progress: bool = True, force: bool = False, on_stage: Callable[[str], None] | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None) -> Any:
    """Train the members, export + gate the ensemble, publish; returns a :class:`hub.pipeline.Outcome`.

    ``OUT/members/NAME`` are ordinary run directories (``--resume`` continues each one that
    exists); ``OUT/export`` is the ensemble export. As for one model (:mod:`hub.stages`), the members'
    training and the ensemble export are reused when their inputs — every member's recipe, code and
    data, the ensemble section, the export section — did not change (``force`` redoes them).
    """
    from .exporting.ensemble import export_ensemble
    from .job import plan
    from .pipeline import Outcome, _read_json, publish_stage
    from .stages import StageLog, digest

    out = Path(out)
    note = on_stage or (lambda message: log.info("%s", message))
    if not resume:  # new, empty, or an earlier ensemble job's folder: nothing else is ever replaced
        from .fsutil import check_output_dir

        check_output_dir(out, "`hub run` ensemble folder", markers=("members",))
    members = member_recipes(recipe, section, catalogue, registry)
    run_dirs = [out / "members" / name for name, _ in members]
    stages = StageLog(out)
    inputs = {"members": digest({name: plan(member, registry).fingerprints for name, member in members}),
              "ensemble": digest(dict(section))}

    def finished() -> bool | None:
        return True if all((d / "summary.json").is_file() for d in run_dirs) else None

    stages.stage("train", inputs, label="train members", where=out / "members", unchanged="members unchanged",
                 reuse=finished, redo=lambda: _train_members(members, run_dirs, registry, resume, progress, on_epoch,
                                                             note),
                 note=note, force=force, why="resumed" if resume else None)
    export_dir = out / "export"
    export_inputs = {"train": digest(inputs), "recipe": digest(recipe.to_dict()["export"])}
    report = stages.stage(
        "export", export_inputs, label="ensemble export + validation gate", where=export_dir,
        unchanged="members and export section unchanged", reuse=lambda: _read_json(export_dir / "report.json"),
        redo=lambda: export_ensemble(run_dirs, export_dir, weights=section.get("weights"),
                                     names=[n for n, _ in members], name=recipe.name, dataset=recipe.dataset,
                                     export_config=recipe.export, registry=registry),
        note=note, force=force)
    pushed = publish_stage(recipe, export_dir, repo, endpoint, note) if publish else None
    record = report["ensemble"]
    summary = {record["split"]: record["metrics"], "members": {m["name"]: m["gate_metrics"] for m in record["members"]}}
    return Outcome(out / "members", export_dir, summary, report, pushed)


def _train_members(members, run_dirs, registry, resume, progress, on_epoch, note) -> bool:
    """Each member into its run folder; a finished folder from an older recipe is replaced only once the
    new run is complete (:func:`hub.stages.replacing`)."""
    import contextlib

    from .stages import replacing
    from .training.api import train

    for (name, member), run_dir in zip(members, run_dirs):
        note(f"train member {name} ({member.name}, seed {member.train.seed}) -> {run_dir}")
        again = resume and (run_dir / "run.json").is_file()
        with contextlib.nullcontext() if again else replacing(run_dir):
            train(member, run_dir, registry, resume=again, progress=progress, on_epoch=on_epoch)
    return True
