"""`hub run` twice into the same folder: the second run reuses every stage (hub/stages.py).

Runs the real CLI as a user would (separate processes, so start-up, plugin loading and the
fingerprints' cost are all counted), first into an empty folder, then again unchanged, then
with only the export section changed (train reused, export redone). Prints the wall times
and the ratios to the first run, measured in this one run.

    .venv/bin/python bench/run_reuse.py [--entry digits-lite0] [--push]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HUB = str(Path(sys.executable).parent / "hub")


def timed(args: list[str]) -> tuple[float, list[str]]:
    start = time.perf_counter()
    done = subprocess.run([HUB, "run", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"hub run failed: {done.stderr[-2000:]}")
    return seconds, [line for line in done.stderr.splitlines() if line.startswith("== ")]


def _short(stage: str) -> str:
    """'train: reused /path (why)' -> 'train reused'; 'export (recipe changed) -> /path' -> 'export redone (recipe changed)'."""
    if ": reused" in stage:
        return stage.split(":")[0] + " reused"
    head = stage.split(" -> ")[0]
    return head.replace(" (", " redone (", 1) if " (" in head else head


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entry", default="digits-lite0")
    parser.add_argument("--push", action="store_true", help="also push + verify (to the local hub serve)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-run-reuse-")) / "job"
    base = [args.entry, "--out", str(folder), "--no-progress"] + ([] if args.push else ["--no-push"])
    rows = []
    for label, extra in (("first run (empty folder)", []), ("same command again", []),
                         ("export section changed", ["--set", "export.max_metric_drop=2.5"])):
        seconds, stages = timed(base + extra)
        rows.append((label, seconds, "; ".join(_short(s[3:]) for s in stages if not s.startswith("== pull zoo"))))
    shutil.rmtree(folder.parent, ignore_errors=True)
    print(f"| `hub run {args.entry}` | wall time (s) | ratio to the first | stages |")
    print("|---|---|---|---|")
    for label, seconds, stages in rows:
        print(f"| {label} | {seconds:.1f} | {seconds / rows[0][1]:.2f} | {stages} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
