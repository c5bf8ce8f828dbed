"""Committing many small files through `hub serve`: git's per-object fsync vs one sync per commit.

A real server (``hub.server.start_background``, in this process so the storage mode can be
switched between rounds) takes commits from the stock ``huggingface_hub`` client: ``--files``
small regular files in one ``create_commit``, then ``--lfs`` small files that the ``.bin`` rule
sends through LFS (``HF_HUB_DISABLE_XET=1``: batch, one PUT each, then the commit). Timed: the
whole ``create_commit`` call (client side) and, inside the server, ``apply_commit`` alone (writing
the objects, making them durable, the tree, the commit, the ref update).

The two durability modes run side by side in one process, alternating, on fresh repos:

* ``git``: every loose object fsynced by git as it is written (``core.fsync=committed``),
  which is what the server did before;
* ``syncfs``: objects written without their own fsync, then one ``syncfs(2)`` of the data
  folder's filesystem before ``update-ref`` publishes the commit (the ref update stays fsynced).

    .venv/bin/python bench/commit_files.py [--files 1000] [--lfs 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="bench-commit-hfhome-")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from huggingface_hub import CommitOperationAdd, HfApi, constants  # noqa: E402

from hub.server import routes_write  # noqa: E402
from hub.server.serving import start_background  # noqa: E402
from hub.server.storage import GitRepo  # noqa: E402

constants.HF_HUB_DISABLE_XET = True
APPLY_SECONDS: list[float] = []


def _timed_apply(real):
    def apply(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            APPLY_SECONDS.append(time.perf_counter() - start)
    return apply


def commit(api: HfApi, repo_id: str, ops: list[CommitOperationAdd]) -> tuple[float, float]:
    """``(create_commit seconds, apply_commit seconds)`` for one commit."""
    APPLY_SECONDS.clear()
    start = time.perf_counter()
    api.create_commit(repo_id, ops, commit_message="bench")
    total = time.perf_counter() - start
    assert len(APPLY_SECONDS) == 1, APPLY_SECONDS
    return total, APPLY_SECONDS[0]


def small_files(n: int, tag: str) -> list[CommitOperationAdd]:
    """``n`` distinct ~100-byte text files in 10 folders (regular git blobs)."""
    return [CommitOperationAdd(f"d{i % 10}/f{i}.txt", f"{tag} file {i}\n{'x' * 80}\n".encode()) for i in range(n)]


def lfs_files(n: int, tag: str) -> list[CommitOperationAdd]:
    """``n`` distinct 4 KiB ``.bin`` files (LFS by the default .gitattributes)."""
    return [CommitOperationAdd(f"w/{i}.bin", (f"{tag} weights {i}\n".encode() * 400)[:4096]) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--lfs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    modes = ["git", "syncfs"] if getattr(GitRepo, "object_sync", None) else ["current"]
    default_mode = getattr(GitRepo, "object_sync", None)
    routes_write.apply_commit = _timed_apply(routes_write.apply_commit)
    data = Path(tempfile.mkdtemp(prefix="bench-commit-data-"))
    handle = start_background(data, tokens={"bench-token": "bench"})
    api = HfApi(endpoint=handle.url, token="bench-token")
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    try:
        for rnd in range(args.rounds):
            for mode in modes if rnd % 2 == 0 else modes[::-1]:
                if mode != "current":
                    GitRepo.object_sync = mode
                for kind, n, make in (("small", args.files, small_files), ("lfs", args.lfs, lfs_files)):
                    if not n:
                        continue
                    repo_id = f"bench/r-{uuid.uuid4().hex[:8]}"
                    api.create_repo(repo_id)
                    total, apply = commit(api, repo_id, make(n, repo_id))
                    results.setdefault((mode, kind), []).append((total, apply))
                    print(f"  round {rnd} {kind:5} {mode:7} create_commit {total:.2f} s, apply_commit {apply:.2f} s",
                          flush=True)
    finally:
        if default_mode:
            GitRepo.object_sync = default_mode
        handle.stop()

    print(f"{args.files} small files / {args.lfs} LFS files per commit, {args.rounds} rounds, median seconds")
    print(f"{'commit':8} {'mode':8} {'create_commit':>14} {'apply_commit':>13}")
    med = {key: (statistics.median(t for t, _ in runs), statistics.median(a for _, a in runs))
           for key, runs in results.items()}
    for (mode, kind), (total, apply) in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"{kind:8} {mode:8} {total:14.2f} {apply:13.2f}")
    if "git" in modes:
        for kind in ("small", "lfs"):
            if ("git", kind) in med:
                (t0, a0), (t1, a1) = med[("git", kind)], med[("syncfs", kind)]
                print(f"{kind}: syncfs vs git  create_commit x{t0 / t1:.1f} faster, apply_commit x{a0 / a1:.1f} faster")


if __name__ == "__main__":
    main()
