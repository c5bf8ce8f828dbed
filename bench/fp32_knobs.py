"""fp32 candidates beyond the plain export, measured instead of guessed (issue 13, item 2).

    .venv/bin/python bench/fp32_knobs.py --model resnet18 --model mobilenet-v2 --rounds 5

For each backbone (random weights: latency does not depend on them) the hub's fp32 export runs
under each onnxruntime setting below, interleaved with torch eager in the same rounds and on the
same threads (bench/speed.py's ``measure``: rotated order, a pause before each engine, ratios
paired within a round); each figure is the median over rounds of a batch-1 p50:
- ``all`` (the runtime's default: every optimisation, NCHWc layout on x86), ``extended`` (no
  layout transformation), ``basic``;
- ``saved-all``: the graph optimised at level ALL and saved, loaded with optimisations off (what
  "saving the optimised model" buys at load time; machine-specific, so never shipped);
- ``static-batch``: the batch axis fixed to 1 (onnxruntime.tools.onnx_model_utils);
- ``no-spin``: intra-op threads do not spin between ops.
BN folding needs no row: the exporter's constant folding already folds every BatchNormalization
into its Conv (the bench asserts that the graph has none).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed import build, inputs, measure, session  # noqa: E402


def saved_all(src: Path, dst: Path, threads: int) -> Path:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(dst)
    ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])
    return dst


def static_batch(src: Path, dst: Path) -> Path:
    import onnx
    from onnxruntime.tools.onnx_model_utils import fix_output_shapes, make_dim_param_fixed

    model = onnx.load(str(src))
    make_dim_param_fixed(model.graph, "batch", 1)
    fix_output_shapes(model)
    onnx.save(model, str(dst))
    return dst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import onnx

    from hub.exporting.bench import torch_engine
    from hub.exporting.onnx_export import export_onnx

    print("| model | eager ms | " + " | ".join(("all", "extended", "basic", "saved-all", "static-batch", "no-spin"))
          + " |\n|---|---|---|---|---|---|---|---|")
    for label in args.model:
        name, _, side = label.partition(":")
        model, spec, contract = build(name, int(side) if side else None)
        single, _, _ = inputs(spec, contract)
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = Path(tmp) / "model.onnx"
            export_onnx(model, spec.input_names, ["logits"], {"size": contract.size, "channels": contract.channels},
                        fp32, 18)
            ops = {n.op_type for n in onnx.load(str(fp32)).graph.node}
            assert "BatchNormalization" not in ops, "BN was not folded into the convolutions"
            engines = {"eager": torch_engine(model, spec.input_names, args.threads),
                       "all": session(fp32, args.threads), "extended": session(fp32, args.threads, "extended"),
                       "basic": session(fp32, args.threads, "basic"),
                       "saved-all": session(saved_all(fp32, Path(tmp) / "all.onnx", args.threads), args.threads,
                                            "none"),
                       "static-batch": session(static_batch(fp32, Path(tmp) / "b1.onnx"), args.threads),
                       "no-spin": session(fp32, args.threads, **{"session.intra_op.allow_spinning": "0"})}
            # batch 1 only: the static-batch graph takes nothing else (the b32 column is not reported)
            rows = measure(engines, single, single[0], args.rounds, 1.5, 50)  # interleaved, rotated, paired
        print(f"| {label} | {rows['eager']['p50_ms']:.2f} | " + " | ".join(
            f"{rows[k]['p50_ms']:.2f} ({rows[k]['x_eager_b1']:.2f}×)" for k in engines if k != "eager") + " |",
            flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
