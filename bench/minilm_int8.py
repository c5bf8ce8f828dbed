"""MiniLM int8 candidates on real Rotten Tomatoes sentences: latency × eager and test accuracy (issue 13, item 4).

    .venv/bin/python bench/minilm_int8.py [--rounds 5]

A quick feature-extraction run of rt-minilm (bench/export_latency.py's ``quick_run``) is exported
fp32 by the hub (attention traced plain, so it fuses), then quantised several ways. Every
candidate's accuracy is measured on the whole packaged test split (487 reviews) next to fp32,
and its batch-1 p50 on the test sentences at their own lengths, interleaved with torch eager on
the same 2 threads (rotated order, a pause before each engine, median of per-round ratios):
- ``hub int8-dynamic``: what ``hub export`` ships (BERT fusions, QAttention, per-channel weights,
  float embeddings);
- ``+ int8 embeddings``: the same with EmbedLayerNormalization quantised too (quantize_dynamic's default);
- ``unfused int8``: quantize_dynamic of the graph without the fusions (the previous export);
- ``+ FastGelu``: the fusions with the tanh approximation of GELU;
- ``per-tensor``: per-tensor instead of per-channel weights;
- ``no spinning`` / ``block base 4``: onnxruntime thread-pool settings on the hub's graph.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from export_latency import quick_run  # noqa: E402
from speed import session  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    from hub.exporting import samples, variants
    from hub.exporting.bench import SETTLE_S, latency, torch_engine
    from hub.exporting.onnx_export import export_onnx
    from hub.plugins import get_hub
    from hub.training.rundir import load_run
    from hub.weights import resolve_weights

    with tempfile.TemporaryDirectory(prefix="hub-minilm-") as tmp:
        work = Path(tmp)
        info, comps, model = load_run(quick_run("minilm-l6", work), get_hub().registry)
        spec = comps.backbone_spec
        names = spec.input_names
        encode = samples.make_encoder(info.input, names, resolve_weights(spec)[0])
        raw, labels = samples.split_samples(samples.load_dataset(info, comps), "test", None)
        single = [f for f, _ in samples.batches(raw, labels, encode, 1)]
        fp32 = work / "model.onnx"
        import dataclasses

        export_onnx(model, names, ["logits"], dataclasses.asdict(info.input), fp32, 18)
        config = model.backbone.model.config
        dims = {"num_heads": int(config.num_attention_heads), "hidden_size": int(config.hidden_size)}
        files = {"fp32": fp32, "hub int8-dynamic": variants.make_variant("int8-dynamic", fp32, work / "hub.onnx",
                                                                          family="bert", **dims)}
        quantize_dynamic(str(fp32), str(work / "unfused.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": 1})
        files["unfused int8"] = work / "unfused.onnx"
        for label, gelu, per_channel, ops in (("+ int8 embeddings", False, True, None),
                                              ("+ FastGelu", True, True, variants.BERT_INT8_OPS),
                                              ("per-tensor", False, False, variants.BERT_INT8_OPS)):
            fusion = FusionOptions("bert")
            fusion.enable_gelu_approximation = gelu
            fused = optimize_model(str(fp32), model_type="bert", opt_level=0, optimization_options=fusion, **dims)
            fused.save_model_to_file(str(work / "fused.onnx"))
            out = work / f"{label.strip('+ ').replace(' ', '-')}.onnx"
            quantize_dynamic(str(work / "fused.onnx"), str(out), weight_type=QuantType.QInt8,
                             per_channel=per_channel, op_types_to_quantize=ops,
                             extra_options={"DefaultTensorType": 1})
            files[label] = out
        engines = {"torch eager": torch_engine(model, names, args.threads)}
        engines.update({k: session(p, args.threads) for k, p in files.items()})
        engines["no spinning"] = session(files["hub int8-dynamic"], args.threads,
                                         **{"session.intra_op.allow_spinning": "0"})
        engines["block base 4"] = session(files["hub int8-dynamic"], args.threads,
                                          **{"session.dynamic_block_base": "4"})
        accuracy = {}
        for key, call in engines.items():
            if key == "torch eager":
                continue
            predictions = np.array([int(np.argmax(call(f)[0])) for f in single])
            accuracy[key] = float(np.mean(predictions == labels[:len(predictions)]))
        rounds: dict[str, list[float]] = {k: [] for k in engines}
        for r in range(args.rounds):
            order = list(engines)
            for key in order[r % len(order):] + order[:r % len(order)]:
                time.sleep(SETTLE_S)  # no engine inherits another's spinning threads
                rounds[key].append(latency(engines[key], single[:64], warmup=5, iters=64)["p50_ms"])
    eager = rounds["torch eager"]
    print(f"| candidate | b1 p50 ms | × eager | test accuracy ({len(single)}) | drop vs fp32 (pts) |")
    print("|---|---|---|---|---|")
    for key, values in rounds.items():
        ratio = statistics.median(e / v for e, v in zip(eager, values))
        acc = accuracy.get(key, accuracy["hub int8-dynamic"] if key in ("no spinning", "block base 4") else None)
        print(f"| {key} | {statistics.median(values):.2f} | {ratio:.2f} | "
              + ("-" if acc is None else f"{acc:.4f}") + " | "
              + ("-" if acc is None else f"{100 * (accuracy['fp32'] - acc):.2f}") + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
