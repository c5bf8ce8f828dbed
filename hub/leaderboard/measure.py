"""Measure one export for the leaderboard: every kept variant's latency, throughput, size, params and FLOPs.

The accuracy of each variant is not re-measured: the export gate already ran every kept variant on the
whole held-out split and recorded it in config.json, and re-running it would only repeat that. What is
measured here is speed, in one process, side by side with PyTorch eager (the same engines, feeds and
threads as ``hub bench``), so the rows of one run are comparable.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

from ..runtime.machine import describe

log = logging.getLogger(__name__)


def flops_per_example(model: Any, input_names: tuple[str, ...], feeds: list[dict]) -> float:
    """Mean FLOPs of one batch-1 forward over real samples (text: its real token counts), counted by
    torch's FlopCounterMode — the operator-level count PyTorch itself maintains, not our own table."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counts = []
    with torch.inference_mode():
        for feed in feeds[:8]:
            counter = FlopCounterMode(display=False)
            with counter:
                model(*(torch.from_numpy(feed[n]) for n in input_names))
            counts.append(counter.get_total_flops())
    return sum(counts) / max(len(counts), 1)


def hub_commit() -> str:
    """The hub's git commit when it runs from a checkout, else its version (a pip install)."""
    from ..version import __version__

    here = Path(__file__).resolve().parents[2]
    try:
        top = subprocess.run(["git", "-C", str(here), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        if Path(top).resolve() != here:  # installed inside some other project's checkout: not our commit
            return f"zoohub {__version__}"
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return f"zoohub {__version__}"


def measure_export(export_dir: Path, *, entry: str, threads: int, iters: int = 50, repo: str = "",
                   repo_commit: str = "", revision: str = "", command: str = "") -> list[dict[str, Any]]:
    """Leaderboard rows for ``export_dir``: PyTorch eager, then each kept ONNX variant."""
    import onnxruntime
    import torch

    from ..exporting.bench import bench_engines
    from ..exporting.benchmark import prepare

    bench = prepare(export_dir)
    config = bench.config
    report = _report(export_dir)  # the gate's record: the primary metric and PyTorch's own score
    metric = _primary(report)
    torch_threads = torch.get_num_threads()
    try:
        timed = {r["engine"]: r for r in bench_engines(bench.model, bench.input_names, bench.files, bench.single,
                                                        bench.full, threads=threads, iters=iters)}
    finally:  # the timing set torch's threads; the next entry's training (or the caller) gets its own back
        torch.set_num_threads(torch_threads)
    machine = describe()
    common = {
        "entry": entry, "task": config.get("task", ""), "dataset": (config.get("dataset") or {}).get("name", ""),
        "split": (config.get("gate") or {}).get("split", "test"), "revision": revision,
        "samples": (config.get("gate") or {}).get("samples"), "metric": metric,
        "params": sum(p.numel() for p in bench.model.parameters()),
        "gflops": flops_per_example(bench.model, bench.input_names, bench.single) / 1e9,
        "threads": threads, "cpu": machine["cpu"], "isa": machine["isa"], "cores": machine["cores"],
        "repo": repo, "repo_commit": repo_commit, "hub_commit": hub_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"), "command": command,
    }
    rows = []
    variants = config["variants"]
    eager_metric = _pytorch_metric(report, metric)
    for engine, timing in timed.items():
        eager = engine == "torch-eager"
        value = eager_metric if eager else (variants[engine].get("metrics") or {}).get(metric)
        if value is None:
            log.warning("%s: no %s recorded for %s; row left out", export_dir, metric, engine)
            continue
        rows.append({**common, "variant": "eager" if eager else engine,
                     "runtime": "pytorch" if eager else "onnxruntime",
                     "runtime_version": torch.__version__ if eager else onnxruntime.__version__,
                     "metric_value": value, "size_mb": timing["size_mb"], "latency_p50_ms": timing["p50_ms"],
                     "latency_p90_ms": timing["p90_ms"], "throughput_b32": timing["throughput_per_s"]})
    return rows


def _report(export_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(export_dir) / "report.json").read_text())
    except (OSError, ValueError):
        return {}


def _primary(report: dict[str, Any]) -> str:
    """The task's primary metric, as the gate judged the variants by it (ensembles record it once)."""
    for variant in report.get("variants") or ():
        if variant.get("primary_metric"):
            return str(variant["primary_metric"])
    return str((report.get("ensemble") or {}).get("primary_metric") or "accuracy")


def _pytorch_metric(report: dict[str, Any], metric: str) -> float | None:
    """PyTorch's own score on the gate's split, as the gate recorded it in report.json."""
    for variant in report.get("variants") or ():
        value = ((variant.get("metrics") or {}).get("pytorch") or {}).get(metric)
        if value is not None:
            return value
    return None
