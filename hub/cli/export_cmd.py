"""``hub export``, ``hub validate``, ``hub bench`` and ``hub predict``.

Export, validate and bench need the training stack (torch, onnx); predict
needs only :mod:`hub.runtime` (onnxruntime + numpy), like a deployer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..progress import shown
from ._output import echo_json, safe
from .common import json_option, no_progress_option

QUANTIZE = ("int8-dynamic", "int8-static", "fp16")
QUANTIZE_CHOICES = (*QUANTIZE, "none")


def quantize_list(values: tuple[str, ...], target: str | None) -> list[str] | None:
    """``--quantize`` as the API takes it: nothing given -> None (the recipe's list), ``none`` -> [] (fp32
    alone, whatever the recipe or the first ensemble member asked for)."""
    from ..errors import ExportError

    if "none" not in values:
        return list(values) or None
    if len(set(values)) > 1:
        raise ExportError(f"--quantize none means the fp32 model alone; drop it or the variants "
                          f"({', '.join(v for v in values if v != 'none')})")
    if target == "edge":
        raise ExportError("--quantize none and --target edge contradict: edge makes every variant; drop one")
    return []


def _tolerances(values: tuple[str, ...]) -> dict[str, Any]:
    from ..exporting.gate import Tolerance

    out = {}
    for value in values:
        name, sep, rest = value.partition("=")
        parts = rest.split(",")
        try:
            if not sep or len(parts) not in (2, 3, 4):
                raise ValueError
            atol = None if parts[0].lower() == "none" else float(parts[0])
            if name not in ("fp32", "optimized", "bf16", *QUANTIZE):
                raise ValueError
            drop = float(parts[2]) if len(parts) >= 3 and parts[2] else None
            agreement = float(parts[3]) if len(parts) == 4 else None
            if agreement is not None and not 0 <= agreement <= 1:
                raise ValueError
            out[name] = Tolerance(atol, float(parts[1]), drop, agreement)
        except ValueError:
            raise click.BadParameter(f"{value!r}: use VARIANT=ATOL,RTOL[,MAX_DROP[,MIN_AGREEMENT]], e.g. "
                                     "fp16=0.05,0.05 or int8-dynamic=none,0,1.5,0.97 (agreement in 0-1)",
                                     param_hint="--tolerance") from None
    return out


def gate_options(func):
    """Options shared by export and validate: tolerances and how many real samples to check."""
    for decorator in reversed([
        click.option("--atol", type=float, help="fp32 absolute tolerance (default: recipe export.atol, 1e-4)."),
        click.option("--rtol", type=float, help="fp32 relative tolerance (default: recipe export.rtol, 1e-3)."),
        click.option("--max-metric-drop", type=float, help="Accuracy budget in points for every variant (default 1)."),
        click.option("--min-agreement", type=click.FloatRange(0, 1),
                     help="Top-1 agreement floor for every variant (default: fp32 0.99, fp16 0.98, int8 0.95)."),
        click.option("--tolerance", "tolerance", multiple=True, metavar="VARIANT=ATOL,RTOL[,DROP[,AGREE]]",
                     help="Per-variant tolerance; ATOL may be 'none' (judge by metric and agreement). Repeatable."),
        click.option("--max-samples", type=click.IntRange(min=1), default=512, show_default=True,
                     help="Held-out samples the gate runs on."),
        click.option("--allow-few-samples", is_flag=True, default=None,
                     help="Run the gate on fewer than 50 held-out samples (a weak check; only fp32 can be preferred)."),
        click.option("--threads", type=int, default=2, show_default=True, help="onnxruntime intra-op threads."),
    ]):
        func = decorator(func)
    return func


def _options(atol, rtol, max_metric_drop, min_agreement, tolerance, max_samples, allow_few_samples, threads):
    from ..exporting.pipeline import GateOptions
    return GateOptions(atol=atol, rtol=rtol, max_metric_drop=max_metric_drop, min_agreement=min_agreement,
                       tolerances=_tolerances(tolerance), max_samples=max_samples,
                       allow_few_samples=allow_few_samples or None, threads=threads)


def _echo_report(report: dict[str, Any]) -> None:
    from ..exporting.gate import summary_line

    facts = report.get("gate") or {}
    if "samples" in facts:
        click.echo(f"  gate: {facts['samples']} held-out samples of the {facts.get('split', 'test')} split "
                   f"(one changed answer = {facts['metric_resolution_points']:g} points)")
    for result in report["variants"]:
        mark = "REJECTED" if not result.get("passed") else "DROPPED" if result.get("dropped") else "kept"
        click.echo(f"  [{mark}] {summary_line(result)}" + (f" ({result['dropped']})" if result.get("dropped") else ""))
    if report.get("choice"):
        click.echo(f"  preferred: {report['choice']['why']}")
        if report["choice"].get("runtime"):
            click.echo(f"  preferred runtime: {report['choice']['runtime']['why']}")


@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Export folder.")
@click.option("--opset", type=int, help="ONNX opset (default: recipe export.opset, 18).")
@click.option("--quantize", multiple=True, type=click.Choice(QUANTIZE_CHOICES),
              help="Variant to make and gate (repeatable; default: recipe export.quantize; none: fp32 only).")
@click.option("--format", "formats", metavar="LIST",
              help="Formats to make, each gated in its own runtime: onnx (always), openvino, litert; comma-separated, "
                   "e.g. onnx,openvino,litert (default: recipe export.formats). Needs the 'edge' extra.")
@click.option("--target", type=click.Choice(("default", "edge", "ort-mobile")),
              help="edge: make every variant and prefer the fastest that passes, in every runtime; ort-mobile: "
                   "also write .ort.")
@gate_options
@json_option("report.json")
@no_progress_option
def export(run_dir: Path, out: Path, opset: int | None, quantize: tuple[str, ...], formats: str | None,
           target: str | None,
           atol, rtol, max_metric_drop, min_agreement, tolerance, max_samples, allow_few_samples, threads,
           as_json: bool, no_progress: bool) -> None:
    """Export RUN_DIR to ONNX in --out, validated against PyTorch on held-out data."""
    import time

    from ..exporting.pipeline import export_run
    started = time.perf_counter()
    with shown(not no_progress):
        report = export_run(run_dir, out, opset=opset, quantize=quantize_list(quantize, target), target=target,
                            formats=formats,
                            gate_options=_options(atol, rtol, max_metric_drop, min_agreement, tolerance, max_samples,
                                                  allow_few_samples, threads))
    if as_json:
        echo_json(report)
        return
    click.echo(f"exported {run_dir} -> {out} in {time.perf_counter() - started:.1f} s (opset {report['opset']}, "
               f"preferred variant {report['preferred_variant']})")
    _echo_report(report)


@click.command("validate")
@click.argument("export_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@gate_options
@click.option("--rebench", is_flag=True,
              help="Also time every variant on this machine and choose the preferred one again (edge rule: "
                   "fastest that passed; int8 slower than fp32 here is not preferred). Rewrites config.json.")
@json_option("report.json")
def validate(export_dir: Path, atol, rtol, max_metric_drop, min_agreement, tolerance, max_samples,
             allow_few_samples, threads, rebench: bool, as_json: bool) -> None:
    """Re-run the validation gate on every variant of EXPORT_DIR on this machine (exit 1 on any breach)."""
    from ..exporting.pipeline import validate_export
    report = validate_export(export_dir, rebench=rebench,
                             gate_options=_options(atol, rtol, max_metric_drop, min_agreement, tolerance,
                                                   max_samples, allow_few_samples, threads))
    if as_json:
        echo_json(report)
        return
    click.echo(f"{export_dir}: every variant passed")
    _echo_report(report)


@click.command("bench")
@click.argument("export_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--threads", type=int, default=2, show_default=True, help="Intra-op threads for torch and ORT.")
@click.option("--iters", type=int, default=50, show_default=True, help="Timed batch-1 runs per engine.")
@click.option("--json", "as_json", is_flag=True)
def bench(export_dir: Path, threads: int, iters: int, as_json: bool) -> None:
    """Latency (p50/p95, batch 1), throughput (batch 32), size and memory: torch eager vs each variant."""
    from ..exporting.benchmark import bench_export, format_table

    result = bench_export(export_dir, threads=threads, iters=iters)
    if as_json:
        echo_json(result)
        return
    click.echo(f"{export_dir}: {threads} threads, {result['inputs']}")
    click.echo(format_table(result["rows"]))


@click.command("predict")
@click.argument("model")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--text", "is_text", is_flag=True, help="INPUTs are strings, not image files.")
@click.option("--variant", help="Variant to run (default: the export's preferred one).")
@click.option("--runtime", "runtime_name", type=click.Choice(("onnxruntime", "openvino", "litert")),
              default="onnxruntime", show_default=True,
              help="Runtime to run the export's files in (openvino/litert: made with `hub export --format`).")
@click.option("--json", "as_json", is_flag=True, help="Print label, score and probabilities as JSON.")
def predict(model: str, inputs: tuple[str, ...], is_text: bool, variant: str | None, runtime_name: str,
            as_json: bool) -> None:
    """Classify image files (or strings with --text) with an exported MODEL folder or hub repo id[@rev]."""
    from .. import runtime
    from ..errors import DataError

    loaded = runtime.load(model, variant=variant, runtime=runtime_name)
    if (loaded.modality == "text") != is_text:
        raise click.UsageError("this is a text model: pass --text and strings" if loaded.modality == "text"
                               else "this is an image model: pass image files (not --text)")
    if not is_text:
        missing = [p for p in inputs if not Path(p).is_file()]
        if missing:
            raise DataError(f"no such image file: {', '.join(missing)}")
    results = loaded.predict(list(inputs))
    if as_json:
        echo_json([{"input": i, **r} for i, r in zip(inputs, results)])
        return
    for item, result in zip(inputs, results):
        click.echo(safe(f"{result['label']}\t{result['score']:.4f}\t{item}"))
