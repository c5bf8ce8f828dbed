"""Export latency benchmark: torch eager vs onnxruntime fp32 vs every variant, in one run.

    python bench/export_latency.py --backbone minilm-l6 --backbone mobilenet-v3-small:224 --threads 2
    python bench/export_latency.py --export runs/x-export        # an existing export folder
    python bench/export_latency.py --run runs/x                  # export (target edge) first

For ``--backbone`` the script trains a quick run with the real trainer
(feature-extraction on cached features: digits for images at the backbone's
default size unless NAME:SIZE is given, Rotten Tomatoes for text; backbones
without offline weights start from random weights, which does not change
their latency) and exports it with ``--target edge``, so every variant that
passes the validation gate is measured. Both
engines get the same intra-op thread count. Prints one markdown table per
model with ratios to torch eager, and writes all numbers as JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

TEXT = {"minilm-l6": ("rotten-tomatoes", "text-classification", {"max_length": 128}),
        "smollm2-135m": ("rotten-tomatoes", "text-classification", {"max_length": 128})}


def quick_run(backbone: str, work: Path) -> Path:
    """Train a real run with `hub train` (feature-extraction, cached features: fast) to export."""
    from hub.plugins import get_hub
    from hub.training.api import train
    from hub.weights import pretrained_status
    from hub.zoo import recipe_from_table

    registry = get_hub().registry
    name, _, size = backbone.partition(":")
    spec = registry.get("backbone", name).spec
    if name in TEXT:
        dataset, _, input_size = TEXT[name]
        table = {"backbone": {"name": name, **input_size}, "dataset": dataset}
    else:
        table = {"backbone": {"name": name, "image_size": int(size or spec.input.size[0]),
                              "pretrained": pretrained_status(spec).available}, "dataset": "digits"}
    table["train"] = {"strategy": "feature-extraction", "epochs": 10, "lr": 0.01}
    run_dir = work / backbone.replace(":", "-")
    train(recipe_from_table(f"bench-{name}", table, registry, "bench"), run_dir, registry, progress=False)
    return run_dir


def accuracy_table(report: dict) -> str:
    """The gate's verdict per variant on the real test split: the accuracy columns of the speed table."""
    lines = [f"\ngate on {report['gate'].get('samples')} test samples; {report.get('choice', {}).get('why', '')}\n",
             "| variant | test accuracy (onnx) | drop (pts) | top-1 agreement | b1 p50 ms (export) | verdict |",
             "|---|---|---|---|---|---|"]
    for r in report["variants"]:
        acc = r.get("metrics", {}).get("onnx", {}).get("accuracy")
        verdict = ("dropped: " + r["dropped"]) if r.get("dropped") else "kept" if r.get("passed") else \
            "REJECTED: " + "; ".join(r.get("failures", []))[:120]
        lines.append(f"| {r['variant']} | {'-' if acc is None else f'{acc:.4f}'} | "
                     f"{r.get('metric_drop_points', '-')} | {r.get('top1_agreement', '-')} | "
                     f"{r.get('latency_ms_p50', '-')} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", action="append", default=[], help="NAME or NAME:IMAGE_SIZE (repeatable)")
    parser.add_argument("--run", action="append", default=[], type=Path, help="run directory to export first")
    parser.add_argument("--export", action="append", default=[], type=Path, help="existing export folder")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--samples", type=int, default=487, help="gate samples when exporting")
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from hub.exporting.pipeline import GateOptions, export_run
    from hub.exporting.benchmark import bench_export, format_table

    results = []
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        work = Path(tmp)
        runs = list(args.run) + [quick_run(b, work) for b in args.backbone]
        exports = list(args.export)
        for run in runs:
            out = work / f"{run.name}-export"
            started = time.perf_counter()  # report.json holds no timings (hub/exporting/report.py)
            report = export_run(run, out, target="edge",
                                gate_options=GateOptions(max_samples=args.samples, threads=args.threads))
            print(f"# {run.name}: export + gate {time.perf_counter() - started:.1f} s; kept {report['kept']}, "
                  f"rejected {report['rejected']}, preferred {report['preferred_variant']}")
            print(accuracy_table(report))
            exports.append(out)
        for export in exports:
            result = bench_export(export, threads=args.threads, iters=args.iters)
            results.append(result)
            print(f"\n## {export.name} ({args.threads} threads; {result['inputs']})\n")
            print(format_table(result["rows"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
