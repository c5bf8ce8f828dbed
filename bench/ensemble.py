"""Does averaging pay? K members of a zoo ensemble entry vs the best single member, on the test split.

Trains the entry's members exactly as ``hub run ENTRY`` does (``OUT/members/NAME``; an existing
folder is resumed, so a second run only re-measures), exports the ensemble (gated) and one
member alone, then prints one table: each member's test accuracy, their mean ± std (sample std,
ddof=1), the best member, and the ensemble (PyTorch and its ONNX graph), all on the full test
split of the entry's dataset, which no choice here was tuned on; and the batch-1 p50 latency of
the ensemble graph against one member's graph, measured interleaved on the same real samples.

    .venv/bin/python bench/ensemble.py [--entry digits-ensemble] [--out /tmp/bench-ensemble]
    .venv/bin/python bench/ensemble.py --runs RUN_DIR RUN_DIR ... --out /tmp/bench-mixed   # any trained runs
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np


def latency_ratio(ensemble: Path, member: Path, threads: int, iters: int, rounds: int) -> dict[str, float]:
    """Batch-1 p50 of both fp32 graphs, alternating rounds so machine noise hits both alike; and the
    process CPU time per inference at one thread, which a machine shared with other jobs distorts less.

    Why the ratio can be far below K: members that share a frozen backbone (feature extraction)
    export identical initializers, which the exporter deduplicates, and onnxruntime's common
    subexpression elimination (graph optimisation level basic and up) then runs that backbone once.
    """
    import time

    from hub.runtime.session import make_session, run
    from hub.exporting.bench import latency, ort_engine
    from hub.exporting.samples import batches, load_dataset, make_encoder, split_samples
    from hub.plugins import get_hub
    from hub.training.rundir import load_run

    info, comps, _ = load_run(member, get_hub().registry, weights="model.safetensors")
    raw, labels = split_samples(load_dataset(info, comps), "test", 32)
    feeds = [f for f, _ in batches(raw, labels, make_encoder(info.input, comps.backbone_spec.input_names, None), 1)]
    engines = {"ensemble": ort_engine(ensemble / "onnx" / "model.onnx", threads),
               "member": ort_engine(member / "onnx" / "model.onnx", threads)}
    times: dict[str, list[float]] = {name: [] for name in engines}
    cpu: dict[str, list[float]] = {name: [] for name in engines}
    single = {"ensemble": make_session(ensemble / "onnx" / "model.onnx", providers=["CPUExecutionProvider"], threads=1),
              "member": make_session(member / "onnx" / "model.onnx", providers=["CPUExecutionProvider"], threads=1)}
    for _ in range(rounds):
        for name, call in engines.items():
            times[name].append(latency(call, feeds, warmup=3, iters=iters)["p50_ms"])
            started = time.process_time()
            for i in range(iters):
                run(single[name], feeds[i % len(feeds)])
            cpu[name].append((time.process_time() - started) * 1e3 / iters)
    out = {name: statistics.median(values) for name, values in times.items()}
    out.update({f"{name}_cpu": statistics.median(values) for name, values in cpu.items()})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entry", default="digits-ensemble")
    parser.add_argument("--zoo", default=None)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-ensemble"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=Path, nargs="+", help="Average these run dirs instead of training --entry.")
    args = parser.parse_args()

    from hub.exporting.pipeline import GateOptions, export_run

    from hub.exporting.ensemble import export_ensemble
    from hub.pipeline_ensemble import plan
    from hub.plugins import get_hub
    from hub.training.api import train
    from hub.zoo import load_catalogue

    registry = get_hub().registry
    everything = GateOptions(max_samples=None)  # the whole test split, for members and ensemble alike
    if args.runs:
        from hub.training.rundir import read_run_info

        run_dirs = list(args.runs)
        recipe = read_run_info(run_dirs[0]).recipe
        report = export_ensemble(run_dirs, args.out / "export", gate_options=everything, registry=registry)
    else:
        catalogue = load_catalogue(args.zoo)
        recipe = catalogue.recipe(args.entry, registry)
        section = catalogue.entry(args.entry).ensemble
        if section is None:
            raise SystemExit(f"{args.entry} has no ensemble section")
        members = plan(recipe, section, catalogue, registry)
        run_dirs = []
        for name, member in members:
            run_dir = args.out / "members" / name
            train(member, run_dir, registry, resume=(run_dir / "run.json").is_file(), progress=False)
            run_dirs.append(run_dir)
        report = export_ensemble(run_dirs, args.out / "export", weights=section["weights"],
                                 names=[n for n, _ in members], name=recipe.name, dataset=recipe.dataset,
                                 export_config=recipe.export, gate_options=everything, registry=registry)
    export_run(run_dirs[0], args.out / "member-export", quantize=[], gate_options=everything, registry=registry)
    record = report["ensemble"]
    metric = record["primary_metric"]
    scores = [m["gate_metrics"][metric] for m in record["members"]]
    fp32 = next(v for v in report["variants"] if v["variant"] == "fp32")
    timing = latency_ratio(args.out / "export", args.out / "member-export", args.threads, args.iters, args.rounds)

    print(f"{len(scores)} members ({', '.join(m['name'] for m in record['members'])}), first: {recipe.name}, "
          f"{recipe.backbone.name} {dict(recipe.input_size)} + {recipe.head.name}, {recipe.train.strategy}; "
          f"{record['samples']} {record['split']} samples of {recipe.dataset.name}")
    print(f"| model | {metric} ({record['split']}) |")
    print("|---|---|")
    for m, score in zip(record["members"], scores):
        print(f"| member {m['name']} ({m['head']}, seed {m['seed']}, weight {m['weight']:.3f}) | {score:.4f} |")
    print(f"| members mean ± std | {np.mean(scores):.4f} ± {np.std(scores, ddof=1):.4f} |")
    print(f"| best single member ({record['best_member']}) | {max(scores):.4f} |")
    print(f"| ensemble (PyTorch) | {record['metrics'][metric]:.4f} |")
    print(f"| ensemble (ONNX fp32, gated) | {fp32['metrics']['onnx'][metric]:.4f} |")
    gain = (record["metrics"][metric] - max(scores)) * 100
    print(f"\nensemble - best member: {gain:+.2f} points ({round(gain * record['samples'] / 100)} test samples)")
    print(f"batch-1 p50 latency ({args.threads} threads, median of {args.rounds} interleaved rounds): ensemble "
          f"{timing['ensemble']:.2f} ms, one member {timing['member']:.2f} ms, ratio "
          f"{timing['ensemble'] / timing['member']:.2f}x")
    print(f"CPU time per batch-1 inference (1 thread): ensemble {timing['ensemble_cpu']:.2f} ms, one member "
          f"{timing['member_cpu']:.2f} ms, ratio {timing['ensemble_cpu'] / timing['member_cpu']:.2f}x")
    (args.out / "bench.json").write_text(json.dumps({"record": record, "latency_ms_p50": timing}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
