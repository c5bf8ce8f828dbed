"""Speed of every family: torch eager vs a plain torch.onnx.export vs the hub's export and each variant.

    .venv/bin/python bench/speed.py                       # every zoo backbone at its default input size
    .venv/bin/python bench/speed.py --model resnet18 --model minilm-l6 --rounds 5 --json speed.json

Latency does not depend on trained weights, so vision backbones are built from random
weights and exported without a training run (text backbones load their packaged weights:
they build from their folder). The accuracy side of each variant (the validation gate on a
real test split) is `bench/export_latency.py`, which trains first.

Per model, in one process and with the same intra-op threads for every engine:
- engines: torch eager (the module as trained), ``plain`` = ``torch.onnx.export`` of the same
  module with nothing else (the baseline the hub must never be slower than), the hub's fp32
  export and every variant the hub makes (optimized, fp16, int8-dynamic, int8-static), all run
  through ``hub.runtime``'s session (what a deployer gets);
- rounds are interleaved (engine A, B, C, then B, C, A, ...: the order rotates, with a pause
  before each engine so no engine inherits another's spinning threads); latencies are the median of the
  rounds' p50s and each ratio is the median of the per-round ratios (eager and engine timed
  seconds apart), so the VM's drift between rounds cancels;
- inputs: batch 1 and batch 32; images are uniform noise at the default size, text is real
  Rotten Tomatoes test sentences at their own lengths (batch 32 padded to its longest);
- GFLOP/s: the eager forward's FLOPs (torch.utils.flop_counter) over each engine's batch-1
  p50, next to this machine's GEMM peak measured in the same run (fp32 torch and onnxruntime
  MatMul, int8 onnxruntime MatMulInteger u8 x s8), so the table says how far from the
  hardware each engine is. int8 engines do the same work in integer ops, so their GFLOP/s is
  "equivalent fp32 work per second".
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

VARIANTS = ("optimized", "fp16", "int8-dynamic", "int8-static")
#: Pause before each engine: torch's OpenMP workers keep spinning for a while after a call, and on
#: 2 cores they slowed whichever engine ran next (the plain export, always right after eager).
SETTLE_S = 0.5
TEXT_SENTENCES = 64


def build(name: str, side: int | None) -> tuple[Any, Any, Any]:
    """(eager HubModel with a 2-class linear head, spec, contract mapping for the exporter)."""
    import dataclasses

    from hub.model import HubModel, build_backbone, build_head
    from hub.plugins import get_hub

    registry = get_hub().registry
    spec = registry.get("backbone", name).spec
    text = spec.modality == "text"
    backbone = build_backbone(spec, {}, pretrained=text)
    head = build_head(registry.get("head", "linear"), {}, spec.feature_dim, 2)
    contract = spec.input
    if side and not text:
        contract = dataclasses.replace(contract, size=(side, side))
    return HubModel(backbone, head, spec.input_names).eval(), spec, contract


def inputs(spec: Any, contract: Any) -> tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray], str]:
    """Batch-1 feeds, one batch-32 feed and a description of what they are."""
    rng = np.random.default_rng(0)
    if spec.modality != "text":
        h, w = contract.size
        shape = (int(contract.channels), int(h), int(w))
        single = [{"pixel_values": rng.random((1, *shape), dtype=np.float32)} for _ in range(8)]
        return single, {"pixel_values": rng.random((32, *shape), dtype=np.float32)}, f"noise {h}x{w}"
    import dataclasses

    from hub.exporting import samples
    from hub.plugins import get_hub
    from hub.specs import resolve
    from hub.weights import resolve_weights

    folder = resolve_weights(spec)[0]
    encode = samples.make_encoder(dataclasses.replace(contract, max_length=128), spec.input_names, folder)
    dataset = resolve(get_hub().registry.get("dataset", "rotten-tomatoes").spec.factory)()
    raw, labels = samples.split_samples(dataset, "test", TEXT_SENTENCES)
    single = [f for f, _ in samples.batches(raw, labels, encode, 1)]
    full = samples.batches(raw, labels, encode, 32, limit=32)[0][0]
    lengths = sorted(int(f["input_ids"].shape[1]) for f in single)
    return single, full, f"Rotten Tomatoes test, {lengths[0]}-{lengths[-1]} tokens (median {lengths[len(lengths) // 2]})"


def session(path: Path, threads: int, level: str = "all", **config: str) -> Any:
    """An onnxruntime CPU session with one optimisation level and extra session config entries
    (the knobs bench/fp32_knobs.py and bench/minilm_int8.py compare); feeds are filtered to its inputs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                                        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}[level]
    for key, value in config.items():
        options.add_session_config_entry(key, value)
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return lambda feeds: sess.run(None, {n: feeds[n] for n in names})


def export_all(model: Any, spec: Any, contract: Any, single: list[dict], work: Path) -> dict[str, Path]:
    """The plain export, the hub's fp32 export and every variant the hub can make of it."""
    import warnings

    import torch

    from hub.exporting import variants
    from hub.exporting.onnx_export import dynamic_axes, example_inputs, export_onnx

    names = list(spec.input_names)
    shape = {"size": tuple(getattr(contract, "size", (0, 0))), "channels": getattr(contract, "channels", 3)}
    files = {"plain": work / "plain.onnx"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, example_inputs(names, shape), str(files["plain"]), dynamo=False, opset_version=18,
                          input_names=names, output_names=["logits"], dynamic_axes=dynamic_axes(names, ["logits"]))
    files["fp32"] = work / variants.FILES["fp32"]
    export_onnx(model, names, ["logits"], shape, files["fp32"], 18, where=spec.name)
    heads, hidden = 0, 0
    if spec.family == "bert":
        config = model.backbone.model.config
        heads, hidden = int(config.num_attention_heads), int(config.hidden_size)
    calibration = [{k: v for k, v in f.items()} for f in single[:16]]
    for name in VARIANTS:
        path = work / variants.FILES[name]
        try:
            variants.make_variant(name, files["fp32"], path, family=spec.family, calibration=calibration,
                                  num_heads=heads, hidden_size=hidden)
            files[name] = path
        except Exception as exc:  # reported in the table, like the gate reports a variant it cannot make
            print(f"  {spec.name}: {name} not made: {exc}", file=sys.stderr)
    return files


def timed(call: Any, feeds: list[dict], budget_s: float, most: int) -> float:
    """p50 ms over as many calls as fit in ``budget_s`` (at least 5, at most ``most``)."""
    start = time.perf_counter()
    call(feeds[0])
    once = time.perf_counter() - start
    iters = int(min(most, max(5, budget_s / max(once, 1e-6))))
    times = []
    for i in range(iters):
        start = time.perf_counter()
        call(feeds[i % len(feeds)])
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def measure(engines: dict[str, Any], single: list[dict], full: dict, rounds: int, budget_s: float,
            most: int) -> dict[str, dict[str, float]]:
    """Interleaved rounds; the median over rounds of each engine's batch-1 p50 and batch-32 rate."""
    b1: dict[str, list[float]] = {k: [] for k in engines}
    b32: dict[str, list[float]] = {k: [] for k in engines}
    names = list(engines)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:  # no engine always runs right after eager
            time.sleep(SETTLE_S)
            b1[name].append(timed(engines[name], single, budget_s, most))
            b32[name].append(32e3 / timed(engines[name], [full], budget_s, 3))
    eager = next(iter(engines))
    return {k: {"p50_ms": statistics.median(b1[k]), "b32_per_s": statistics.median(b32[k]),
                # ratios paired within a round: this VM's speed drifts by up to 2x between rounds
                "x_eager_b1": statistics.median(e / x for e, x in zip(b1[eager], b1[k])),
                "x_eager_b32": statistics.median(x / e for e, x in zip(b32[eager], b32[k])),
                "p50_rounds": [round(x, 3) for x in b1[k]]} for k in engines}


def same_graph(a: Path, b: Path) -> bool:
    """Whether two ONNX files hold the same nodes and weights (metadata aside)."""
    import onnx

    def key(path: Path) -> tuple:
        model = onnx.load(str(path))
        nodes = [(n.op_type, tuple(n.input), tuple(n.output), str(n.attribute)) for n in model.graph.node]
        return nodes, {t.name: t.raw_data for t in model.graph.initializer}

    return key(a) == key(b)


def eager_flops(model: Any, names: list[str], single: list[dict]) -> float:
    """Mean FLOPs of one batch-1 forward over the feeds (text lengths differ)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    total = 0
    for feeds in single:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            model(*(torch.from_numpy(feeds[n]) for n in names))
        total += counter.get_total_flops()
    return total / len(single)


def gemm_peaks(threads: int, n: int = 2048) -> dict[str, float]:
    """GFLOP/s of one n x n x n product: torch fp32, onnxruntime MatMul fp32 and MatMulInteger u8 x s8."""
    import onnx
    import torch
    from onnx import TensorProto, helper

    from hub.exporting.bench import ort_engine

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    work = 2 * n ** 3 / 1e9
    peaks = {"torch fp32": work / (timed(lambda _: a @ b, [{}], 2.0, 20) / 1e3)}
    rng = np.random.default_rng(0)
    for label, op, dtype, weights in (
            ("onnxruntime fp32", "MatMul", TensorProto.FLOAT, rng.standard_normal((n, n), dtype=np.float32)),
            ("onnxruntime int8", "MatMulInteger", TensorProto.UINT8,
             rng.integers(-128, 127, (n, n)).astype(np.int8))):
        graph = helper.make_graph(
            [helper.make_node(op, ["x", "w"], ["y"])], "gemm",
            [helper.make_tensor_value_info("x", dtype, [n, n])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT if op == "MatMul" else TensorProto.INT32, [n, n])],
            [onnx.numpy_helper.from_array(weights, "w")])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "gemm.onnx"
            onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
            call = ort_engine(path, threads)
            x = (rng.standard_normal((n, n), dtype=np.float32) if op == "MatMul"
                 else rng.integers(0, 255, (n, n)).astype(np.uint8))
            peaks[label] = work / (timed(call, [{"x": x}], 2.0, 20) / 1e3)
    return peaks


def bench_model(label: str, rounds: int, threads: int, budget_s: float, most: int) -> dict[str, Any]:
    from hub.exporting.bench import ort_engine, size_bytes, torch_engine

    name, _, side = label.partition(":")
    model, spec, contract = build(name, int(side) if side else None)
    single, full, what = inputs(spec, contract)
    names = list(spec.input_names)
    flops = eager_flops(model, names, single)
    with tempfile.TemporaryDirectory(prefix="hub-speed-") as tmp:
        files = export_all(model, spec, contract, single, Path(tmp))
        engines = {"torch-eager": torch_engine(model, names, threads)}
        engines.update({k: ort_engine(p, threads) for k, p in files.items()})
        rows = measure(engines, single, full, rounds, budget_s, most)
        sizes = {k: size_bytes(p) / 2**20 for k, p in files.items()}
        identical = same_graph(files["plain"], files["fp32"])
    for key, row in rows.items():
        row["gflops_per_s"] = flops / 1e9 / (row["p50_ms"] / 1e3)
        row["size_mb"] = sizes.get(key)
    return {"model": label, "inputs": what, "gflop_b1": flops / 1e9, "rows": rows, "rounds": rounds,
            "fp32_same_graph_as_plain": identical, "missing": [v for v in VARIANTS if v not in rows]}


def table(result: dict[str, Any], peak: float) -> str:
    same = "the same graph as plain" if result["fp32_same_graph_as_plain"] else "a different graph from plain"
    lines = [f"### {result['model']} ({result['inputs']}; {result['gflop_b1']:.2f} GFLOP per batch-1 forward; "
             f"hub fp32 is {same}; {result['rounds']} rounds)", "",
             "| engine | b1 p50 ms | × eager | b32 /s | × eager | GFLOP/s | % fp32 peak | size MB |",
             "|---|---|---|---|---|---|---|---|"]
    for key, r in result["rows"].items():
        lines.append(f"| {key} | {r['p50_ms']:.2f} | {r['x_eager_b1']:.2f} | {r['b32_per_s']:.1f} | "
                     f"{r['x_eager_b32']:.2f} | {r['gflops_per_s']:.0f} | {100 * r['gflops_per_s'] / peak:.0f} | "
                     + ("-" if r["size_mb"] is None else f"{r['size_mb']:.1f}") + " |")
    if result["missing"]:
        lines.append(f"\nnot made: {', '.join(result['missing'])}")
    return "\n".join(lines)


ENGINES = ("plain", "fp32", "optimized", "fp16", "int8-dynamic", "int8-static")


def summary(results: list[dict[str, Any]], peaks: dict[str, float]) -> str:
    """The BENCHMARKS tables: batch-1 and batch-32 ratios to eager per engine, and GFLOP/s vs the peak."""
    peak = max(peaks["torch fp32"], peaks["onnxruntime fp32"])

    def cells(rows: dict, key: str) -> str:
        return " | ".join(f"{rows[e][key]:.2f}" if e in rows else "not made" for e in ENGINES)

    head = " | ".join(ENGINES)
    out = [f"Batch 1: eager p50 and each engine's × eager\n\n| model | eager ms | {head} |\n|---|---|"
           + "---|" * len(ENGINES)]
    out += [f"| {r['model']} | {r['rows']['torch-eager']['p50_ms']:.2f} | {cells(r['rows'], 'x_eager_b1')} |"
            for r in results]
    out += [f"\nBatch 32: eager samples/s and each engine's × eager\n\n| model | eager /s | {head} |\n|---|---|"
            + "---|" * len(ENGINES)]
    out += [f"| {r['model']} | {r['rows']['torch-eager']['b32_per_s']:.1f} | {cells(r['rows'], 'x_eager_b32')} |"
            for r in results]
    out += [f"\nGFLOP/s at batch 1 (fp32 GEMM peak {peak:.0f}, int8 {peaks['onnxruntime int8']:.0f})\n\n"
            "| model | GFLOP | eager | fp32 | int8-static | eager % of fp32 peak | fp32 % | ceiling for fp32 (peak / eager) |"
            "\n|---|---|---|---|---|---|---|---|"]
    for r in results:
        rows = r["rows"]
        eager, fp32 = rows["torch-eager"]["gflops_per_s"], rows["fp32"]["gflops_per_s"]
        int8 = f"{rows['int8-static']['gflops_per_s']:.0f}" if "int8-static" in rows else "-"
        out.append(f"| {r['model']} | {r['gflop_b1']:.2f} | {eager:.0f} | {fp32:.0f} | {int8} | "
                   f"{100 * eager / peak:.0f} | {100 * fp32 / peak:.0f} | {peak / eager:.2f}× |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], help="backbone NAME or NAME:SIDE (repeatable; "
                                                                     "default: every backbone in the registry)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=1.5, help="seconds of batch-1 calls per engine per round")
    parser.add_argument("--iters", type=int, default=50, help="most batch-1 calls per engine per round")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--render", type=Path, nargs="+", help="print the summary of saved --json files (a later "
                                                               "file's models replace an earlier one's) and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.render:
        runs = [json.loads(p.read_text()) for p in args.render]
        merged = {r["model"]: r for run in runs for r in run["results"]}
        print(summary(list(merged.values()), runs[0]["peaks"]))
        return 0

    from hub.plugins import get_hub
    from hub.runtime.machine import describe

    models = args.model or [c.name for c in get_hub().registry.all("backbone") if c.name != "small-cnn"]
    machine = describe()
    peaks = gemm_peaks(args.threads)
    print(f"machine: {machine['cpu']} ({machine['cores']} cores; {' '.join(machine['isa'])}); "
          f"{args.threads} threads; GEMM 2048^3 peak GFLOP/s: "
          + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()), flush=True)
    peak = max(peaks["torch fp32"], peaks["onnxruntime fp32"])
    results = []
    for label in models:
        started = time.perf_counter()
        result = bench_model(label, args.rounds, args.threads, args.budget, args.iters)
        results.append(result)
        print(f"\n{table(result, peak)}\n({time.perf_counter() - started:.0f} s)", flush=True)
    print("\n" + summary(results, peaks))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "peaks": peaks, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
