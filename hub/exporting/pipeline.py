"""``export_run`` and ``validate_export``: run dir -> gated export folder, and re-checking one.

The whole export is written into a temporary sibling of ``--out`` and renamed
into place only after every check passed (:func:`hub.fsutil.atomic_dir`): a
crash, a full disk, Ctrl-C or a failed gate leaves no half-written folder
that someone could publish by mistake. When the fp32 model itself fails the
gate, its report is written beside ``--out`` (``<out>.failed-report.json``)
so the failure can still be studied. Both functions write report.json in the
one schema of :mod:`hub.exporting.report`.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..fsutil import atomic_dir, atomic_write_json_if_changed, check_output_dir
from ..runtime import read_config
from ..runtime.machine import describe
from . import choice, e2e_gate, gate, package, samples
from . import report as reports
from .build import (EXPORT_MARKERS, REPORT, ExportPlan, GateOptions, build, reference, registry_or_default,
                    wanted_variants)
from ..errors import ExportError
from .onnx_export import EXTERNAL_DATA_THRESHOLD

log = logging.getLogger(__name__)

__all__ = ["EXPORT_MARKERS", "GateOptions", "export_run", "validate_export"]


def export_run(run_dir: Path, out: Path, *, opset: int | None = None, quantize: Sequence[str] | None = None,
               target: str | None = None, gate_options: GateOptions | None = None, registry: Any = None,
               external_data_threshold: int = EXTERNAL_DATA_THRESHOLD, bench_iters: int = 20,
               job: Any = None, formats: str | Sequence[str] | None = None) -> dict[str, Any]:
    """Export, gate and package a trained run; returns the report (also written to report.json).

    ``job`` (the :class:`hub.job.Job` that trained the run, as ``hub run`` passes it) lends its
    dataset, components and weights; without one, the run's own recipe is planned here, once.
    ``formats`` (``"onnx,openvino,litert"`` or a list; default: the recipe's ``export.formats``)
    adds OpenVINO / LiteRT variants, each gated in its own runtime (:mod:`hub.exporting.formats`)."""
    from ..job import plan
    from .formats import check_tools, parse
    from ..training.rundir import load_run, read_run_info

    run_dir, out = Path(run_dir), Path(out)
    read_run_info(run_dir)  # a RUN_DIR that is no run is the likelier mistake: say that first
    check_output_dir(out, "export", markers=EXPORT_MARKERS, inputs=(run_dir,))  # before any work
    if formats is not None:
        check_tools(parse(formats))  # a typo or a missing extra: said before training data is loaded
    options = gate_options or GateOptions()
    registry = registry_or_default(registry if job is None else job.registry)
    if job is None:
        job = plan(read_run_info(run_dir).recipe, registry)
    info, comps, model = load_run(run_dir, registry, job=job)
    cfg = info.recipe.export
    target = target or cfg.target
    export = ExportPlan(run_dir=run_dir, out=out, info=info, comps=comps, model=model,
                        tokenizer=job.tokenizer if info.modality == "text" else None, dataset=job.dataset,
                        opset=cfg.opset if opset is None else int(opset), wanted=wanted_variants(cfg, quantize, target),
                        target=target, options=options, tolerances=options.resolve(cfg),
                        threshold=external_data_threshold, bench_iters=bench_iters,
                        formats=parse(formats, default=getattr(cfg, "formats", ["onnx"])))
    check_tools(export.formats)
    started = time.perf_counter()
    try:
        with atomic_dir(out) as tmp:
            report = build(tmp, export)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ExportError(f"disk full while writing the export next to {out}; nothing was kept. "
                              "Free space (the export needs ~3x the model size) and retry") from exc
        raise ExportError(f"writing the export to {out} failed: {exc}; nothing was kept") from exc
    log.info("exported %s to %s in %.1f s", run_dir, out, time.perf_counter() - started)
    return report


def _format_results(export_dir: Path, config: dict[str, Any], ref: gate.Reference,
                    tolerances: dict[str, gate.Tolerance], threads: int,
                    results: list[dict[str, Any]]) -> tuple[list[Any], dict[str, str]]:
    """Re-judge every OpenVINO / LiteRT variant in its runtime; one whose runtime is not installed here
    is not judged (said in the report and the log), which is not a failure of the export."""
    from ..runtime.backends import RUNTIMES, available
    from .formats.make import Kept

    kept, not_judged = [], {}
    for fmt, entry in sorted((config.get("formats") or {}).items()):
        for variant, spec in sorted(entry["variants"].items()):
            name = f"{fmt}:{variant}"
            if fmt not in RUNTIMES or not available(fmt):
                extra = RUNTIMES.get(fmt, ("", fmt))[1]
                not_judged[name] = f"the {fmt} runtime is not installed here (pip install 'zoohub[{extra}]')"
                log.warning("%s not judged: %s", name, not_judged[name])
                continue
            path = export_dir / spec["file"]
            results.append(gate.check_variant(name, path, ref, tolerances.get(gate.kind(name), tolerances["fp32"]),
                                              threads=threads, runtime=fmt, precision=spec.get("precision")))
            kept.append(Kept(fmt, variant, path, spec.get("precision"), list(spec.get("files", [spec["file"]]))))
    return kept, not_judged


def validate_export(export_dir: Path, *, gate_options: GateOptions | None = None,
                    registry: Any = None, rebench: bool = False) -> dict[str, Any]:
    """Re-run the gate on every variant of an export folder; writes report.json, raises on a breach.

    With ``rebench`` (all variants passed) each variant is also timed on this machine and the
    preferred one chosen again by the edge rule (:func:`hub.exporting.choice.rebench`).

    The report keeps the schema and the entries hub export wrote (rejected variants, latencies,
    export facts) and replaces only what was judged again (:func:`hub.exporting.report.revalidated`).
    """
    from ..training.rundir import load_run

    export_dir = Path(export_dir)
    options = gate_options or GateOptions()
    config = read_config(export_dir)
    if "ensemble" in config:  # members' weights and run.json live in members/NAME/
        from .ensemble import load_ensemble_export

        info, comps, model = load_ensemble_export(export_dir, config, registry_or_default(registry))
    else:
        info, comps, model = load_run(export_dir, registry_or_default(registry), weights=package.WEIGHTS)
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
    dataset = samples.load_dataset(info, comps)
    ref, gate_facts = reference(info, comps, model, tokenizer, options, encode, dataset, allow_few=allow_few)
    results = []
    for name, entry in sorted(config["variants"].items()):
        path = export_dir / entry["file"]
        results.append(gate.check_variant(name, path, ref, tolerances.get(name, tolerances["fp32"]),
                                          threads=options.threads))
    for name, file in e2e_gate.recorded(config):
        results.append(e2e_gate.check_e2e(export_dir / file, dataset, options.split, options.max_samples, ref,
                                          tolerances.get(name, tolerances["fp32"]), threads=options.threads,
                                          modality=info.modality, variant=name))
    others, not_judged = _format_results(export_dir, config, ref, tolerances, options.threads, results)
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
        decision = choice.rebench(export_dir, config, ref, results, gate_facts, machine, options.threads, others)
    report = reports.revalidated(reports.read(export_dir), config, split=options.split, gate=gate_facts,
                                 results=results, machine=machine, keep=not_judged)
    if not_judged:
        report["not_judged"] = not_judged
    if decision is not None:
        report["choice"] = choice.record(decision)
    atomic_write_json_if_changed(export_dir / REPORT, report)  # unchanged: the file is left alone
    gate.raise_for(results, report, str(export_dir))
    return report
