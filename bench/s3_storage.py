"""Local disk vs S3 storage under `hub serve`: upload and download throughput, LFS and Xet.

Two `hub serve` processes run side by side over fresh data folders, one with the default local
storage and one with ``--storage s3://...`` on a SeaweedFS ``weed mini`` started on loopback (the
same helper the tests use, tests/server/s3server.py); uploads and downloads alternate between them
so load from other jobs hits both alike. The stock client: ``upload_file`` and ``hf_hub_download``
into an empty cache, new float32-noise bytes every round, ``hf_xet`` on or off.

    .venv/bin/python bench/s3_storage.py [--mb 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TOKENS = {"tok": "bench"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from hub.testing.serve import ServerProcess
    from tests.server.s3server import BUCKET, SeaweedS3

    with tempfile.TemporaryDirectory(prefix="bench-s3-") as tmp:
        tmp = Path(tmp)
        os.environ.update(HF_HOME=str(tmp / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1",
                          HF_HUB_DISABLE_PROGRESS_BARS="1")
        from huggingface_hub import HfApi, constants, hf_hub_download

        weed = SeaweedS3(tmp / "weed")
        weed.start()
        servers = {"local disk": ServerProcess(tmp / "local", TOKENS),
                   "S3 (SeaweedFS)": ServerProcess(tmp / "s3", TOKENS, env=weed.env,
                                                   extra_args=("--storage", f"s3://{BUCKET}/bench"))}
        for server in servers.values():
            server.start()
        times: dict[tuple[str, str, str], list[float]] = {}
        payload, size = tmp / "w.bin", args.mb * 1_000_000
        try:
            for r in range(args.rounds):
                payload.write_bytes(np.random.default_rng(r).standard_normal(size // 4).astype(np.float32).tobytes())
                for proto in ("lfs", "xet"):
                    for name in (list(servers) if r % 2 == 0 else list(servers)[::-1]):
                        url = servers[name].url
                        constants.HF_HUB_DISABLE_XET = proto == "lfs"
                        os.environ["HF_XET_CACHE"] = tempfile.mkdtemp(dir=tmp)
                        api, repo = HfApi(endpoint=url, token="tok"), f"bench/{proto}-{r}"
                        api.create_repo(repo)
                        start = time.perf_counter()
                        api.upload_file(path_or_fileobj=str(payload), path_in_repo="w.bin", repo_id=repo)
                        times.setdefault((name, proto, "upload"), []).append(time.perf_counter() - start)
                        os.environ["HF_XET_CACHE"] = tempfile.mkdtemp(dir=tmp)
                        start = time.perf_counter()
                        got = hf_hub_download(repo, "w.bin", endpoint=url, cache_dir=tempfile.mkdtemp(dir=tmp))
                        times.setdefault((name, proto, "download"), []).append(time.perf_counter() - start)
                        assert Path(got).stat().st_size == size
                        Path(got).unlink()
                        print(f"round {r} {name} {proto}: up {times[(name, proto, 'upload')][-1]:.2f}s down "
                              f"{times[(name, proto, 'download')][-1]:.2f}s", file=sys.stderr, flush=True)
        finally:
            for server in servers.values():
                server.kill()
            weed.kill()
        print(f"\n| {args.mb} MB file, MB/s (median of {args.rounds}) | LFS upload | LFS download | Xet upload | "
              "Xet download |")
        print("|---|---|---|---|---|")
        for name in servers:
            cells = [f"{size / 1e6 / statistics.median(times[(name, p, step)]):.0f}"
                     for p in ("lfs", "xet") for step in ("upload", "download")]
            print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
