"""int8-static calibration methods, judged by the validation gate on a real test split (issue 13, item 3).

    .venv/bin/python bench/int8_calibration.py --backbone efficientnet-lite0 --backbone resnet18

Each backbone is trained quickly with the real trainer (bench/export_latency.py's ``quick_run``:
feature extraction on digits at the default input size; backbones without offline weights start
from random weights). Its fp32 export is quantised with each calibration method on the same 128
training images the hub calibrates on, and every variant goes through ``gate.check_variant`` on the
test split: accuracy, drop in points, top-1 agreement, batch-1 p50 (interleaved rounds, median),
next to fp32. Calibration is chosen on the training split, judged on the test split.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from export_latency import quick_run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", action="append", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=487)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    from hub.exporting.pipeline import GateOptions

    from hub.exporting import gate, samples, variants
    from hub.exporting.bench import latency, ort_engine
    from hub.exporting.onnx_export import export_onnx
    from hub.exporting.pipeline import _calibration, _reference
    from hub.plugins import get_hub
    from hub.training.rundir import load_run

    print("| backbone | calibration | test accuracy | drop (pts) | top-1 agreement | b1 p50 ms | × fp32 | gate |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="hub-calib-") as tmp:
        for backbone in args.backbone:
            run = quick_run(backbone, Path(tmp))
            info, comps, model = load_run(run, get_hub().registry)
            spec = comps.backbone_spec
            encode = samples.make_encoder(info.input, spec.input_names, None)
            options = GateOptions(max_samples=args.samples, threads=args.threads)
            ref, _ = _reference(info, comps, model, None, options, encode, allow_few=False)
            calibration = _calibration(info, comps, encode)
            tolerances = options.resolve(info.recipe.export)
            fp32 = Path(tmp) / f"{run.name}.onnx"
            export_onnx(model, spec.input_names, comps.task.spec.output_names, dataclasses.asdict(info.input), fp32, 18)
            files = {"fp32": fp32}
            for method in variants.CALIBRATION_METHODS:
                files[method] = variants.make_variant("int8-static", fp32, Path(tmp) / f"{run.name}-{method}.onnx",
                                                      calibration=calibration, calibration_method=method)
            results = {k: gate.check_variant("fp32" if k == "fp32" else "int8-static", p, ref,
                                             tolerances["fp32" if k == "fp32" else "int8-static"],
                                             threads=args.threads) for k, p in files.items()}
            single = [feeds for feeds, _ in ref.passes[0].batches]
            engines = {k: ort_engine(p, args.threads) for k, p in files.items()}
            rounds: dict[str, list[float]] = {k: [] for k in files}
            for _ in range(args.rounds):
                for key, call in engines.items():
                    rounds[key].append(latency(call, single, warmup=3, iters=30)["p50_ms"])
            p50 = {k: statistics.median(v) for k, v in rounds.items()}
            for key, result in results.items():
                onnx_metrics = result.get("metrics", {}).get("onnx", {})
                print(f"| {backbone} | {key} | {onnx_metrics.get('accuracy', float('nan')):.4f} | "
                      f"{result.get('metric_drop_points', float('nan')):.2f} | "
                      f"{result.get('top1_agreement', float('nan')):.3f} | {p50[key]:.2f} | "
                      f"{p50['fp32'] / p50[key]:.2f} | {'pass' if result['passed'] else 'FAIL'} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
