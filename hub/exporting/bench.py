"""Latency, throughput, size and memory of an export: PyTorch eager vs every ONNX variant, in one run.

Numbers are only comparable when measured side by side on the same inputs
with the same thread count, so one call measures every engine: p50/p95
latency at batch 1 (cycling over real samples; text is padded per batch to
its longest sentence, as deployed), throughput at batch 32, file size, and
the resident-memory growth while the engine loads and runs (a coarse but
honest proxy for peak memory within one process).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def rss_bytes() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:  # Linux fallback
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def latency(call: Callable[[dict[str, np.ndarray]], Any], feeds: Sequence[dict[str, np.ndarray]],
            warmup: int = 5, iters: int = 50) -> dict[str, float]:
    """p50/p90/p95 milliseconds of ``call`` over ``iters`` runs cycling through ``feeds``."""
    for i in range(warmup):
        call(feeds[i % len(feeds)])
    times = []
    for i in range(iters):
        start = time.perf_counter()
        call(feeds[i % len(feeds)])
        times.append((time.perf_counter() - start) * 1e3)
    return {"p50_ms": float(np.percentile(times, 50)), "p90_ms": float(np.percentile(times, 90)),
            "p95_ms": float(np.percentile(times, 95))}


def throughput(call: Callable[[dict[str, np.ndarray]], Any], feeds: dict[str, np.ndarray],
               min_seconds: float = 1.0, max_iters: int = 20) -> float:
    """Samples per second at the batch size of ``feeds`` (one warm-up run first)."""
    call(feeds)
    batch = len(next(iter(feeds.values())))
    done, start = 0, time.perf_counter()
    while done < max_iters and (time.perf_counter() - start < min_seconds or done < 2):
        call(feeds)
        done += 1
    return batch * done / (time.perf_counter() - start)


def size_bytes(path: Path) -> int:
    from .onnx_export import files_of

    return sum(f.stat().st_size for f in files_of(path)) if path.suffix == ".onnx" else path.stat().st_size


def torch_engine(model: Any, input_names: Sequence[str], threads: int) -> Callable[[dict[str, np.ndarray]], Any]:
    import torch

    torch.set_num_threads(threads)
    model = model.eval()

    def call(feeds: dict[str, np.ndarray]) -> Any:
        with torch.inference_mode():
            return model(*(torch.from_numpy(feeds[n]) for n in input_names))

    return call


def ort_engine(path: Path, threads: int) -> Callable[[dict[str, np.ndarray]], Any]:
    from ..runtime.session import make_session, run

    session = make_session(path, providers=["CPUExecutionProvider"], threads=threads)
    return lambda feeds: run(session, feeds)


#: Pause before timing an engine: torch's OpenMP workers keep spinning for a while after a call, and
#: on a 2-core machine that slowed whichever engine was timed next (up to ~1.7x on MobileNet-V2).
SETTLE_S = 0.5


def measure(name: str, make: Callable[[], Callable], single: Sequence[dict], batch: dict, *, iters: int,
            size: int | None) -> dict[str, Any]:
    time.sleep(SETTLE_S)
    before = rss_bytes()
    call = make()
    row: dict[str, Any] = {"engine": name}
    row.update(latency(call, single, iters=iters))
    row["throughput_per_s"] = throughput(call, batch)
    row["rss_delta_mb"] = (rss_bytes() - before) / 2**20
    row["size_mb"] = None if size is None else size / 2**20
    del call
    return row


def bench_engines(model: Any, input_names: Sequence[str], variants: dict[str, Path], single: Sequence[dict],
                  batch: dict, *, threads: int = 2, iters: int = 50) -> list[dict[str, Any]]:
    """Rows for torch eager and each ONNX file, with ratios to eager (latency and throughput)."""
    rows = []
    if model is not None:
        params = sum(p.numel() * p.element_size() for p in model.parameters())
        rows.append(measure("torch-eager", lambda: torch_engine(model, input_names, threads), single, batch,
                            iters=iters, size=params))
    for name, path in variants.items():
        log.info("benchmarking %s", name)
        rows.append(measure(name, lambda p=path: ort_engine(p, threads), single, batch, iters=iters,
                            size=size_bytes(path)))
    if model is not None:
        eager = rows[0]
        for row in rows:
            row["speedup_p50"] = eager["p50_ms"] / row["p50_ms"]
            row["speedup_throughput"] = row["throughput_per_s"] / eager["throughput_per_s"]
    return rows


