"""Throughput of 8 concurrent clients against `hub serve` with 1 worker and with 4 workers.

Both servers run in the same run, on the same machine, as their own processes (`python -m hub serve
[--workers 4]`), rounds interleaved (1, 4, 4, 1, ...) so drift hits both. The 8 clients are 8
processes (no shared GIL) using the stock huggingface_hub client over the classic LFS path:

* small downloads: `hf_hub_download(force_download=True)` of a 2 KB config.json (HEAD + GET:
  routing, auth, git lookups: the server's per-request cost);
* large downloads: the same of an LFS file (`--large-mb`, default 8 MB: bytes streamed from disk);
* uploads: `upload_file` of a fresh 1 MB .bin into the client's own repo (preupload, LFS batch,
  signed PUT with the server's sha256 check, commit: git plumbing and fsync).

Each phase is timed from the moment all 8 clients start to the moment the last one ends.
Clients and servers share the machine's cores: on a 2-core machine 4 workers cannot do 4x the work,
and the ratio says how much of the server's time was spent waiting rather than computing.

    .venv/bin/python bench/serve_workers.py [--rounds 2] [--clients 8] [--large-mb 8]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
SMALL_PER_CLIENT = 20
LARGE_PER_CLIENT = 3
UPLOADS_PER_CLIENT = 3


def start_server(data: Path, workers: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "HUB_SERVE_TOKENS": f"{TOKEN}:bench", "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "hub", "serve", "--data", str(data), "--port", "0", "--log-level", "warning"]
    if workers > 1:
        argv += ["--workers", str(workers)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = re.search(r"listening on (http://\S+)", proc.stdout.readline() or "")
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("hub serve did not start")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _init() -> None:
    import huggingface_hub  # noqa: F401 - imported once per client process, before the clock runs


def small(args: tuple[str, int, str]) -> None:
    from huggingface_hub import hf_hub_download

    url, i, cache = args
    for _ in range(SMALL_PER_CLIENT):
        hf_hub_download("bench/shared", "config.json", endpoint=url, token=TOKEN, cache_dir=f"{cache}/s{i}",
                        force_download=True)


def large(args: tuple[str, int, str]) -> None:
    from huggingface_hub import hf_hub_download

    url, i, cache = args
    for _ in range(LARGE_PER_CLIENT):
        path = hf_hub_download("bench/shared", "weights.bin", endpoint=url, token=TOKEN, cache_dir=f"{cache}/l{i}",
                               force_download=True)
        os.unlink(path)


def upload(args: tuple[str, int, str]) -> None:
    from huggingface_hub import HfApi

    url, i, _ = args
    api = HfApi(endpoint=url, token=TOKEN)
    for n in range(UPLOADS_PER_CLIENT):
        api.upload_file(path_or_fileobj=os.urandom(1 << 20), path_in_repo=f"u{n}.bin", repo_id=f"bench/c{i}")


def prepare(url: str, clients: int, large_mb: int, scratch: Path) -> None:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=url, token=TOKEN)
    api.create_repo("bench/shared")
    weights = scratch / "weights.bin"
    with open(weights, "wb") as fh:
        fh.write(os.urandom(large_mb << 20))
    api.upload_file(path_or_fileobj=b'{"a": 1}'.ljust(2048), path_in_repo="config.json", repo_id="bench/shared")
    api.upload_file(path_or_fileobj=str(weights), path_in_repo="weights.bin", repo_id="bench/shared")
    for i in range(clients):
        api.create_repo(f"bench/c{i}")


def one_round(pool, workers: int, clients: int, large_mb: int, scratch: Path) -> dict[str, float]:
    data = scratch / f"data-{workers}"
    cache = scratch / "cache"
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    proc, url = start_server(data, workers)
    try:
        prepare(url, clients, large_mb, scratch)
        jobs = [(url, i, str(cache)) for i in range(clients)]
        out = {}
        for name, fn, units in (("small downloads/s", small, clients * SMALL_PER_CLIENT),
                                ("large download MB/s", large, clients * LARGE_PER_CLIENT * large_mb),
                                ("uploads (1 MB commits)/s", upload, clients * UPLOADS_PER_CLIENT)):
            start = time.perf_counter()
            pool.map(fn, jobs)
            out[name] = units / (time.perf_counter() - start)
        return out
    finally:
        stop_server(proc)
        shutil.rmtree(data, ignore_errors=True)


def cpu() -> str:
    try:
        info = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return "unknown CPU"
    model = re.search(r"Model name:\s*(.+)", info)
    count = re.search(r"^CPU\(s\):\s*(\d+)", info, re.M)
    return f"{model.group(1).strip() if model else 'unknown'}, {count.group(1) if count else '?'} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--large-mb", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    print(f"CPU: {cpu()}; {args.clients} client processes; rounds: {args.rounds}", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="serve-workers-bench-"))
    results: dict[int, list[dict[str, float]]] = {1: [], args.workers: []}
    order = [w for r in range(args.rounds) for w in ((1, args.workers) if r % 2 == 0 else (args.workers, 1))]
    try:
        with multiprocessing.get_context("fork").Pool(args.clients, initializer=_init) as pool:
            for workers in order:
                row = one_round(pool, workers, args.clients, args.large_mb, scratch)
                results[workers].append(row)
                print(f"  workers={workers}: " + ", ".join(f"{k} {v:.1f}" for k, v in row.items()), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n| metric (median of {args.rounds}) | 1 worker | {args.workers} workers | ratio |")
    print("|---|---:|---:|---:|")
    for key in results[1][0]:
        one = statistics.median(r[key] for r in results[1])
        many = statistics.median(r[key] for r in results[args.workers])
        print(f"| {key} | {one:.1f} | {many:.1f} | {many / one:.2f}x |")


if __name__ == "__main__":
    main()
