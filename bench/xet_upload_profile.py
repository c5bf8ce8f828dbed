"""Where a Xet upload's time goes on the server: one file through the stock client (hf_xet), timed per step.

The server runs in this process; its Xet steps are wrapped with timers (wall time summed over
calls, from any thread): reading request bodies, storing xorbs (parse + hash every chunk + write),
checking shards, and the sha256 check of each file. The client's own work (chunking, hashing,
compressing in hf_xet) is the rest of the upload's wall time. Compare with the same file over
classic LFS in the same run.

    .venv/bin/python bench/xet_upload_profile.py [--mb 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

TIMES: dict[str, float] = defaultdict(float)
LOCK = threading.Lock()


def _timed(owner, name: str, label: str) -> None:
    import functools
    import inspect

    original = getattr(owner, name)
    if inspect.iscoroutinefunction(original):
        @functools.wraps(original)
        async def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                with LOCK:
                    TIMES[label] += time.perf_counter() - start
    else:
        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                with LOCK:
                    TIMES[label] += time.perf_counter() - start
    setattr(owner, name, wrapper)


def instrument() -> None:
    from hub.server.xet import formats, routes, store

    _timed(routes, "_body", "read request body (xorb/shard)")
    _timed(store.XetStore, "put_xorb", "put_xorb (parse, hash, store)")
    _timed(store, "read_chunks", "  of which read_chunks (decompress + BLAKE3)")
    _timed(store.XetStore, "verify_file", "verify_file (reassemble + sha256)")
    _timed(store.XetStore, "check_file", "check_file (terms, hashes)")
    _timed(routes, "read_shard", "read_shard")
    del formats


def thread_cpu() -> dict[str, float]:
    """CPU seconds used so far by this process's threads, summed per thread name (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = defaultdict(float)
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        found[name.rstrip("0123456789-_ ") or name] += (int(fields[11]) + int(fields[12])) / tick
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    with tempfile.TemporaryDirectory(prefix="bench-xetprof-") as tmp:
        tmp = Path(tmp)
        os.environ["HF_HOME"] = str(tmp / "hf-home")
        from huggingface_hub import HfApi, constants

        from hub.server.serving import start_background

        instrument()
        payload = tmp / "w.bin"
        size = args.mb * 1_000_000
        payload.write_bytes(np.random.default_rng(0).standard_normal(size // 4).astype(np.float32).tobytes())
        with start_background(tmp / "serve", tokens={"tok": "bench"}) as server:
            api = HfApi(endpoint=server.url, token="tok")
            for proto in ("lfs", "xet"):
                constants.HF_HUB_DISABLE_XET = proto == "lfs"
                os.environ["HF_XET_CACHE"] = tempfile.mkdtemp(dir=tmp)
                api.create_repo(f"bench/{proto}")
                TIMES.clear()
                cpu0, start = thread_cpu(), time.perf_counter()
                api.upload_file(path_or_fileobj=str(payload), path_in_repo="w.bin", repo_id=f"bench/{proto}")
                wall = time.perf_counter() - start
                cpu1 = thread_cpu()
                print(f"{proto}: {wall:.2f} s, {size / 1e6 / wall:.0f} MB/s", flush=True)
                for label, seconds in sorted(TIMES.items(), key=lambda kv: -kv[1]):
                    print(f"    {label:45s} {seconds:6.2f} s wall")
                used = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
                for name, seconds in sorted(used.items(), key=lambda kv: -kv[1]):
                    if seconds >= 0.02:
                        print(f"    CPU in threads {name!r:34s} {seconds:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
