"""Upload and download throughput of a large model file through `hub serve` on loopback.

Compared, in one run and on the same bytes, with a plain file copy (the floor any transfer
must pay: read + write once). The server runs as its own process (`python -m hub serve`), as a
user would run it, so client and server do not share a GIL. Upload is `HfApi.upload_file` over
the classic LFS path (client sha256 + preupload + batch + PUT with server-side sha256 check +
commit); download is `hf_hub_download` into an empty cache. One sha256 pass over the file is
shown for reference: an upload hashes the bytes twice (client, then server). Each round uses fresh bytes so no
LFS deduplication or cache hides work.

    .venv/bin/python bench/hub_throughput.py [--size-mb 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import secrets
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


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(left, 8 << 20)
            fh.write(os.urandom(n))
            left -= n


def start_server(data: Path, token: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "HUB_SERVE_TOKENS": f"{token}:bench", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "hub", "serve", "--data", str(data), "--port", "0",
                             "--log-level", "warning"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        found = re.search(r"listening on (http://\S+)", line or "")
        if found:
            import httpx

            while time.monotonic() < deadline:  # bound before uvicorn is serving: wait for answers
                try:
                    httpx.get(found.group(1) + "/api/whoami-v2", timeout=2)
                    return proc, found.group(1)
                except httpx.HTTPError:
                    time.sleep(0.05)
        if proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("hub serve did not start")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from huggingface_hub import HfApi, constants, hf_hub_download

    constants.HF_HUB_DISABLE_XET = True
    size = args.size_mb * 1_000_000
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp_name:
        tmp = Path(tmp_name)
        proc, url = start_server(tmp / "serve", token)
        try:
            api = HfApi(endpoint=url, token=token)
            times: dict[str, list[float]] = {"plain copy": [], "sha256, one pass (reference)": [],
                                             "upload (hub serve)": [], "download (hub serve)": []}
            for r in range(args.rounds):
                src = tmp / "model.safetensors"
                write_random(src, size)  # fresh bytes: a new sha256 every round
                times["plain copy"].append(timed(lambda: shutil.copyfile(src, tmp / "copy.bin")))
                (tmp / "copy.bin").unlink()
                times["sha256, one pass (reference)"].append(timed(lambda: sha256_file(src)))
                repo = f"bench/model-{r}"
                api.create_repo(repo)
                times["upload (hub serve)"].append(timed(lambda: api.upload_file(
                    path_or_fileobj=str(src), path_in_repo="model.safetensors", repo_id=repo)))
                cache = tmp / f"cache-{r}"
                times["download (hub serve)"].append(timed(lambda: hf_hub_download(
                    repo, "model.safetensors", endpoint=url, cache_dir=cache)))
                shutil.rmtree(cache)
                api.delete_repo(repo)
        finally:
            proc.terminate()
            proc.wait(10)
    copy = statistics.median(times["plain copy"])
    print(f"{args.size_mb} MB file, {args.rounds} round(s), median; loopback, server in its own process\n")
    print("| operation | median (s) | MB/s | time vs plain copy |")
    print("|---|---|---|---|")
    for name, samples in times.items():
        med = statistics.median(samples)
        print(f"| {name} | {med:.2f} | {size / 1e6 / med:.0f} | {med / copy:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
