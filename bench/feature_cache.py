"""Feature-extraction with cached backbone features vs running the frozen backbone every epoch.

Same recipe, same seed, run twice through the real trainer: once with
``cache_features = true`` (the backbone runs once over each split, then the
head trains on stored features) and once with it off (the frozen backbone
runs on every batch of every epoch). Reported: median epoch time of each,
their ratio, the one-off feature pass, and test accuracy of both. Target
(issue 5): epoch >= 10x faster, accuracy within 0.5 pt.

    .venv/bin/python bench/feature_cache.py [--backbone efficientnet-lite0] [--image-size 96] [--epochs 4]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hub.plugins import get_hub
from hub.training.api import train
from hub.zoo import recipe_from_table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet-lite0")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    os.environ["HUB_FEATURE_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-fc-")  # in-run caching only, no disk hits
    registry = get_hub().registry
    results = {}
    for cache in (True, False):
        recipe = recipe_from_table("bench", {
            "backbone": {"name": args.backbone, "image_size": args.image_size}, "dataset": args.dataset,
            "head": {"name": "mlp", "hidden": [256], "dropout": 0.2},
            "train": {"strategy": "feature-extraction", "epochs": args.epochs, "lr": 0.003, "cache_features": cache},
        }, registry, "bench")
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = train(recipe, Path(tmp) / "run", registry, progress=False)
            total = time.perf_counter() - start
            epochs = [json.loads(line)["seconds"] for line in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
        results[cache] = {"epoch": statistics.median(epochs), "total": total, "acc": result.summary["test"]["accuracy"]}
    c, u = results[True], results[False]
    print("| mode | median epoch (s) | whole run (s) | test accuracy |")
    print("|---|---|---|---|")
    print(f"| backbone every epoch | {u['epoch']:.3f} | {u['total']:.1f} | {u['acc']:.4f} |")
    print(f"| cached features | {c['epoch']:.4f} | {c['total']:.1f} | {c['acc']:.4f} |")
    speedup = u["epoch"] / max(c["epoch"], 1e-9)
    delta = 100 * (c["acc"] - u["acc"])
    print(f"\nepoch speed-up: {speedup:.0f}x (target >= 10x); accuracy delta {delta:+.2f} pt (target within 0.5); "
          f"{args.backbone} @ {args.image_size}px on {args.dataset}, {args.epochs} epochs")
    return 0 if speedup >= 10 and abs(delta) <= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
