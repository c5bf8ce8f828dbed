"""Knowledge distillation on Rotten Tomatoes: a MiniLM student alone vs distilled from SmolLM2 + LoRA.

Every row is one recipe through the real trainer (``hub.training.api.train``) on the packaged split
(3892 / 487 / 487); test accuracy is on the fixed 487-review test split nothing was tuned on. The
hyper-parameters were fixed before any run: the teacher is bench/lora.py's ``smollm2-lora`` (1 epoch,
lr 5e-4), each student bench/lora.py's ``minilm-lora`` (3 epochs, lr 1e-3, the value chosen on
validation there), distillation at the trainer's defaults (T = 2, alpha = 0.5). One teacher (seed 0);
each student runs with seeds 0, 1, 2 — alone, and with ``[distill] teacher = <the teacher's run folder>``.
Two follow-ups, each fixed before its runs: ``distilled-views2`` (the SmolLM2 teacher's ONNX export also
labels 2 perturbed copies of each review, ``distill.views = 2``, 2 epochs) and ``distilled-ensemble`` (the
teacher is the three alone students in one ``hub ensemble`` graph, picked over SmolLM2 on validation).
Then ``distilled-unlabelled`` / ``ft-distilled-unlabelled``: SmolLM2 + the ensemble (best on validation) also
label the 7,887 unlabelled reviews of ``rotten-tomatoes`` (``unlabelled = true``), 2 epochs (3x the examples).

Stages, each resumable (finished runs are read back from ``--out``):

    .venv/bin/python bench/distill.py teacher  [--out bench-distill]
    .venv/bin/python bench/distill.py students [--modes alone distilled] [--seeds 0 1 2]
    .venv/bin/python bench/distill.py teachers  # the alone students' ensemble; both teachers' val accuracy
    .venv/bin/python bench/distill.py students --modes distilled-ensemble   # from the teacher chosen on val
    .venv/bin/python bench/distill.py latency  [--threads 2]      # exports teacher + one student of each, b1 p50
    .venv/bin/python bench/distill.py table
    .venv/bin/python bench/distill.py vision   [--modes alone distilled] [--seeds 0 1 2]   # Fashion-MNIST, few labels
    .venv/bin/python bench/distill.py latency --vision; .venv/bin/python bench/distill.py table --vision

Run ``students --modes alone`` and ``students --modes distilled`` as two processes with
``OMP_NUM_THREADS=1`` to use both cores of a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from hub.plugins import get_hub
from hub.training.api import train
from hub.zoo import recipe_from_table

MINILM = {"name": "minilm-l6", "pooling": "mean"}
SMOLLM = {"name": "smollm2-135m", "pooling": "last", "max_length": 64}
TEACHER = {"backbone": SMOLLM, "train": {"strategy": "lora", "epochs": 1, "warmup_epochs": 0.1, "batch_size": 16,
                                         "lora_rank": 8, "lora_alpha": 16, "lr": 5e-4, "seed": 0}}
STUDENT = {"backbone": MINILM, "train": {"strategy": "lora", "epochs": 3, "warmup_epochs": 0.5, "batch_size": 32,
                                         "lora_rank": 8, "lora_alpha": 16, "lr": 1e-3}}
DISTILL = {"temperature": 2.0, "alpha": 0.5}
MIX = ("teacher", "minilm-ensemble")  # SmolLM2 + LoRA and the alone students' ensemble: best on validation
# bench/lora.py's minilm-finetune (alone: 0.8090 ± 0.0036, BENCHMARKS.md "Text: Rotten Tomatoes"): all 22.7 M weights
STUDENT_FT = {"backbone": MINILM, "train": {"strategy": "fine-tune", "epochs": 3, "layer_lr_decay": 0.8,
                                            "warmup_epochs": 0.5, "batch_size": 32, "lr": 5e-5}}

# Vision, few labels: 10 labelled Fashion-MNIST images per class (20 per class for validation), the full
# 10,000-image test split; transfer data = the first 500 training images per class in the same seeded order
# (5,000 images, the 100 labelled ones among them), labels never read. 64 px, last two layer groups trained.
FEW = {"name": "fashion-mnist", "train_per_class": 10, "validation_per_class": 20}
TRANSFER = {"name": "fashion-mnist", "train_per_class": 500, "validation_per_class": 1}
PARTIAL = {"strategy": "partial", "trainable_groups": 2, "batch_size": 32, "label_smoothing": 0.1}
VISION = {
    "teacher": {"backbone": {"name": "efficientnet-lite2", "image_size": 64}, "train": {**PARTIAL, "epochs": 15}},
    "alone": {"backbone": {"name": "efficientnet-lite0", "image_size": 64}, "train": {**PARTIAL, "epochs": 15}},
    "distilled": {"backbone": {"name": "efficientnet-lite0", "image_size": 64}, "train": {**PARTIAL, "epochs": 3}},
}


def _records(out: Path) -> list[dict]:
    path = out / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _train(name: str, table: dict, run_dir: Path, out: Path, **extra) -> dict:
    registry = get_hub().registry
    recipe = recipe_from_table(name, {"dataset": "rotten-tomatoes", **table}, registry, "bench")
    start = time.perf_counter()
    result = train(recipe, run_dir, registry, progress=False)
    row = {"run": name, "run_dir": str(run_dir), "seconds": round(time.perf_counter() - start, 1),
           "test_accuracy": result.summary["test"]["accuracy"],
           "val_accuracy": result.summary["validation"]["accuracy"], **extra}
    if "distillation" in result.summary:
        row["teacher_test_accuracy"] = result.summary["distillation"]["teacher"]["test_accuracy"]
    with (out / "runs.jsonl").open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)
    return row


def teacher(out: Path) -> Path:
    run_dir = out / "teacher"
    if not any(r["run"] == "teacher" for r in _records(out)):
        _train("teacher", TEACHER, run_dir, out, mode="teacher", seed=0)
    return run_dir


def students(out: Path, modes: list[str], seeds: list[int]) -> None:
    done = {(r.get("mode"), r.get("seed")) for r in _records(out)}
    for seed in seeds:
        for mode in modes:
            if (mode, seed) in done:
                continue
            student = STUDENT_FT if mode.startswith("ft-") else STUDENT
            table = {**student, "train": {**student["train"], "seed": seed}}
            if mode == "distilled-views2":  # the teacher's ONNX export labels 2 perturbed copies of each review
                table["train"]["epochs"] = 2  # 3x the examples per epoch: 2 epochs, fixed before any run
                table["distill"] = {**DISTILL, "views": 2, "teacher": str((out / "exports" / "teacher").resolve())}
            elif mode == "distilled-ensemble":  # teacher: the alone students' ensemble (hub ensemble), chosen on val
                table["distill"] = {**DISTILL, "teacher": str((out / "exports" / "minilm-ensemble").resolve())}
            elif mode in ("distilled-unlabelled", "ft-distilled-unlabelled"):  # + 7,887 reviews the teacher labels
                table["train"]["epochs"] = 2  # 3x the examples per epoch: 2 epochs, fixed before any run (as views2)
                table["distill"] = {**DISTILL, "transfer": {"name": "rotten-tomatoes", "unlabelled": True},
                                    "teacher": [str((out / "exports" / name).resolve()) for name in MIX]}
            elif mode in ("distilled-mix", "ft-distilled-mix"):  # both teachers averaged: the best on validation
                table["distill"] = {**DISTILL, "teacher": [str((out / "teacher").resolve()),
                                                           str((out / "exports" / "minilm-ensemble").resolve())]}
            elif mode.startswith("distilled"):  # "distilled-a0.9": alpha 0.9 (a candidate, rejected on validation)
                alpha = float(mode.split("-a")[1]) if "-a" in mode else DISTILL["alpha"]
                table["distill"] = {**DISTILL, "alpha": alpha, "teacher": str((out / "teacher").resolve())}
            name = f"student-{mode.replace('.', '')}-{seed}"  # entry names take no '.'
            _train(name, table, out / name, out, mode=mode, seed=seed)


def teachers(out: Path) -> None:
    """Choose the text teacher on validation: SmolLM2 + LoRA, or the three alone students averaged in one
    graph (``hub ensemble``; Hinton et al. 2015's ensemble-into-one distillation). Validation only: the
    test split is never read to choose."""
    import numpy as np

    from hub.data import load_dataset
    from hub.exporting.ensemble import export_ensemble
    from hub.training.distill import Teacher, averaged_logits

    ensemble = out / "exports" / "minilm-ensemble"
    if not (ensemble / "config.json").exists():
        export_ensemble([out / f"student-alone-{seed}" for seed in (0, 1, 2)], ensemble)
    if not (out / "exports" / "teacher" / "config.json").exists():
        from hub.exporting.pipeline import export_run

        export_run(out / "teacher", out / "exports" / "teacher")
    registry = get_hub().registry
    val = load_dataset(registry, "rotten-tomatoes", {}).split("validation")
    found = {name: Teacher.open(str(out / "exports" / name), registry) for name in ("teacher", "minilm-ensemble")}
    # the trainer's own averaging (distill.teacher = [both]), on the validation split only
    candidates = {**{name: [t] for name, t in found.items()}, "mix": list(found.values())}
    rows = {name: float((averaged_logits(ts, list(val.inputs)).argmax(1) == np.asarray(val.labels)).mean())
            for name, ts in candidates.items()}
    print(json.dumps({"val_accuracy": rows}), flush=True)
    (out / "teachers.json").write_text(json.dumps(rows, indent=1))


def vision(out: Path, modes: list[str], seeds: list[int]) -> None:
    """The few-label Fashion-MNIST study: a Lite2 teacher (seed 0), Lite0 students alone and distilled."""
    out = out / "vision"
    out.mkdir(parents=True, exist_ok=True)
    done = {(r.get("mode"), r.get("seed")) for r in _records(out)}
    if ("teacher", 0) not in done:
        table = {**VISION["teacher"], "dataset": FEW, "train": {**VISION["teacher"]["train"], "seed": 0}}
        _train("teacher", table, out / "teacher", out, mode="teacher", seed=0)
    for seed in seeds:
        for mode in modes:
            if (mode, seed) in done:
                continue
            table = {**VISION[mode], "dataset": FEW, "train": {**VISION[mode]["train"], "seed": seed}}
            if mode == "distilled":
                table["distill"] = {**DISTILL, "teacher": str((out / "teacher").resolve()), "transfer": TRANSFER}
            _train(f"student-{mode}-{seed}", table, out / f"student-{mode}-{seed}", out, mode=mode, seed=seed)


def latency(out: Path, threads: int) -> None:
    """Export the teacher and seed 0 of each student; time batch 1 on their own test samples."""
    from hub.exporting.benchmark import bench_export
    from hub.exporting.pipeline import export_run

    rows = []
    models = [("teacher", "teacher"), ("alone", "student-alone-0"), ("distilled", "student-distilled-0")]
    if (out / "exports" / "minilm-ensemble" / "config.json").exists():  # made by the teachers stage
        models.append(("minilm-ensemble", "minilm-ensemble"))
    for mode, run in models:
        # one export per model: the distilled students share the alone student's architecture and latency
        export_dir = out / "exports" / run
        if not (export_dir / "config.json").exists():
            export_run(out / run, export_dir)
        result = bench_export(export_dir, threads=threads, iters=30)
        for r in result["rows"]:
            rows.append({"mode": mode, "engine": r["engine"], "p50_ms": r["p50_ms"], "p95_ms": r["p95_ms"],
                         "size_mb": r["size_mb"], "threads": threads, "inputs": result["inputs"]})
            print(json.dumps(rows[-1]), flush=True)
    (out / "latency.json").write_text(json.dumps(rows, indent=1))


def table(out: Path) -> str:
    records = _records(out)
    lat = json.loads((out / "latency.json").read_text()) if (out / "latency.json").exists() else []

    def p50(mode: str, engine: str) -> str:
        hit = [r["p50_ms"] for r in lat if r["mode"] == mode and r["engine"] == engine]
        return f"{hit[0]:.1f}" if hit else "-"

    lines = ["| model | seeds | test accuracy (mean ± std) | per seed | val accuracy | eager b1 p50 ms | "
             "ONNX fp32 b1 p50 ms |", "|---|---|---|---|---|---|---|"]
    names = (("teacher", "teacher: EfficientNet-Lite2 64 px, 15 epochs"), ("alone", "student alone: Lite0, 15 epochs"),
             ("distilled", "student distilled: Lite0, 3 epochs over 5,100 images, T=2, alpha=0.5")) \
        if out.name == "vision" else (("teacher", "teacher: SmolLM2-135M + LoRA"),
                                      ("alone", "student alone: MiniLM-L6 + LoRA"),
                                      ("distilled", "student distilled: MiniLM-L6 + LoRA, T=2, alpha=0.5"),
                                      ("distilled-a0.9", "student distilled: MiniLM-L6 + LoRA, T=2, alpha=0.9"),
                                      ("distilled-views2", "student distilled: MiniLM-L6 + LoRA, T=2, alpha=0.5, "
                                       "+ 2 teacher-labelled views per review, 2 epochs"),
                                      ("distilled-ensemble", "student distilled from the ensemble: MiniLM-L6 + LoRA, "
                                       "T=2, alpha=0.5"),
                                      ("distilled-mix", "student distilled from SmolLM2 + the ensemble (averaged): "
                                       "MiniLM-L6 + LoRA, T=2, alpha=0.5"),
                                      ("ft-distilled-mix", "full fine-tune student distilled from SmolLM2 + the "
                                       "ensemble: MiniLM-L6, T=2, alpha=0.5"),
                                      ("distilled-unlabelled", "student distilled from SmolLM2 + the ensemble, + the "
                                       "~7,900 unlabelled reviews: MiniLM-L6 + LoRA, 2 epochs"),
                                      ("ft-distilled-unlabelled", "full fine-tune student distilled from SmolLM2 + "
                                       "the ensemble, + the ~7,900 unlabelled reviews: MiniLM-L6, 2 epochs"))
    chosen = json.loads((out / "teachers.json").read_text()) if (out / "teachers.json").exists() else {}
    for mode, label in names:
        rows = sorted((r for r in records if r.get("mode") == mode), key=lambda r: r["seed"])
        if not rows:
            continue
        key = {"distilled-ensemble": "minilm-ensemble", "distilled-mix": "mix"}.get(mode)
        if key in chosen:  # the teacher of these students: its test accuracy as each run recorded it
            lines.append(f"| its teacher ({key}) | - | {rows[0]['teacher_test_accuracy']:.4f} | - | "
                         f"{chosen[key]:.4f} | {p50(key, 'torch-eager')} | {p50(key, 'fp32')} |")
        test = [r["test_accuracy"] for r in rows]
        std = f" ± {statistics.stdev(test):.4f}" if len(test) > 1 else " (1 seed)"
        lines.append(f"| {label} | {len(rows)} | {statistics.mean(test):.4f}{std} | "
                     f"{', '.join(f'{t:.4f}' for t in test)} | {statistics.mean(r['val_accuracy'] for r in rows):.4f} | "
                     f"{p50(mode, 'torch-eager')} | {p50(mode, 'fp32')} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["teacher", "teachers", "students", "vision", "latency", "table"])
    parser.add_argument("--vision", action="store_true", help="latency/table: the Fashion-MNIST study")
    parser.add_argument("--out", type=Path, default=Path("bench-distill"))
    parser.add_argument("--modes", nargs="+", choices=["alone", "distilled", "distilled-a0.9", "distilled-views2",
                                                    "distilled-ensemble", "distilled-mix", "ft-distilled-mix",
                                                    "distilled-unlabelled", "ft-distilled-unlabelled"],
                        default=["alone", "distilled"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.stage == "teacher":
        teacher(args.out)
    elif args.stage == "teachers":
        teachers(args.out)
    elif args.stage == "students":
        students(args.out, args.modes, args.seeds)
    elif args.stage == "vision":
        vision(args.out, args.modes, args.seeds)
    elif args.stage == "latency":
        latency(args.out / "vision" if args.vision else args.out, args.threads)
    print(table(args.out / "vision" if args.vision or args.stage == "vision" else args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
