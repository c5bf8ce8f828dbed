"""Xet vs classic LFS through ``hub serve``, with the stock huggingface_hub client, in one run.

1. Throughput: one file of ``--mb`` MB (float32 noise, like weights) uploaded with
   ``upload_file`` and downloaded with ``hf_hub_download``, over LFS (``HF_HUB_DISABLE_XET``) and
   over Xet, interleaved ``--rounds`` times; each round uses new bytes (so Xet's dedup cannot
   skip the transfer) and each transfer starts from empty client caches.
2. Dedup: two exports that share a frozen backbone (``--exports A B``: folders from ``hub export``)
   pushed one after the other with ``hub push``, over each protocol into a fresh server; reports the
   bytes the client sent for the second push (request bodies of LFS PUTs / xorb POSTs, counted
   inside the server), the bytes each store grew by, and the server's bytes stored in total
   (LFS objects + xorbs) after each push.

    .venv/bin/python bench/xet_transfer.py [--mb 200] [--rounds 2] [--exports runs/a/export runs/b/export]
                                           [--no-throughput]
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


def _dir_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


class Counter:
    """Bytes of upload bodies as the server receives them (LFS PUT bodies, xorb POST bodies)."""

    def __init__(self) -> None:
        from hub.server import lfs
        from hub.server.xet import routes

        self.sent = 0
        original_receive, original_body = lfs.LfsStore.receive, routes._body
        counter = self

        async def receive(store, oid, size, chunks):
            async def counted():
                async for part in chunks:
                    counter.sent += len(part)
                    yield part
            return await original_receive(store, oid, size, counted())

        async def body(ctx, limit, what):
            data = await original_body(ctx, limit, what)
            if what == "Xorb":
                counter.sent += len(data)
            return data

        lfs.LfsStore.receive, routes._body = receive, body


def _use_xet(on: bool, tmp: Path) -> None:
    from huggingface_hub import constants

    constants.HF_HUB_DISABLE_XET = not on
    os.environ["HF_XET_CACHE"] = tempfile.mkdtemp(dir=tmp)  # no local chunk cache carried over


def throughput(mb: int, rounds: int, tmp: Path) -> None:
    from huggingface_hub import HfApi, hf_hub_download

    from hub.server.serving import start_background

    payload = tmp / "weights.bin"
    size = mb * 1_000_000
    times: dict[tuple[str, str], list[float]] = {}
    with start_background(tmp / "serve-tp", tokens={"tok": "bench"}) as server:
        api = HfApi(endpoint=server.url, token="tok")
        for r in range(rounds):
            payload.write_bytes(np.random.default_rng(r).standard_normal(size // 4).astype(np.float32).tobytes())
            for proto in ("lfs", "xet"):
                _use_xet(proto == "xet", tmp)
                repo = f"bench/tp-{proto}-{r}"
                api.create_repo(repo)
                start = time.perf_counter()
                api.upload_file(path_or_fileobj=str(payload), path_in_repo="weights.bin", repo_id=repo)
                times.setdefault((proto, "upload"), []).append(time.perf_counter() - start)
                _use_xet(proto == "xet", tmp)
                start = time.perf_counter()
                got = hf_hub_download(repo, "weights.bin", endpoint=server.url, cache_dir=tempfile.mkdtemp(dir=tmp))
                times.setdefault((proto, "download"), []).append(time.perf_counter() - start)
                assert Path(got).stat().st_size == size
                print(f"round {r} {proto}: up {times[(proto, 'upload')][-1]:.2f}s down "
                      f"{times[(proto, 'download')][-1]:.2f}s", file=sys.stderr, flush=True)
    print(f"\n| {size / 1e6:.0f} MB file | LFS MB/s (median of {rounds}) | Xet MB/s | Xet / LFS |")
    print("|---|---|---|---|")
    for step in ("upload", "download"):
        lfs, xet = (size / 1e6 / statistics.median(times[(p, step)]) for p in ("lfs", "xet"))
        print(f"| {step} | {lfs:.0f} | {xet:.0f} | {xet / lfs:.2f} |")


def dedup(exports: list[Path], tmp: Path) -> None:
    from hub.publish.push import push
    from hub.server.serving import start_background

    counter = Counter()
    print("\n| protocol | push | export size | bytes sent | LFS store grew by | Xet CAS grew by | stored in total |")
    print("|---|---|---|---|---|---|---|")
    for proto in ("lfs", "xet"):
        data = tmp / f"serve-dd-{proto}"
        with start_background(data, tokens={"tok": "bench"}) as server:
            _use_xet(proto == "xet", tmp)  # one client cache for both pushes: as one user would have
            for n, export in enumerate(exports, 1):
                counter.sent = 0
                lfs0, cas0 = _dir_bytes(data / "lfs" / "objects"), _dir_bytes(data / "xet" / "xorbs")
                push(export, f"bench/model-{n}", endpoint=server.url, token="tok")
                lfs1, cas1 = _dir_bytes(data / "lfs" / "objects"), _dir_bytes(data / "xet" / "xorbs")
                print(f"| {proto} | {n} | {_dir_bytes(export) / 1e6:.2f} MB | {counter.sent / 1e6:.2f} MB | "
                      f"{(lfs1 - lfs0) / 1e6:.2f} MB | {(cas1 - cas0) / 1e6:.2f} MB | {(lfs1 + cas1) / 1e6:.2f} MB |",
                      flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--exports", type=Path, nargs=2, help="two hub export folders that share a backbone")
    parser.add_argument("--no-throughput", action="store_true", help="only the dedup part")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    with tempfile.TemporaryDirectory(prefix="bench-xet-") as tmp:
        os.environ["HF_HOME"] = str(Path(tmp) / "hf-home")
        if not args.no_throughput:
            throughput(args.mb, args.rounds, Path(tmp))
        if args.exports:
            dedup(list(args.exports), Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
