"""One export, built inside a temporary folder: reference, fp32 graph, variants, gate, package.

:func:`build` is what ``export_run`` (one trained run) and ``export_ensemble`` (members averaged in
one graph) share; everything it needs is one :class:`ExportPlan`, made once by its caller, so the
dataset is loaded once per export (or never, when a ``hub run`` job already holds it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import Dataset
from ..fsutil import atomic_write_json
from ..progress import Steps
from . import choice, e2e_gate, gate, package, samples, variants
from . import report as reports
from ..errors import ExportError, GateError
from .onnx_export import export_onnx, set_metadata

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


def registry_or_default(registry: Any) -> Any:
    if registry is not None:
        return registry
    from ..plugins import get_hub

    return get_hub().registry


def make_task(comps: Any, info: Any) -> Any:
    from ..model import build_task

    return build_task(comps.task, dict(info.recipe.task.options), len(info.label_names))


def reference(info: Any, comps: Any, model: Any, tokenizer: Path | None, options: GateOptions,
              encode: samples.Encoder, dataset: Dataset, allow_few: bool = False) -> tuple[gate.Reference, dict[str, Any]]:
    """PyTorch's outputs on the held-out samples, and the gate facts about them (sample criterion).

    The sample count is judged first, so a tiny test split is refused before anything is exported.
    """
    raw, labels = samples.split_samples(dataset, options.split, options.max_samples)
    where = f"dataset {comps.dataset.qualified_name!r}, split {options.split!r}"
    facts = gate.sample_criterion(len(labels), allow_few=allow_few, where=where)
    facts.update(split=options.split, batch_sizes=sorted(set(int(b) for b in options.batch_sizes)))
    text_pad = (info.input.max_length, _pad_id(tokenizer, info)) if info.modality == "text" else None
    ref = gate.build_reference(
        model, raw, labels, encode, input_names=comps.backbone_spec.input_names,
        output_names=comps.task.spec.output_names, task=make_task(comps, info),
        primary_metric=comps.task.spec.primary_metric, batch_sizes=options.batch_sizes, text_pad=text_pad)
    return ref, facts


def _pad_id(folder: Path, info: Any) -> int:
    from ..runtime.text import TextEncoder

    enc = TextEncoder(folder, info.input.max_length, info.input.input_names, info.input.padding_side)
    return int(enc.tokenizer.padding["pad_id"])


def _calibration(dataset: Dataset, encode: samples.Encoder, count: int = 128, batch: int = 16) -> list[dict]:
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


@dataclass
class ExportPlan:
    """Everything one export needs, resolved once by its caller.

    ``customize`` amends config.json before the first ONNX file takes its metadata and ``copy_files``
    replaces copying the run's files: how an ensemble goes through the same export, gate and variants.
    """

    run_dir: Path
    out: Path
    info: Any  # hub.training.rundir.RunInfo
    comps: Any  # hub.model.Components
    model: Any
    tokenizer: Path | None
    dataset: Dataset
    opset: int
    wanted: list[str]
    target: str
    options: GateOptions
    tolerances: Mapping[str, gate.Tolerance]
    threshold: int
    bench_iters: int
    formats: list[str] = field(default_factory=lambda: ["onnx"])  # hub.exporting.formats.parse
    customize: Callable[[dict[str, Any]], None] | None = None
    copy_files: Callable[[Path], Any] | None = None
    where: str = field(init=False, default="")
    encode: Any = field(init=False, default=None)  # raw samples -> feeds, with the backbone's own tokenizer

    def __post_init__(self) -> None:
        self.where = f"backbone {self.comps.backbone.qualified_name} + head {self.comps.head.qualified_name}"
        self.encode = samples.make_encoder(self.info.input, self.comps.backbone_spec.input_names, self.tokenizer)


def build(tmp: Path, plan: ExportPlan) -> dict[str, Any]:
    """Everything of one export inside ``tmp``; returns the report."""
    from .formats.make import variant_names

    extra = variant_names(plan.formats)
    total = 5 + 2 * len(plan.wanted) + 2 * len(extra) + (plan.target == "edge") + (plan.target == "ort-mobile")
    with Steps(total, "export + gate") as step:
        config, ref, gate_facts, facts, report, results, kept = _fp32(step, tmp, plan)
        calibration = _calibration(plan.dataset, plan.encode) if "int8-static" in plan.wanted or extra else None
        _variants(step, plan, tmp / "onnx", config, ref, results, kept, calibration)
        others = _formats(step, plan, tmp, ref, results, kept, calibration) if extra else []
        if plan.target == "edge":
            with step("batch-1 latency of each kept variant, in every runtime"):
                pick_fastest(config, kept, ref, plan.options.threads, plan.bench_iters, results, gate_facts, report,
                             others)
        if plan.target == "ort-mobile":
            with step("ORT format + gate"):
                results.append(_ort_mobile(tmp / "onnx", kept, ref, plan.tolerances, plan.options.threads, config))
        with step("e2e graphs (raw input in, probabilities out) + gate on files / raw texts"):
            results += e2e_gate.export_e2e(plan, tmp / "onnx", config, ref, kept)
        _record(config, results, kept, tmp, plan, ref, gate_facts, others)
        with step("test data, samples, config"):
            fp32 = kept["fp32"]
            gate.write_test_data(tmp / TEST_DATA, ref, facts["graph_inputs"], fp32, threads=plan.options.threads)
            config["samples"] = package.write_samples(  # inputs the model card runs on
                tmp, *samples.split_samples(plan.dataset, plan.options.split, None), plan.info.label_names,
                plan.info.modality)
            _answer_samples(config["samples"], tmp, plan, fp32)
    if plan.copy_files is None:
        package.copy_run_files(plan.run_dir, tmp, "weights.safetensors")
    else:
        plan.copy_files(tmp)
    package.add_transformersjs(tmp, config)  # model_type + preprocessor/tokenizer config: transformers.js pipeline()
    (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    reports.finish(report, kept, config["preferred_variant"], passed=True)
    (tmp / REPORT).write_text(reports.dumps(report))
    return report


def _answer_samples(entries: list[dict[str, Any]], root: Path, plan: ExportPlan, model: Path) -> None:
    """Add the fp32 graph's answer to each shipped sample, read back from its file as a reader would.

    Why: a card that shows a sample with its true label only reads as "broken model" when the
    sample is one of the model's test errors; with both labels it reads as what it is.
    """
    import numpy as np

    from ..runtime.session import make_session, run

    if not entries:
        return
    session = make_session(model, providers=["CPUExecutionProvider"], threads=plan.options.threads)
    paths = [root / e["file"] for e in entries]
    items = [p.read_text(encoding="utf-8") for p in paths] if plan.info.modality == "text" else paths
    logits = np.asarray(run(session, plan.encode(items))[0])
    for entry, best in zip(entries, logits.argmax(-1)):
        entry["predicted"] = str(plan.info.label_names[int(best)])


def _fp32(step: Steps, tmp: Path, plan: ExportPlan) -> tuple:
    """config.json's start, the PyTorch reference, the fp32 graph and its verdict (a failure raises)."""
    info, comps = plan.info, plan.comps
    spec = comps.backbone_spec
    onnx_dir = tmp / "onnx"
    onnx_dir.mkdir()
    tok_files = package.copy_tokenizer(plan.tokenizer, tmp) if plan.tokenizer is not None else []
    config = package.build_config(info, comps, opset=plan.opset, input_names=spec.input_names,
                                  output_names=comps.task.spec.output_names, tokenizer_files=tok_files,
                                  external_data=False)
    if plan.customize is not None:
        plan.customize(config)
    with step("PyTorch reference on held-out data"):
        ref, gate_facts = reference(info, comps, plan.model, plan.tokenizer, plan.options, plan.encode, plan.dataset,
                                    allow_few=plan.options.allow_few(info.recipe.export))
    fp32 = onnx_dir / variants.FILES["fp32"]
    with step("torch.onnx.export fp32"):
        facts = export_onnx(plan.model, spec.input_names, comps.task.spec.output_names, config["preprocessing"], fp32,
                            plan.opset, metadata=package.metadata_props(config, "fp32"),
                            external_data_threshold=plan.threshold, where=plan.where)
    config["external_data"] = facts["external_data"]
    with step("gate fp32"):
        results = [gate.check_variant("fp32", fp32, ref, plan.tolerances["fp32"], threads=plan.options.threads)]
    report = reports.new(run_dir=plan.run_dir, opset=plan.opset, target=plan.target, facts=facts,
                         split=plan.options.split, gate=gate_facts, variants=results)
    if not results[0]["passed"]:
        failed = plan.out.with_name(plan.out.name + ".failed-report.json")
        reports.finish(report, [], "fp32", passed=False)
        for result in results:
            reports.relative(result, tmp)
        atomic_write_json(failed, report)
        raise GateError(f"validation gate failed for {plan.where} (nothing exported; details in {failed}): "
                        + gate.summary_line(results[0]), report)
    return config, ref, gate_facts, facts, report, results, {"fp32": fp32}


def _variants(step: Steps, plan: ExportPlan, onnx_dir: Path, config: dict, ref: gate.Reference,
              results: list[dict[str, Any]], kept: dict[str, Path], calibration: list[dict] | None) -> None:
    """Make and gate each wanted variant; one the tools cannot make or that fails the gate is not kept."""
    spec = plan.comps.backbone_spec
    fp32 = kept["fp32"]
    heads, hidden = _text_dims(plan.model) if spec.family == "bert" else (0, 0)
    for name in plan.wanted:
        path = onnx_dir / variants.FILES[name]
        try:
            with step(f"make {name}"):
                variants.make_variant(name, fp32, path, family=spec.family, calibration=calibration,
                                      num_heads=heads, hidden_size=hidden)
        except ExportError as exc:
            log.warning("variant %s could not be made and is not kept: %s", name, exc)
            variants.remove(path)
            results.append({"variant": name, "file": str(path), "passed": False, "failures": [str(exc)]})
            continue
        set_metadata(path, package.metadata_props(config, name))
        with step(f"gate {name}"):
            result = gate.check_variant(name, path, ref, plan.tolerances[name], threads=plan.options.threads)
        results.append(result)
        if result["passed"]:
            kept[name] = path
        else:
            log.warning("variant %s failed the gate and is not kept: %s", name, "; ".join(result["failures"]))
            variants.remove(path)


def _formats(step: Steps, plan: ExportPlan, tmp: Path, ref: gate.Reference, results: list[dict[str, Any]],
             kept: dict[str, Path], calibration: list[dict] | None) -> list[Any]:
    """OpenVINO / LiteRT variants of the same model, each gated in its own runtime (hub.exporting.formats)."""
    from .formats.make import Context, export_formats

    example = ref.passes[0].batches[0][0]
    if plan.info.modality == "text":  # traced at max_length: a LiteRT file keeps the shape it was traced with
        example = samples.pad_to(example, plan.info.input.max_length, _pad_id(plan.tokenizer, plan.info))
    context = Context(model=plan.model, fp32_onnx=kept["fp32"], input_names=plan.comps.backbone_spec.input_names,
                      example=example, calibration=calibration)
    return export_formats(step, tmp, plan.formats, context, plan.tolerances, ref, plan.options.threads, results)


def _record(config: dict, results: list[dict[str, Any]], kept: dict[str, Path], tmp: Path, plan: ExportPlan,
            ref: gate.Reference, gate_facts: Mapping[str, Any], others: Sequence[Any] = ()) -> None:
    from .formats.make import record

    record(config, others, results)
    for result in results:
        reports.relative(result, tmp)
        if result["variant"] in kept:
            config["variants"][result["variant"]] = {
                "file": f"onnx/{variants.FILES[result['variant']]}", "metrics": result["metrics"]["onnx"],
                "max_abs_diff": result["max_abs_diff"], "top1_agreement": result["top1_agreement"],
                "metric_drop_points": result["metric_drop_points"], "size_bytes": _size(kept[result["variant"]]),
                **({"latency_ms_p50": result["latency_ms_p50"]} if "latency_ms_p50" in result else {})}
    config["gate"] = {"split": plan.options.split, "samples": int(len(ref.labels)),
                      "batch_sizes": sorted(set(plan.options.batch_sizes)),
                      "allow_few_samples": gate_facts["allow_few_samples"],
                      "tolerances": {k: v.as_dict() for k, v in plan.tolerances.items()}}


def _size(path: Path) -> int:
    from .bench import size_bytes

    return size_bytes(path)


def pick_fastest(config: dict, kept: dict[str, Path], ref: gate.Reference, threads: int, iters: int,
                  results: list[dict[str, Any]], gate_facts: Mapping[str, Any], report: dict[str, Any],
                  others: Sequence[Any] = ()) -> None:
    """Time each kept variant on real samples, drop int8 slower than fp32, prefer the fastest eligible one.

    With other formats kept (``others``), their variants are timed too and ``preferred_runtime``
    names the fastest eligible (runtime, variant) pair of them all."""
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
    if others:
        fmt_timings = choice.time_formats(others, ref, threads, iters)
        for result in results:
            if result["variant"] in fmt_timings:
                result["latency_ms_p50"] = fmt_timings[result["variant"]]
        pick = choice.decide_runtime(decision["preferred"], timings[decision["preferred"]], fmt_timings, results,
                                     gate_facts)
        config["preferred_runtime"] = {k: pick[k] for k in ("runtime", "variant", "latency_ms_p50")}
        report["choice"]["runtime"] = pick
        log.info("edge target, every runtime: %s", pick["why"])


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
