"""Features computed once across runs: the same feature-extraction recipe run twice, the second run
reading the frozen backbone's features from the on-disk cache (hub/training/feature_cache.py).

Both runs go through the real trainer into fresh run directories, with an empty cache folder before
the first; reported: each run's wall time, their ratio, and both test accuracies (which must be equal:
the head trains on the same features with the same seed). Target (issue 13): second run >= 5x faster
than the first on MiniLM / Rotten Tomatoes, same accuracy.

    .venv/bin/python bench/feature_cache_runs.py [--entry rt-minilm]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entry", default="rt-minilm")
    args = parser.parse_args()
    os.environ["HUB_FEATURE_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-fc-runs-")
    from hub.plugins import get_hub
    from hub.training.api import train
    from hub.zoo import load_catalogue

    registry = get_hub().registry
    recipe = load_catalogue().recipe(args.entry, registry)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("first (cache empty)", "second (cache filled)"):
            start = time.perf_counter()
            summary = train(recipe, Path(tmp) / f"run{len(rows)}", registry, progress=False).summary
            rows.append((name, time.perf_counter() - start, summary["test"]["accuracy"], summary["feature_cache"]))
    print(f"| {args.entry} run | wall time (s) | test accuracy | cache hits |")
    print("|---|---|---|---|")
    for name, seconds, acc, cache in rows:
        print(f"| {name} | {seconds:.1f} | {acc:.4f} | {', '.join(cache['hits']) or '-'} |")
    ratio = rows[0][1] / rows[1][1]
    same = rows[0][2] == rows[1][2]
    print(f"\nsecond run {ratio:.1f}x faster than the first (target >= 5x); accuracy equal: {same}")
    return 0 if ratio >= 5 and same else 1


if __name__ == "__main__":
    sys.exit(main())
