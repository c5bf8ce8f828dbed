"""Does transfer pay? Accuracy tables, mean ± std over seeds, on test splits never tuned on.

Every number comes from a real `hub.train` run through the one trainer, from a
recipe, exactly as `hub train` would run it; only the seed changes between
repeats (initialisation, batch order, augmentation). Test splits are fixed
(dataset seed 0) and read only after training.

Tables:

- ``da``: domain shift from MNIST-5k (labelled source) to several unlabelled
  targets (``--shifts``): scikit-learn ``digits``, and ``mnist-shift`` with
  ``invert``, ``rotate`` or ``noise`` (mnist-5k's own test images under a fixed
  shift chosen before any result was seen: hub_vision/data/shifts.py).
  small-cnn from scratch. Per shift and seed there are two runs. One
  ``adapt.method = "auto"`` run: it trains every candidate ("none" = source
  only, and every installed adaptation method that can run) as a full sub-run
  with exactly the recipe a standalone run of that method has, records each
  one's target test accuracy (for evaluation only) and unsupervised scores,
  and keeps one by its criterion. Every method's row is read from those
  candidate records: the same runs a separate `hub train --adapt METHOD` per
  method would make, trained once instead of twice, not a shortcut. The other
  run is the ceiling: supervised on the target's own labels, with epochs
  scaled by train-split sizes so it takes about as many steps as the source
  runs. Hyper-parameters are the methods' reference defaults (adaptation
  weight 1), fixed before any target number was seen; nothing is tuned on a
  target test split. Printed per shift: each row's accuracy, "gap closed"
  ((acc - source only) / (ceiling - source only)) and MNIST validation
  accuracy; then a summary (best method, auto against it) and an audit of
  which candidate each recorded criterion (rv, im, snd, dev) would have chosen.
- ``few-labels``: Fashion-MNIST with 100 labels per class (50 per class for
  validation, the official 10k test set), EfficientNet-Lite0 with its ImageNet
  weights (frozen probe and fine-tune) vs the same architecture from random
  init (fine-tune, the fair baseline: precise-BN re-estimates the batch-norm
  statistics after each epoch, see hub/adapt.py).

    .venv/bin/python bench/transfer.py da --seeds 0 1 2 --epochs 2
    .venv/bin/python bench/transfer.py da --shifts invert --seeds 0 --epochs 1 --rows ceiling
    .venv/bin/python bench/transfer.py few-labels --seeds 0 1 2

Results print as Markdown tables (and JSON with --json PATH) for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hub.data import load_dataset
from hub.plugins import get_hub
from hub.training.api import train
from hub.zoo import apply_override, recipe_from_table

SOURCE = "mnist-5k"
SHIFTS = ("digits", "invert", "rotate", "noise")
CRITERIA = {"rv": max, "im": max, "snd": max, "dev": min}  # dev is an estimated risk: lower is better


def evaluate(run_dir: Path, dataset: dict[str, Any], split: str = "test") -> float:
    """Accuracy of a finished run on another dataset's split (same label set), through the run's encoder."""
    import torch

    from hub.model import build_task
    from hub.training.data import InputEncoder
    from hub.training.rundir import load_run
    from hub.training.trainer import Feed

    registry = get_hub().registry
    info, comps, model = load_run(run_dir, registry)
    options = dict(dataset)
    data = load_dataset(registry, options.pop("name"), options)
    if tuple(data.label_names) != tuple(info.label_names):
        raise SystemExit(f"{data.name} labels {data.label_names} differ from the run's {info.label_names}")
    feed = Feed(data.split(split), 256, encoder=InputEncoder(info.input))
    task = build_task(comps.task, {}, len(info.label_names))
    outs, labels = [], []
    with torch.no_grad():
        for inputs, target in feed.batches(0, torch.device("cpu")):
            outs.append(model(*inputs))
            labels.append(target)
    return float(task.metrics(torch.cat(outs), torch.cat(labels))["accuracy"])


def run_one(raw: dict[str, Any], seed: int, work: Path, name: str) -> dict[str, Any]:
    raw = json.loads(json.dumps(raw))
    raw.setdefault("train", {})["seed"] = seed
    recipe = recipe_from_table(name.replace("--", "-")[:60], raw, get_hub().registry, "bench")
    started = time.perf_counter()
    result = train(recipe, work / f"{name}-s{seed}", get_hub().registry, progress=False)
    result.summary["wall_seconds"] = time.perf_counter() - started
    return result.summary


DA_BASE = {"backbone": {"name": "small-cnn", "pretrained": False, "image_size": 16}, "dataset": SOURCE,
           "head": "linear", "train": {"strategy": "fine-tune", "epochs": 5, "batch_size": 64, "lr": 0.003,
                                                     "precise_bn": 1024}}


def target_of(shift: str) -> dict[str, Any]:
    return {"name": "digits"} if shift == "digits" else {"name": "mnist-shift", "shift": shift}


def train_size(ref: dict[str, Any]) -> int:
    options = dict(ref)
    return len(load_dataset(get_hub().registry, options.pop("name"), options).split("train"))


def da_recipes(shift: str, epochs: int, image_size: int, overrides: tuple[str, ...] = (),
               candidates: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The two recipes of one shift: the auto run (every candidate inside) and the target-supervised ceiling.

    The ceiling's epochs are the source's times round(source train / target train), so it takes about as
    many optimiser steps as a source run: x3 for digits (1258 vs 3500), x9 for a mnist-shift (375).
    """
    base = json.loads(json.dumps(DA_BASE))
    base["train"]["epochs"] = epochs
    base["backbone"]["image_size"] = image_size
    for assignment in overrides:  # post-hoc variations (--set): applied to both runs, reported as such
        apply_override(base, assignment)
    target = target_of(shift)
    method = {"name": "auto", **({"candidates": candidates} if candidates else {})}
    auto = {**base, "adapt": {"method": method, "target": target}}
    ceiling = json.loads(json.dumps(base))
    ceiling["dataset"] = target
    ceiling["train"]["epochs"] = epochs * max(1, round(train_size({"name": SOURCE}) / train_size(target)))
    return {"auto": auto, "ceiling": ceiling}


def short(method: str) -> str:
    return method.split(":", 1)[-1]


def auto_record(summary: dict[str, Any]) -> dict[str, Any]:
    """What the tables need from one auto run's summary.json (hub/training/auto_adapt.py writes it)."""
    auto = summary["adaptation"]["auto"]
    return {"chosen": short(auto["chosen"]), "criterion": auto["criterion"], "fallback": auto.get("fallback"),
            "accuracy": summary["target"]["test"]["accuracy"], "seconds": summary["wall_seconds"],
            "candidates": [{**c, "method": short(c["method"])} for c in auto["candidates"]]}


def run_da(shifts: list[str], seeds: list[int], epochs: int, image_size: int, parts: list[str],
           work: Path, overrides: tuple[str, ...] = (), candidates: list[str] | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {"table": "da", "seeds": seeds, "epochs": epochs, "image_size": image_size,
                               "overrides": list(overrides), "candidates": candidates, "shifts": {}}
    for shift in shifts:
        recipes = da_recipes(shift, epochs, image_size, overrides, candidates)
        entry: dict[str, Any] = {"target": target_of(shift), "ceiling_epochs": recipes["ceiling"]["train"]["epochs"],
                                 "auto": [], "ceiling": []}
        results["shifts"][shift] = entry
        for seed in seeds:
            if "auto" in parts:
                record = auto_record(run_one(recipes["auto"], seed, work, f"{shift}-auto"))
                entry["auto"].append({"seed": seed, **record})
                print(f"  {shift} seed {seed}: auto chose {record['chosen']} ({record['accuracy']:.4f}); "
                      + ", ".join(f"{c['method']} {c['target_test_accuracy']:.4f}" for c in record["candidates"]),
                      file=sys.stderr, flush=True)
            if "ceiling" in parts:
                summary = run_one(recipes["ceiling"], seed, work, f"{shift}-ceiling")
                source = evaluate(work / f"{shift}-ceiling-s{seed}", {"name": SOURCE}, "validation")
                entry["ceiling"].append({"seed": seed, "accuracy": summary["test"]["accuracy"],
                                         "source_validation_accuracy": source, "seconds": summary["wall_seconds"]})
                print(f"  {shift} seed {seed}: ceiling {summary['test']['accuracy']:.4f} "
                      f"({recipes['ceiling']['train']['epochs']} epochs, MNIST validation {source:.4f})",
                      file=sys.stderr, flush=True)
    return results


def method_rows(entry: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    """method -> {"acc", "source", "seconds", "errors"} lists over seeds, from the auto runs' candidate records."""
    rows: dict[str, dict[str, list[float]]] = {}
    for run in entry["auto"]:
        for c in run["candidates"]:
            row = rows.setdefault(c["method"], {"acc": [], "source": [], "seconds": [], "errors": []})
            if c.get("error"):  # skipped (cannot run here) or diverged: no accuracy, the row says why
                row["errors"].append(c["error"])
            for key, field in (("acc", "target_test_accuracy"), ("source", "source_validation_accuracy"),
                               ("seconds", "seconds")):
                if _finite(c.get(field)):  # a candidate that could not train records none; its row says so
                    row[key].append(c[field])
    return dict(sorted(rows.items(), key=lambda item: item[0] != "none"))  # source only first


def criterion_picks(entry: dict[str, Any], criterion: str) -> tuple[list[str], list[float]]:
    """Per seed, the candidate a criterion's recorded scores rank first, and that candidate's accuracy."""
    names, accs = [], []
    for run in entry["auto"]:
        scored = [c for c in run["candidates"] if _finite((c.get("scores") or {}).get(criterion))
                  and _finite(c.get("target_test_accuracy"))]
        if not scored:
            names.append("n/a")
            continue
        best = CRITERIA[criterion](scored, key=lambda c: c["scores"][criterion])
        names.append(best["method"])
        accs.append(best["target_test_accuracy"])
    return names, accs


def da_table(shift: str, entry: dict[str, Any], seeds: int) -> list[str]:
    methods = method_rows(entry)
    source_only = methods.get("none", {}).get("acc")
    ceiling = [c["accuracy"] for c in entry["ceiling"]]
    plural = "s" if seeds > 1 else ""
    lines = [f"**MNIST-5k -> {_target_name(entry['target'])}**", "",
             f"| method | target test accuracy (mean ± std, {seeds} seed{plural}) | gap closed "
             "| MNIST validation accuracy | s/run |", "|---|---|---|---|---|"]

    def row(label: str, acc: list[float], source: list[float], seconds: list[float]) -> None:
        seconds_ = f"{statistics.mean(seconds):.0f}" if seconds else "—"
        lines.append(f"| {label} | {_pm(acc)} | {_gap(acc, source_only, ceiling)} | {_pm(source)} | {seconds_} |")

    for name, r in methods.items():
        label = "source only" if name == "none" else name
        if r["errors"]:
            label += f" ({len(r['errors'])} seed(s) did not train: {r['errors'][0][:80]})"
        row(label, r["acc"], r["source"], r["seconds"])
    if entry["auto"]:
        chose = ", ".join(run["chosen"] for run in entry["auto"])
        chosen_source = [c["source_validation_accuracy"] for run in entry["auto"] for c in run["candidates"]
                         if c["method"] == run["chosen"]]
        row(f"auto (chose: {chose} per seed)", [r["accuracy"] for r in entry["auto"]], chosen_source,
            [r["seconds"] for r in entry["auto"]])
        fallbacks = {r["fallback"] for r in entry["auto"] if r.get("fallback")}
        lines += [f"| (auto fell back: {'; '.join(sorted(fallbacks))}) | | | | |"] if fallbacks else []
    row(f"target supervised (ceiling, {entry['ceiling_epochs']} epochs)", ceiling,
        [c["source_validation_accuracy"] for c in entry["ceiling"]], [c["seconds"] for c in entry["ceiling"]])
    return lines + [""]


def da_summary(results: dict[str, Any]) -> list[str]:
    """Per shift: the best adaptation method (source only excluded), auto against it, and each criterion's pick."""
    head = "| shift | best method | its accuracy | its gap closed | auto | auto − best (points) | " + \
        " | ".join(f"{c} would choose (accuracy)" for c in CRITERIA) + " |"
    lines = [head, "|" + "---|" * (6 + len(CRITERIA))]
    if not any(entry["auto"] for entry in results["shifts"].values()):
        return []
    for shift, entry in results["shifts"].items():
        methods = method_rows(entry)
        if not entry["auto"]:
            continue
        source_only = methods.get("none", {}).get("acc")
        ceiling = [c["accuracy"] for c in entry["ceiling"]]
        adapted = {m: r for m, r in methods.items() if m != "none"}
        adapted = {m: r for m, r in adapted.items() if r["acc"]}
        best = max(adapted, key=lambda m: statistics.mean(adapted[m]["acc"])) if adapted else None
        best_acc = adapted[best]["acc"] if best else []
        auto = [r["accuracy"] for r in entry["auto"]]
        delta = f"{100 * (statistics.mean(auto) - statistics.mean(best_acc)):+.1f}" if best else "—"
        picks = []
        for criterion in CRITERIA:
            names, accs = criterion_picks(entry, criterion)
            picks.append(f"{', '.join(names)} ({statistics.mean(accs):.4f})" if accs else "n/a")
        criterion = entry["auto"][0]["criterion"]
        lines.append(f"| {shift} | {best or '—'} | {_pm(best_acc)} | {_gap(best_acc, source_only, ceiling)} "
                     f"| {_pm(auto)} ({criterion}) | {delta} | " + " | ".join(picks) + " |")
    return lines


def few_label_rows(epochs: int, image_size: int) -> list[tuple[str, dict[str, Any], str]]:
    data = {"name": "fashion-mnist", "train_per_class": 100, "validation_per_class": 50}
    lite = {"name": "efficientnet-lite0", "image_size": image_size}
    common = {"batch_size": 32, "epochs": epochs}
    return [
        ("Lite0 ImageNet, frozen probe", {"backbone": lite, "dataset": data, "head": "linear",
                                          "train": {**common, "strategy": "feature-extraction", "lr": 0.01}}, "test"),
        ("Lite0 ImageNet, fine-tune", {"backbone": lite, "dataset": data, "head": "linear",
                                       "train": {**common, "strategy": "fine-tune", "lr": 0.001,
                                                 "layer_lr_decay": 0.8}}, "test"),
        ("Lite0 random init, fine-tune", {"backbone": {**lite, "pretrained": False}, "dataset": data,
                                          "head": "linear",
                                          "train": {**common, "strategy": "fine-tune", "lr": 0.003}}, "test"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", choices=("da", "few-labels"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--shifts", nargs="+", choices=SHIFTS, default=list(SHIFTS),
                        help="da: the targets (digits, or mnist-shift with this shift)")
    parser.add_argument("--rows", nargs="*", help="only rows whose name contains one of these "
                                                  "(da: 'auto' and/or 'ceiling', the two runs per shift and seed)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="da: a recipe override for both runs (a post-hoc variation: report it as one)")
    parser.add_argument("--candidates", nargs="+", help="da: auto's candidates (default: every method and none)")
    parser.add_argument("--tables-from", type=Path, metavar="JSON",
                        help="da: print the tables of an earlier --json file instead of training")
    args = parser.parse_args(argv)
    if args.table == "da":
        if args.tables_from:
            results = json.loads(args.tables_from.read_text())
        else:
            parts = [p for p in ("auto", "ceiling") if not args.rows or any(r in p for r in args.rows)]
            with tempfile.TemporaryDirectory(prefix="hub-transfer-") as tmp:
                results = run_da(args.shifts, args.seeds, args.epochs or 5, args.image_size or 16, parts, Path(tmp),
                                 tuple(args.overrides), args.candidates)
        for shift, entry in results["shifts"].items():
            print("\n".join(da_table(shift, entry, len(results["seeds"]))))
        print("\n".join(da_summary(results)))
    else:
        results = few_labels(args)
    if args.json and not args.tables_from:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def few_labels(args: argparse.Namespace) -> dict[str, Any]:
    rows = few_label_rows(args.epochs or 12, args.image_size or 64)
    if args.rows:
        rows = [r for r in rows if any(part in r[0] for part in args.rows)]
    results: dict[str, Any] = {"table": args.table, "seeds": args.seeds, "rows": {}}
    with tempfile.TemporaryDirectory(prefix="hub-transfer-") as tmp:
        for label, raw, _ in rows:
            scores, seconds = [], []
            slug = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")[:40]
            for seed in args.seeds:
                summary = run_one(raw, seed, Path(tmp), slug)
                scores.append(summary["test"]["accuracy"])
                seconds.append(summary["wall_seconds"])
                print(f"  {label} seed {seed}: {scores[-1]:.4f} ({seconds[-1]:.0f}s)", file=sys.stderr, flush=True)
            results["rows"][label] = {"scores": scores, "source_test": scores, "seconds": seconds}
    print(f"| {args.table} | accuracy (mean ± std, {len(args.seeds)} seeds) | source test | s/run |")
    print("|---|---|---|---|")
    for label, row in results["rows"].items():
        print(f"| {label} | {_pm(row['scores'])} | {_pm(row['source_test'])} | {statistics.mean(row['seconds']):.0f} |")
    return results


def _pm(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def _gap(acc: list[float], source_only: list[float] | None, ceiling: list[float]) -> str:
    """Share of the source-only -> ceiling gap closed, from the means; '—' without both ends."""
    if not acc or not source_only or not ceiling:
        return "—"
    span = statistics.mean(ceiling) - statistics.mean(source_only)
    if span <= 0:
        return "— (no gap)"
    return f"{100 * (statistics.mean(acc) - statistics.mean(source_only)) / span:.0f} %"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _target_name(ref: dict[str, Any]) -> str:
    options = ", ".join(f"{k}={v}" for k, v in ref.items() if k != "name")
    return f"{ref['name']} ({options})" if options else ref["name"]


if __name__ == "__main__":
    sys.exit(main())
