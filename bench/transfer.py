"""Does transfer pay? Accuracy tables, mean ± std over seeds, on test splits never tuned on.

Every row is a real `hub.train` run through the one trainer, from a recipe,
exactly as `hub train` would run it; only the seed changes between repeats
(initialisation, batch order, augmentation). Test splits are fixed (dataset
seed 0) and read only after training.

Tables:

- ``da``: domain shift MNIST-5k (labelled source) -> scikit-learn digits
  (unlabelled target), small-cnn from scratch. Source-only vs DANN, CORAL,
  MMD, AdaBN, instance weighting; target-supervised (digits' own labels) is the
  ceiling. Hyper-parameters are the methods' reference defaults (adaptation
  weight 1), chosen before any target number was seen; nothing is tuned on
  the digits test split.
- ``few-labels``: Fashion-MNIST with 100 labels per class (50 per class for
  validation, the official 10k test set), EfficientNet-Lite0 with its ImageNet
  weights (frozen probe and fine-tune) vs the same architecture from random
  init (fine-tune, the fair baseline: precise-BN re-estimates the batch-norm
  statistics after each epoch, see hub/adapt.py).

    .venv/bin/python bench/transfer.py da --seeds 0 1 2
    .venv/bin/python bench/transfer.py few-labels --seeds 0 1 2

Results print as a Markdown table (and JSON with --json PATH) for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hub.plugins import get_hub
from hub.training.api import train
from hub.zoo import recipe_from_table


def evaluate(run_dir: Path, dataset: str, split: str = "test") -> float:
    """Accuracy of a finished run on another dataset's split (same label set), through the run's encoder."""
    import torch

    from hub.model import build_task
    from hub.specs import resolve
    from hub.training.data import InputEncoder
    from hub.training.rundir import load_run
    from hub.training.trainer import Feed

    registry = get_hub().registry
    info, comps, model = load_run(run_dir, registry)
    data = resolve(registry.get("dataset", dataset).spec.factory)()
    assert tuple(data.label_names) == tuple(info.label_names), "label sets differ"
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


DA_BASE = {"backbone": {"name": "small-cnn", "pretrained": False, "image_size": 16}, "dataset": "mnist-5k",
           "head": "linear", "train": {"strategy": "fine-tune", "epochs": 5, "batch_size": 64, "lr": 0.003,
                                                     "precise_bn": 1024}}


def da_rows(epochs: int, image_size: int) -> list[tuple[str, dict[str, Any], str]]:
    base = json.loads(json.dumps(DA_BASE))
    base["train"]["epochs"] = epochs
    base["backbone"]["image_size"] = image_size
    rows = [("source only", base, "eval:digits")]
    for method in ("dann", "coral", "mmd", "adabn", "instance-weighting"):
        rows.append((method, {**base, "adapt": {"method": method, "target": "digits"}}, "target"))
    ceiling = json.loads(json.dumps(base))
    ceiling["dataset"] = "digits"
    ceiling["train"]["epochs"] = epochs * 3  # 1258 examples: as many steps as the source runs take
    rows.append(("target supervised (ceiling)", ceiling, "test"))
    return rows


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
    parser.add_argument("--rows", nargs="*", help="only rows whose name contains one of these")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.table == "da":
        rows = da_rows(args.epochs or 5, args.image_size or 16)
    else:
        rows = few_label_rows(args.epochs or 12, args.image_size or 64)
    if args.rows:
        rows = [r for r in rows if any(part in r[0] for part in args.rows)]
    results: dict[str, Any] = {"table": args.table, "seeds": args.seeds, "rows": {}}
    with tempfile.TemporaryDirectory(prefix="hub-transfer-") as tmp:
        for label, raw, where in rows:
            scores, source, seconds = [], [], []
            slug = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")[:40]
            for seed in args.seeds:
                summary = run_one(raw, seed, Path(tmp), slug)
                if where == "target":
                    scores.append(summary["target"]["test"]["accuracy"])
                elif where.startswith("eval:"):
                    scores.append(evaluate(Path(tmp) / f"{slug}-s{seed}", where[5:]))
                else:
                    scores.append(summary["test"]["accuracy"])
                source.append(summary["test"]["accuracy"])
                seconds.append(summary["wall_seconds"])
                print(f"  {label} seed {seed}: {scores[-1]:.4f} (source test {source[-1]:.4f}, "
                      f"{seconds[-1]:.0f}s)", file=sys.stderr, flush=True)
            results["rows"][label] = {"scores": scores, "source_test": source, "seconds": seconds}
    print(f"| {args.table} | accuracy (mean ± std, {len(args.seeds)} seeds) | source test | s/run |")
    print("|---|---|---|---|")
    for label, row in results["rows"].items():
        print(f"| {label} | {_pm(row['scores'])} | {_pm(row['source_test'])} | {statistics.mean(row['seconds']):.0f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _pm(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


if __name__ == "__main__":
    sys.exit(main())
