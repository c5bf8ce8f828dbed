"""``hub ensemble``: combine trained runs into one gated ONNX export that averages their probabilities."""

from __future__ import annotations

from pathlib import Path

import click

from ._output import echo_json
from .export_cmd import QUANTIZE_CHOICES, _echo_report, _options, gate_options, quantize_list


def _weights(text: str | None) -> list[str] | None:
    """``1,2,1`` -> strings; the API checks count, numbers and signs (one error line, exit 1)."""
    if text is None:
        return None
    return [part.strip() for part in text.split(",")]


@click.command("ensemble")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Export folder (new, empty, or a previous export, which is replaced).")
@click.option("--weights", metavar="W1,W2,...", help="One positive weight per RUN_DIR, in order (normalised).")
@click.option("--name", help="The ensemble's name in config.json (default: the --out folder's name).")
@click.option("--dataset", help="Dataset the gate runs on (default: the first member's).")
@click.option("--opset", type=int, help="ONNX opset (default: the first member's export.opset).")
@click.option("--quantize", multiple=True, type=click.Choice(QUANTIZE_CHOICES),
              help="Variant to make and gate (repeatable; default: the first member's export.quantize; none: fp32 only).")
@click.option("--target", type=click.Choice(("default", "edge", "ort-mobile")),
              help="edge: make every variant and prefer the fastest that passes; ort-mobile: also write .ort.")
@gate_options
@click.option("--json", "as_json", is_flag=True, help="Print report.json instead of a summary.")
def ensemble(run_dirs: tuple[Path, ...], out: Path, weights: str | None, name: str | None, dataset: str | None,
             opset: int | None, quantize: tuple[str, ...], target: str | None, atol, rtol, max_metric_drop,
             min_agreement, tolerance, max_samples, allow_few_samples, threads, as_json: bool) -> None:
    """Average the class probabilities of RUN_DIRs (from `hub train`) in ONE ONNX graph in --out, gated
    against the members' averaged PyTorch output on held-out data."""
    import time

    from ..exporting.ensemble import export_ensemble
    started = time.perf_counter()
    report = export_ensemble(list(run_dirs), out, weights=_weights(weights), name=name, dataset=dataset,
                             opset=opset, quantize=quantize_list(quantize, target), target=target,
                             gate_options=_options(atol, rtol, max_metric_drop, min_agreement, tolerance, max_samples,
                                                   allow_few_samples, threads))
    if as_json:
        echo_json(report)
        return
    record = report["ensemble"]
    metric = record["primary_metric"]
    click.echo(f"ensemble of {len(record['members'])} -> {out} in {time.perf_counter() - started:.1f} s "
               f"(preferred variant {report['preferred_variant']})")
    for member in record["members"]:
        click.echo(f"  member {member['name']}: weight {member['weight']:.3f}, {metric} "
                   f"{member['gate_metrics'][metric]:.4f} ({member['backbone']}, {member['run_dir']})")
    click.echo(f"  ensemble: {metric} {record['metrics'][metric]:.4f} on {record['samples']} {record['split']} "
               f"samples (best member {record['best_member']}: {record['best_member_metrics'][metric]:.4f})")
    _echo_report(report)
