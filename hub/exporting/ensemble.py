"""``export_ensemble``: K trained runs -> ONE gated ONNX graph that averages their probabilities.

Members are run directories from ``hub train`` (different seeds, backbones or source domains).
They must share the label set (same ``label_names``, same order), the modality, the input
contract and input names (one preprocessing feeds the single graph) and the task; for text,
the same tokenizer. Anything else is one :class:`EnsembleError` naming the members and what
differs, raised before anything is written.

The graph is :class:`hub.exporting.ensemble_model.EnsembleModel` (output ``logits`` =
``log(sum_k w_k softmax(z_k))``, so the runtime's softmax gives the averaged probabilities) and
it goes through the same export, gate, variants and packaging as one run
(:func:`hub.exporting.build.build`), gated against the members' averaged PyTorch output.
Before that, the members are run once on the gate's samples: each member's metric, the
ensemble's, and a float64 check that the module's average is the mean of the members'
softmax go into ``config.json`` and ``report.json``. Layout of the folder::

    OUT/onnx/model.onnx [+ variants]   one graph: every member and the average
    OUT/config.json report.json test_data_set_0/   as any export; config.json has "ensemble"
    OUT/summary.json                   the ensemble's metrics on the gate samples (for the card)
    OUT/members/NAME/model.safetensors run.json [summary.json]   so `hub validate` can rebuild it
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import logging
import math
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..fsutil import atomic_dir, atomic_write_json
from ..recipes import ComponentRef, ExportConfig, build_section
from ..runtime.session import inside
from . import package, samples
from ..errors import EnsembleError, ExportError, GateError  # noqa: F401 (defined in hub.errors, importable here)
from .onnx_export import EXTERNAL_DATA_THRESHOLD
from .build import REPORT, ExportPlan, GateOptions, build, make_task, registry_or_default, wanted_variants
from .formats import check_tools, parse

log = logging.getLogger(__name__)

MEMBERS = "members"
COMBINATION = "log of the weighted mean of the members' softmax probabilities (softmax(logits) = that mean)"
#: float64 mean of the members' softmax vs the module's float32 average: anything above is a bug.
AVERAGE_ATOL = 1e-5


@dataclass
class Member:
    name: str
    run_dir: Path
    info: Any  # hub.training.rundir.RunInfo
    comps: Any  # hub.model.Components
    model: Any  # hub.model.HubModel
    summary: dict[str, Any]


def member_names(run_dirs: Sequence[Path]) -> list[str]:
    """Names from the folders (``OUT/run`` from ``hub run`` is named after OUT), made unique."""
    names: list[str] = []
    for path in run_dirs:
        path = Path(path).resolve()
        base = path.parent.name if path.name == "run" else path.name
        base = re.sub(r"[^a-z0-9_.-]+", "-", base.lower()).strip("-.") or "member"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    return names


def normalise_weights(weights: Sequence[Any] | None, count: int) -> list[float]:
    """Positive finite weights, one per member, scaled to sum to 1 (``None``: all equal)."""
    if weights is None:
        return [1.0 / count] * count
    values = list(weights)
    if len(values) != count:
        raise EnsembleError(f"{len(values)} weights for {count} members; give one weight per member, in order")
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise EnsembleError(f"weights {values!r}: not numbers; give positive numbers such as 1,2,1") from None
    if not all(math.isfinite(v) and v > 0 for v in numbers):
        raise EnsembleError(f"weights {numbers}: every weight must be a positive finite number")
    total = sum(numbers)
    return [v / total for v in numbers]


def check_out(out: Path, run_dirs: Sequence[Path]) -> None:
    """``--out`` may be new, empty, or a previous export (replaced atomically); nothing else."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EnsembleError(f"--out {out} is a file; choose a folder")
    for run_dir in run_dirs:
        if Path(run_dir).resolve().is_relative_to(out.resolve()):
            raise EnsembleError(f"member run dir {run_dir} lies inside --out {out}, which would be replaced; "
                                "choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise EnsembleError(f"--out {out} is a non-empty folder that is not a hub export (no config.json); "
                            "refusing to replace it: choose a new folder or empty it")


def load_members(run_dirs: Sequence[Path], registry: Any, names: Sequence[str] | None = None,
                 weights: str = "weights.safetensors") -> list[Member]:
    """Rebuild every member from its run directory (``load_run``), in order."""
    from ..training.rundir import load_run

    names = list(names) if names is not None else member_names(run_dirs)
    members = []
    for name, run_dir in zip(names, run_dirs):
        run_dir = Path(run_dir)
        info, comps, model = load_run(run_dir, registry, weights=weights)
        members.append(Member(name, run_dir, info, comps, model, _read_summary(run_dir)))
    return members


def _read_summary(run_dir: Path) -> dict[str, Any]:
    """The run's summary.json (its own test metrics); a missing or damaged one only costs that column."""
    try:
        data = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _tokenizer_digest(member: Member) -> str:
    from ..weights import resolve_weights

    folder = Path(resolve_weights(member.comps.backbone_spec)[0])
    path = folder / "tokenizer.json"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else f"(no tokenizer.json in {folder})"


def check_compatible(members: Sequence[Member]) -> None:
    """One error for the first way the members differ: labels, modality, input contract, inputs, task, tokenizer."""
    first = members[0]

    def fail(what: str, facts: dict[str, Any], fix: str) -> None:
        odd = [m for m in members if facts[m.name] != facts[first.name]]
        if odd:
            shown = "; ".join(f"{m.name} ({m.run_dir}): {facts[m.name]}" for m in [first, *odd])
            raise EnsembleError(f"ensemble members differ in {what}: {shown}; {fix}")

    labels = {m.name: list(m.info.label_names) for m in members}
    same_set = all(sorted(v) == sorted(labels[first.name]) for v in labels.values())
    fail("label order" if same_set else "label set", labels,
         "members must share label_names in the same order (train them on the same labels)")
    fail("modality", {m.name: m.info.modality for m in members}, "combine image models with image models only")
    contracts = {m.name: dataclasses.asdict(m.info.input) for m in members}
    differing = sorted({k for c in contracts.values() for k, v in c.items() if contracts[first.name].get(k) != v})
    fail(f"input contract ({', '.join(differing)})",
         {n: {k: c.get(k) for k in differing} for n, c in contracts.items()},
         "one preprocessing feeds the ensemble: train every member with the same input contract "
         "(e.g. the same backbone.image_size)")
    fail("model inputs", {m.name: list(m.comps.backbone_spec.input_names) for m in members},
         "members must take the same inputs")
    fail("task", {m.name: m.comps.task.qualified_name for m in members}, "members must solve the same task")
    if first.info.modality == "text":
        fail("tokenizer (sha256 of tokenizer.json)", {m.name: _tokenizer_digest(m) for m in members},
             "text members must share the tokenizer")


def _gate_context(first: Member, registry: Any, dataset: ComponentRef | str | Mapping | None,
                  export_config: ExportConfig | None) -> tuple[Any, Any]:
    """The first member's run facts with the gate's dataset and the ensemble's export settings."""
    info, comps = first.info, first.comps
    recipe = info.recipe
    if dataset is not None:
        if isinstance(dataset, str):
            dataset = ComponentRef(dataset)
        elif isinstance(dataset, Mapping):
            dataset = ComponentRef(dataset["name"], dict(dataset.get("options", {})))
        component = registry.get("dataset", dataset.name)
        if component.spec.modality != info.modality:
            raise EnsembleError(f"gate dataset {dataset.name!r} holds {component.spec.modality} data; the members "
                                f"read {info.modality}")
        comps = dataclasses.replace(comps, dataset=component)
        recipe = dataclasses.replace(recipe, dataset=ComponentRef(component.qualified_name, dict(dataset.options)))
    if export_config is not None:
        recipe = dataclasses.replace(recipe, export=export_config)
    return dataclasses.replace(info, recipe=recipe), comps


def _softmax64(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def evaluate(model: Any, members: Sequence[Member], info: Any, comps: Any, options: GateOptions,
             tokenizer: Path | None, dataset: Any, batch: int = 64) -> dict[str, Any]:
    """Each member's and the ensemble's metrics on the gate samples, and the averaging check."""
    import torch

    if tuple(dataset.label_names) != tuple(info.label_names):
        raise EnsembleError(f"gate dataset {dataset.name!r} has labels {list(dataset.label_names)}, the members "
                            f"{list(info.label_names)}; gate on a dataset with the members' labels")
    raw, labels = samples.split_samples(dataset, options.split, options.max_samples)
    names = comps.backbone_spec.input_names
    encode = samples.make_encoder(info.input, names, tokenizer)
    chunks = []
    with torch.no_grad():
        for feeds, _ in samples.batches(raw, labels, encode, batch):
            chunks.append(model.member_logits(*(torch.from_numpy(feeds[n]) for n in names)))
        logits = torch.cat(chunks, dim=1)
        combined = model.combine(logits)
    mean = sum(w * _softmax64(z) for w, z in zip(model.weights, logits.numpy()))
    diff = float(np.abs(np.exp(combined.double().numpy()) - mean).max())
    if not diff <= AVERAGE_ATOL:
        raise GateError(f"the ensemble module's probabilities differ from the mean of its members' by {diff:.3g} "
                        f"(> {AVERAGE_ATOL:g}); nothing exported")
    task = make_task(comps, info)
    target = torch.from_numpy(labels)
    return {"split": options.split, "samples": int(len(labels)), "primary_metric": comps.task.spec.primary_metric,
            "members": [task.metrics(logits[k], target) for k in range(len(members))],
            "metrics": task.metrics(combined, target), "average_max_abs_diff": diff}


def _record(members: Sequence[Member], weights: Sequence[float], given: Sequence[float] | None,
            evaluation: dict[str, Any], info: Any, export_config: ExportConfig) -> dict[str, Any]:
    rows = []
    for k, m in enumerate(members):
        recipe = m.info.recipe
        rows.append({
            "name": m.name, "dir": f"{MEMBERS}/{m.name}", "run_dir": str(m.run_dir), "recipe": recipe.name,
            "backbone": m.comps.backbone.qualified_name, "head": m.comps.head.qualified_name,
            "dataset": m.comps.dataset.qualified_name, "strategy": recipe.train.strategy, "seed": recipe.train.seed,
            "weight": weights[k], "weight_given": None if given is None else float(given[k]),
            "test": {key: v for key, v in (m.summary.get("test") or {}).items() if isinstance(v, (int, float))},
            "gate_metrics": evaluation["members"][k]})
    primary = evaluation["primary_metric"]
    best = max(range(len(rows)), key=lambda k: evaluation["members"][k][primary])
    return {"combination": COMBINATION, "members": rows, "weights": list(weights),
            "dataset": {"name": info.recipe.dataset.name, "options": dict(info.recipe.dataset.options)},
            "export": dataclasses.asdict(export_config),
            "split": evaluation["split"], "samples": evaluation["samples"], "primary_metric": primary,
            "metrics": evaluation["metrics"], "best_member": rows[best]["name"],
            "best_member_metrics": evaluation["members"][best],
            "average_max_abs_diff": evaluation["average_max_abs_diff"]}


def _customize(name: str, members: Sequence[Member], record: dict[str, Any]):
    def apply(config: dict[str, Any]) -> None:
        config["name"] = name
        config["ensemble"] = record
        backbones = {m.comps.backbone.qualified_name for m in members}
        if len(backbones) > 1:  # one backbone record would be a lie; the members list says it all
            config["backbone"] = {
                "name": "ensemble", "family": "ensemble", "qualified_name": None, "base_model": None,
                "members": [m.comps.backbone.name for m in members],
                "num_params": sum(m.comps.backbone_spec.num_params or 0 for m in members) or None,
                "weights": {"kind": "members", "description": "each member's own; see ensemble.members"},
                "options": {}}
        licenses = {str(m.comps.backbone_spec.license).lower() for m in members}
        config["license"] = members[0].comps.backbone_spec.license if len(licenses) == 1 else "other"
        config["head"] = {"name": "probability-average", "options": {"weights": record["weights"]}}
    return apply


def _copy_files(members: Sequence[Member], record: dict[str, Any]):
    def copy(tmp: Path) -> None:
        for m in members:
            dest = tmp / MEMBERS / m.name
            dest.mkdir(parents=True)
            shutil.copy2(m.run_dir / "weights.safetensors", dest / package.WEIGHTS)
            for extra in ("run.json", "summary.json"):
                if (m.run_dir / extra).is_file():
                    shutil.copy2(m.run_dir / extra, dest / extra)
        summary = {record["split"]: record["metrics"], "samples": record["samples"],
                   "ensemble": {"members": len(members), "best_member": record["best_member"],
                                "best_member_metrics": record["best_member_metrics"]}}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return copy


def export_ensemble(run_dirs: Sequence[str | Path], out: str | Path, *, weights: Sequence[Any] | None = None,
                    names: Sequence[str] | None = None, name: str | None = None,
                    dataset: ComponentRef | str | None = None, export_config: ExportConfig | None = None,
                    opset: int | None = None, quantize: Sequence[str] | None = None, target: str | None = None,
                    gate_options: GateOptions | None = None, registry: Any = None,
                    external_data_threshold: int = EXTERNAL_DATA_THRESHOLD, bench_iters: int = 20) -> dict[str, Any]:
    """Combine trained runs into one gated ONNX export in ``out``; returns the report (also report.json).

    ``weights``: one positive number per member (normalised; default equal). ``names``: member
    names (default from the folders). ``dataset``: the dataset whose ``gate_options.split`` the
    gate runs on (default the first member's). ``export_config``: opset, quantize, tolerances
    (default the first member's recipe). Raises :class:`EnsembleError` on members that do not fit
    together and :class:`GateError` when the graph does not behave like the averaged members.
    """
    from .ensemble_model import EnsembleModel

    run_dirs, out = [Path(p) for p in run_dirs], Path(out)
    if len(run_dirs) < 2:
        raise EnsembleError(f"an ensemble needs at least two run directories, got {len(run_dirs)}")
    if names is not None and (len(names) != len(run_dirs) or len(set(names)) != len(names)):
        raise EnsembleError(f"member names {list(names)}: give one unique name per run directory")
    normalised = normalise_weights(weights, len(run_dirs))
    check_out(out, run_dirs)
    options = gate_options or GateOptions()
    registry = registry_or_default(registry)
    members = load_members(run_dirs, registry, names)
    check_compatible(members)
    cfg = export_config or members[0].info.recipe.export
    formats = parse(None, default=getattr(cfg, "formats", ["onnx"]))
    check_tools(formats)  # before the members are evaluated
    info, comps = _gate_context(members[0], registry, dataset, cfg)
    target = target or cfg.target
    tokenizer = None
    if info.modality == "text":
        from ..weights import resolve_weights

        tokenizer = Path(resolve_weights(comps.backbone_spec)[0])
    model = EnsembleModel([m.model for m in members], normalised)
    dataset = samples.load_dataset(info, comps)  # once: the members' check and the gate read the same splits
    evaluation = evaluate(model, members, info, comps, options, tokenizer, dataset)
    record = _record(members, model.weights, weights, evaluation, info, cfg)
    export = ExportPlan(run_dir=run_dirs[0], out=out, info=info, comps=comps, model=model, tokenizer=tokenizer,
                        dataset=dataset, opset=cfg.opset if opset is None else int(opset),
                        wanted=wanted_variants(cfg, quantize, target), target=target, options=options,
                        tolerances=options.resolve(cfg), threshold=external_data_threshold, bench_iters=bench_iters,
                        formats=formats, customize=_customize(name or out.name, members, record),
                        copy_files=_copy_files(members, record))
    export.where = f"ensemble of {', '.join(m.name for m in members)}"
    try:
        with atomic_dir(out) as tmp:
            report = build(tmp, export)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ExportError(f"disk full while writing the ensemble next to {out}; nothing was kept") from exc
        raise ExportError(f"writing the ensemble to {out} failed: {exc}; nothing was kept") from exc
    report.pop("run_dir", None)
    report["ensemble"] = record
    atomic_write_json(out / REPORT, report)
    log.info("%s -> %s: %s %.4f (best member %s %.4f)", export.where, out, record["primary_metric"],
             record["metrics"][record["primary_metric"]], record["best_member"],
             record["best_member_metrics"][record["primary_metric"]])
    return report


def load_ensemble_export(export_dir: Path, config: Mapping[str, Any], registry: Any) -> tuple[Any, Any, Any]:
    """``(info, comps, model)`` of an ensemble export, rebuilt from ``members/`` (for ``hub validate``)."""
    from .ensemble_model import EnsembleModel

    export_dir = Path(export_dir)
    record = config["ensemble"]
    rows = record.get("members") or []
    for row in rows:
        if not inside(export_dir, str(row.get("dir", ""))):
            raise EnsembleError(f"{export_dir}/config.json: member dir {row.get('dir')!r} lies outside the export")
    members = load_members([export_dir / row["dir"] for row in rows], registry, [row["name"] for row in rows],
                           weights=package.WEIGHTS)
    if len(members) < 2:
        raise EnsembleError(f"{export_dir}/config.json: an ensemble export lists {len(members)} member(s)")
    check_compatible(members)
    cfg = build_section(ExportConfig, record.get("export", {}), ("export",))
    info, comps = _gate_context(members[0], registry, record.get("dataset"), cfg)
    return info, comps, EnsembleModel([m.model for m in members], [row["weight"] for row in rows])
