"""``export_run`` and ``validate_export``: run dir -> gated export folder, and re-checking one.

The whole export is written into a temporary sibling of ``--out`` and renamed
into place only after every check passed (:func:`hub.fsutil.atomic_dir`): a
crash, a full disk, Ctrl-C or a failed gate leaves no half-written folder
that someone could publish by mistake. When the fp32 model itself fails the
gate, its report is written beside ``--out`` (``<out>.failed-report.json``)
so the failure can still be studied. Both functions write report.json in the
one schema of :mod:`hub.export.report`.
"""

from __future__ import annotations

import errno
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fsutil import atomic_dir, atomic_write_json, atomic_write_json_if_changed, check_output_dir
from ..progress import Steps
from ..runtime import read_config
from ..runtime.machine import describe
from . import choice, gate, package, samples, variants
from . import report as reports
from .errors import ExportError, GateError
from .onnx_export import EXTERNAL_DATA_THRESHOLD, export_onnx, set_metadata

log = logging.getLogger(__name__)

REPORT = reports.REPORT
#: What makes a folder a previous export, which ``--out`` may replace (see hub.fsutil.check_output_dir).
EXPORT_MARKERS = ("config.json", REPORT)
#: Beside onnx/model.onnx, the layout ONNX's backend test runner and onnx_test_runner read.
TEST_DATA = "onnx/test_data_set_0"


@dataclass
class GateOptions:
    """How hard and how wide the gate looks; ``None`` fields come from the recipe's export section."""

    atol: float | None = None
    rtol: float | None = None
    max_metric_drop: float | None = None
    min_agreement: float | None = None  # top-1 agreement floor for every variant (None: per-variant defaults)
    tolerances: Mapping[str, gate.Tolerance] | None = None  # per-variant overrides
    max_samples: int | None = 512
    batch_sizes: Sequence[int] = (1, 8)
    split: str = "test"
    threads: int = 2
    allow_few_samples: bool | None = None  # below gate.MIN_SAMPLES: refuse unless True (None: recipe)

    def resolve(self, export_cfg: Any) -> dict[str, gate.Tolerance]:
        floor = self.min_agreement if self.min_agreement is not None else (getattr(export_cfg, "min_agreement", 0)
                                                                          or None)
        table = gate.default_tolerances(
            export_cfg.atol if self.atol is None else self.atol,
            export_cfg.rtol if self.rtol is None else self.rtol,
            export_cfg.max_metric_drop if self.max_metric_drop is None else self.max_metric_drop, floor)
        return self.override(table)

    def override(self, table: dict[str, gate.Tolerance]) -> dict[str, gate.Tolerance]:
        """Apply per-variant ``--tolerance`` values; a budget or floor left out keeps the variant's own."""
        for name, tol in (self.tolerances or {}).items():
            table[name] = gate.fill(tol, table.get(name, table["fp32"]))
        return table

    def allow_few(self, export_cfg: Any) -> bool:
        if self.allow_few_samples is not None:
            return bool(self.allow_few_samples)
        return bool(getattr(export_cfg, "allow_few_samples", False))


def _registry(registry: Any) -> Any:
    if registry is not None:
        return registry
    from ..plugins import get_hub

    return get_hub().registry


def _task(comps: Any, info: Any) -> Any:
    from ..model import build_task

    return build_task(comps.task, dict(info.recipe.task.options), len(info.label_names))


def _reference(info: Any, comps: Any, model: Any, tokenizer: Path | None, options: GateOptions,
               encode: samples.Encoder, allow_few: bool = False) -> tuple[gate.Reference, dict[str, Any]]:
    """PyTorch's outputs on the held-out samples, and the gate facts about them (sample criterion).

    The sample count is judged first, so a tiny test split is refused before anything is exported.
    """
    dataset = samples.load_dataset(info, comps)
    raw, labels = samples.split_samples(dataset, options.split, options.max_samples)
    where = f"dataset {comps.dataset.qualified_name!r}, split {options.split!r}"
    facts = gate.sample_criterion(len(labels), allow_few=allow_few, where=where)
    facts.update(split=options.split, batch_sizes=sorted(set(int(b) for b in options.batch_sizes)))
    text_pad = (info.input.max_length, _pad_id(tokenizer, info)) if info.modality == "text" else None
    ref = gate.build_reference(
        model, raw, labels, encode, input_names=comps.backbone_spec.input_names,
        output_names=comps.task.spec.output_names, task=_task(comps, info),
        primary_metric=comps.task.spec.primary_metric, batch_sizes=options.batch_sizes, text_pad=text_pad)
    return ref, facts


def _pad_id(folder: Path, info: Any) -> int:
    from ..runtime.text import TextEncoder

    enc = TextEncoder(folder, info.input.max_length, info.input.input_names, info.input.padding_side)
    return int(enc.tokenizer.padding["pad_id"])


def _calibration(info: Any, comps: Any, encode: samples.Encoder, count: int = 128, batch: int = 16) -> list[dict]:
    dataset = samples.load_dataset(info, comps)
    raw, labels = samples.split_samples(dataset, "train", count, seed=1)
    return [feeds for feeds, _ in samples.batches(raw, labels, encode, batch)]


def _text_dims(model: Any) -> tuple[int, int]:
    config = getattr(getattr(model.backbone, "model", None), "config", None)
    return int(getattr(config, "num_attention_heads", 0) or 0), int(getattr(config, "hidden_size", 0) or 0)


def wanted_variants(cfg: Any, quantize: Sequence[str] | None, target: str) -> list[str]:
    """The variants to make besides fp32: ``quantize`` (else the recipe's), all of them for ``edge``."""
    wanted = list(cfg.quantize if quantize is None else quantize)
    if target == "edge":
        wanted = ["optimized"] + (wanted or list(variants.QUANTIZE))
    wanted = list(dict.fromkeys(wanted))  # each variant once, in the order asked
    unknown = [v for v in wanted if v not in variants.QUANTIZE and v != "optimized"]
    if unknown:
        raise ExportError(f"unknown variant(s) {unknown}; choose from {', '.join(variants.QUANTIZE)}")
    return wanted


def export_run(run_dir: Path, out: Path, *, opset: int | None = None, quantize: Sequence[str] | None = None,
               target: str | None = None, gate_options: GateOptions | None = None, registry: Any = None,
               external_data_threshold: int = EXTERNAL_DATA_THRESHOLD, bench_iters: int = 20) -> dict[str, Any]:
    """Export, gate and package a trained run; returns the report (also written to report.json)."""
    from ..train.rundir import load_run, read_run_info
    from ..weights import resolve_weights

    run_dir, out = Path(run_dir), Path(out)
    read_run_info(run_dir)  # a RUN_DIR that is no run is the likelier mistake: say that first
    check_output_dir(out, "export", markers=EXPORT_MARKERS, inputs=(run_dir,))  # before any work
    options = gate_options or GateOptions()
    registry = _registry(registry)
    info, comps, model = load_run(run_dir, registry)
    cfg = info.recipe.export
    opset = cfg.opset if opset is None else int(opset)
    target = target or cfg.target
    wanted = wanted_variants(cfg, quantize, target)
    tolerances = options.resolve(cfg)
    spec = comps.backbone_spec
    tokenizer = Path(resolve_weights(spec)[0]) if info.modality == "text" else None
    where = f"backbone {comps.backbone.qualified_name} + head {comps.head.qualified_name}"
    started = time.perf_counter()
    try:
        with atomic_dir(out) as tmp:
            report = _build(tmp, run_dir, out, info, comps, model, tokenizer, opset, wanted, target, options,
                            tolerances, external_data_threshold, bench_iters, where)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ExportError(f"disk full while writing the export next to {out}; nothing was kept. "
                              "Free space (the export needs ~3x the model size) and retry") from exc
        raise ExportError(f"writing the export to {out} failed: {exc}; nothing was kept") from exc
    log.info("exported %s to %s in %.1f s", run_dir, out, time.perf_counter() - started)
    return report


def _build(tmp: Path, run_dir: Path, out: Path, info: Any, comps: Any, model: Any, tokenizer: Path | None,
           opset: int, wanted: list[str], target: str, options: GateOptions,
           tolerances: Mapping[str, gate.Tolerance], threshold: int, bench_iters: int, where: str,
           customize: Callable[[dict[str, Any]], None] | None = None,
           copy_files: Callable[[Path], Any] | None = None) -> dict[str, Any]:
    """Everything of one export inside ``tmp``. ``customize`` amends config.json before the first ONNX file
    takes its metadata and ``copy_files`` replaces copying the run's files: how an ensemble
    (:mod:`hub.export.ensemble`) goes through the same export, gate and variants as one run."""
    total = 4 + 2 * len(wanted) + (target == "edge") + (target == "ort-mobile")
    with Steps(total, "export + gate") as step:
        return _build_steps(step, tmp, run_dir, out, info, comps, model, tokenizer, opset, wanted, target, options,
                            tolerances, threshold, bench_iters, where, customize, copy_files)


def _build_steps(step: Steps, tmp: Path, run_dir: Path, out: Path, info: Any, comps: Any, model: Any,
                 tokenizer: Path | None, opset: int, wanted: list[str], target: str, options: GateOptions,
                 tolerances: Mapping[str, gate.Tolerance], threshold: int, bench_iters: int, where: str,
                 customize: Callable[[dict[str, Any]], None] | None,
                 copy_files: Callable[[Path], Any] | None) -> dict[str, Any]:
    spec = comps.backbone_spec
    onnx_dir = tmp / "onnx"
    onnx_dir.mkdir()
    tok_files = package.copy_tokenizer(tokenizer, tmp) if tokenizer is not None else []
    config = package.build_config(info, comps, opset=opset, input_names=spec.input_names,
                                  output_names=comps.task.spec.output_names, tokenizer_files=tok_files,
                                  external_data=False)
    if customize is not None:
        customize(config)
    encode = samples.make_encoder(info.input, spec.input_names, tokenizer)
    with step("PyTorch reference on held-out data"):
        ref, gate_facts = _reference(info, comps, model, tokenizer, options, encode,
                                     allow_few=options.allow_few(info.recipe.export))
    fp32 = onnx_dir / variants.FILES["fp32"]
    with step("torch.onnx.export fp32"):
        facts = export_onnx(model, spec.input_names, comps.task.spec.output_names, config["preprocessing"], fp32,
                            opset, metadata=package.metadata_props(config, "fp32"), external_data_threshold=threshold,
                            where=where)
    config["external_data"] = facts["external_data"]
    with step("gate fp32"):
        results = [gate.check_variant("fp32", fp32, ref, tolerances["fp32"], threads=options.threads)]
    report = reports.new(run_dir=run_dir, opset=opset, target=target, facts=facts, split=options.split,
                         gate=gate_facts, variants=results)
    if not results[0]["passed"]:
        failed = out.with_name(out.name + ".failed-report.json")
        reports.finish(report, [], "fp32", passed=False)
        for result in results:
            reports.relative(result, tmp)
        atomic_write_json(failed, report)
        raise GateError(f"validation gate failed for {where} (nothing exported; details in {failed}): "
                        + gate.summary_line(results[0]), report)
    kept = {"fp32": fp32}
    calibration = _calibration(info, comps, encode) if "int8-static" in wanted else None
    heads, hidden = _text_dims(model) if spec.family == "bert" else (0, 0)
    for name in wanted:
        path = onnx_dir / variants.FILES[name]
        try:
            with step(f"make {name}"):
                variants.make_variant(name, fp32, path, family=spec.family, calibration=calibration,
                                      num_heads=heads, hidden_size=hidden)
        except ExportError as exc:  # a variant the tools cannot make is rejected, like one that fails the gate
            log.warning("variant %s could not be made and is not kept: %s", name, exc)
            variants.remove(path)
            results.append({"variant": name, "file": str(path), "passed": False, "failures": [str(exc)]})
            continue
        set_metadata(path, package.metadata_props(config, name))
        with step(f"gate {name}"):
            result = gate.check_variant(name, path, ref, tolerances[name], threads=options.threads)
        results.append(result)
        if result["passed"]:
            kept[name] = path
        else:
            log.warning("variant %s failed the gate and is not kept: %s", name, "; ".join(result["failures"]))
            variants.remove(path)
    if target == "edge":
        with step("batch-1 latency of each kept variant"):
            _pick_fastest(config, kept, ref, options.threads, bench_iters, results, gate_facts, report)
    if target == "ort-mobile":
        with step("ORT format + gate"):
            results.append(_ort_mobile(onnx_dir, kept, ref, tolerances, options.threads, config))
    for result in results:
        reports.relative(result, tmp)
        if result["variant"] in kept:
            config["variants"][result["variant"]] = {
                "file": f"onnx/{variants.FILES[result['variant']]}", "metrics": result["metrics"]["onnx"],
                "max_abs_diff": result["max_abs_diff"], "top1_agreement": result["top1_agreement"],
                "metric_drop_points": result["metric_drop_points"], "size_bytes": _size(kept[result["variant"]]),
                **({"latency_ms_p50": result["latency_ms_p50"]} if "latency_ms_p50" in result else {})}
    config["gate"] = {"split": options.split, "samples": int(len(ref.labels)),
                      "batch_sizes": sorted(set(options.batch_sizes)),
                      "allow_few_samples": gate_facts["allow_few_samples"],
                      "tolerances": {k: v.as_dict() for k, v in tolerances.items()}}
    with step("test data, samples, config"):
        gate.write_test_data(tmp / TEST_DATA, ref, facts["graph_inputs"], fp32, threads=options.threads)
        config["samples"] = package.write_samples(tmp, *samples.split_samples(samples.load_dataset(info, comps),
                                                                              options.split, None),
                                                  info.label_names, info.modality)  # inputs the model card runs on
    if copy_files is None:
        package.copy_run_files(run_dir, tmp, "weights.safetensors")
    else:
        copy_files(tmp)
    (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    reports.finish(report, kept, config["preferred_variant"], passed=True)
    (tmp / REPORT).write_text(reports.dumps(report))
    return report


def _size(path: Path) -> int:
    from .bench import size_bytes

    return size_bytes(path)


def _pick_fastest(config: dict, kept: dict[str, Path], ref: gate.Reference, threads: int, iters: int,
                  results: list[dict[str, Any]], gate_facts: Mapping[str, Any], report: dict[str, Any]) -> None:
    """Time each kept variant on real samples, drop int8 slower than fp32, prefer the fastest eligible one."""
    timings = choice.time_variants(kept, ref, threads, iters)
    decision = choice.decide(timings, results, gate_facts, report["machine"])
    for result in results:
        name = result["variant"]
        if name in timings:
            result["latency_ms_p50"] = timings[name]
        if name in decision["slower_int8"]:
            result["dropped"] = f"slower than fp32 at batch 1 on this CPU ({decision['slower_int8'][name]}): not kept"
            variants.remove(kept.pop(name))
    config["latency_ms_p50"] = {k: v for k, v in timings.items() if k in kept}
    config["preferred_variant"] = decision["preferred"]
    report["choice"] = choice.record(decision)
    log.info("edge target: %s", decision["why"])


def _ort_mobile(onnx_dir: Path, kept: dict[str, Path], ref: gate.Reference, tolerances: Mapping[str, gate.Tolerance],
                threads: int, config: dict) -> dict[str, Any]:
    """ORT-format model of the preferred variant, gated like the others (checker skipped: not ONNX)."""
    name = config["preferred_variant"]
    facts = variants.to_ort_format(kept[name], onnx_dir)
    path = onnx_dir / facts["file"]
    result = gate.check_variant(f"ort:{name}", path, ref, tolerances[name], threads=threads, structural=False)
    if not result["passed"]:
        raise GateError(f"the ORT-format model of {name} failed the gate: {gate.summary_line(result)}")
    config["ort_mobile"] = {"variant": name, "file": f"onnx/{facts['file']}",
                            "required_operators": f"onnx/{facts['required_operators']}"
                            if facts["required_operators"] else None}
    return result


def validate_export(export_dir: Path, *, gate_options: GateOptions | None = None,
                    registry: Any = None, rebench: bool = False) -> dict[str, Any]:
    """Re-run the gate on every variant of an export folder; writes report.json, raises on a breach.

    With ``rebench`` (all variants passed) each variant is also timed on this machine and the
    preferred one chosen again by the edge rule (:func:`hub.export.choice.rebench`).

    The report keeps the schema and the entries hub export wrote (rejected variants, latencies,
    export facts) and replaces only what was judged again (:func:`hub.export.report.revalidated`).
    """
    from ..train.rundir import load_run

    export_dir = Path(export_dir)
    options = gate_options or GateOptions()
    config = read_config(export_dir)
    if "ensemble" in config:  # members' weights and run.json live in members/NAME/
        from .ensemble import load_ensemble_export

        info, comps, model = load_ensemble_export(export_dir, config, _registry(registry))
    else:
        info, comps, model = load_run(export_dir, _registry(registry), weights=package.WEIGHTS)
    tolerances = options.resolve(info.recipe.export)
    recorded_gate = config.get("gate", {})
    if options.atol is None and options.rtol is None and options.max_metric_drop is None \
            and options.min_agreement is None:
        # no new global tolerance: judge by what the export recorded, then apply per-variant --tolerance
        defaults = dict(tolerances)
        for name, values in recorded_gate.get("tolerances", {}).items():
            tolerances[name] = gate.fill(gate.Tolerance(**values), defaults.get(name, defaults["fp32"]))
        options.override(tolerances)
    allow_few = options.allow_few(info.recipe.export) or bool(recorded_gate.get("allow_few_samples"))
    tokenizer = export_dir if info.modality == "text" else None
    encode = samples.make_encoder(info.input, comps.backbone_spec.input_names, tokenizer)
    ref, gate_facts = _reference(info, comps, model, tokenizer, options, encode, allow_few=allow_few)
    results = []
    for name, entry in sorted(config["variants"].items()):
        path = export_dir / entry["file"]
        results.append(gate.check_variant(name, path, ref, tolerances.get(name, tolerances["fp32"]),
                                          threads=options.threads))
    if config.get("ort_mobile"):
        entry = config["ort_mobile"]
        results.append(gate.check_variant(f"ort:{entry['variant']}", export_dir / entry["file"], ref,
                                          tolerances.get(entry["variant"], tolerances["fp32"]),
                                          threads=options.threads, structural=False))
    for result in results:
        reports.relative(result, export_dir)
    machine = describe()  # judged again here: the CPU is this one
    decision = None
    if rebench and all(r.get("passed") for r in results):
        decision = choice.rebench(export_dir, config, ref, results, gate_facts, machine, options.threads)
    report = reports.revalidated(reports.read(export_dir), config, split=options.split, gate=gate_facts,
                                 results=results, machine=machine)
    if decision is not None:
        report["choice"] = choice.record(decision)
    atomic_write_json_if_changed(export_dir / REPORT, report)  # unchanged: the file is left alone
    gate.raise_for(results, report, str(export_dir))
    return report
