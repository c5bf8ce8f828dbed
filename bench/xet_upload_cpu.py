"""Xet vs LFS upload through two `hub serve` processes at once: this tree's and another tree's (A/B).

Wall time on a shared machine swings by 2x between runs, so besides the wall time this reports the CPU
seconds each side used (the client: this process; the server: its process, from /proc), which is what
a server change can move. Both servers run side by side and the uploads alternate between them,
so load from other jobs hits both alike. Make the other tree with e.g.
``mkdir /tmp/before && git archive HEAD hub | tar -x -C /tmp/before``.

    .venv/bin/python bench/xet_upload_cpu.py --before /tmp/before [--mb 200] [--rounds 4]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _start(data: Path, pythonpath: str | None) -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HUB_SERVE_TOKENS": "tok:bench"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    hub = str(Path(sys.executable).parent / "hub")
    proc = subprocess.Popen([hub, "serve", "--data", str(data), "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{url}/api/whoami-v2", headers={"Authorization": "Bearer tok"})
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"hub serve on {data} did not start")


def _cpu(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="a source tree holding the other `hub` package")
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-xetcpu-") as tmp:
        tmp = Path(tmp)
        os.environ.update(HF_HOME=str(tmp / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1")
        from huggingface_hub import HfApi, constants

        servers = {"before": _start(tmp / "before", args.before), "this tree": _start(tmp / "after", None)}
        payload, results = tmp / "w.bin", {}
        try:
            for r in range(args.rounds):
                noise = np.random.default_rng(r).standard_normal(args.mb * 250_000).astype(np.float32)
                payload.write_bytes(noise.tobytes())
                for proto in ("lfs", "xet"):
                    for name in (list(servers) if r % 2 == 0 else list(servers)[::-1]):
                        proc, url = servers[name]
                        api = HfApi(endpoint=url, token="tok")
                        constants.HF_HUB_DISABLE_XET = proto == "lfs"
                        os.environ["HF_XET_CACHE"] = tempfile.mkdtemp(dir=tmp)  # no chunks carried over
                        api.create_repo(f"bench/{proto}-{r}")
                        server0, client0, start = _cpu(proc.pid), _self_cpu(), time.perf_counter()
                        api.upload_file(path_or_fileobj=str(payload), path_in_repo="w.bin", repo_id=f"bench/{proto}-{r}")
                        results.setdefault((name, proto), []).append(
                            (time.perf_counter() - start, _self_cpu() - client0, _cpu(proc.pid) - server0))
        finally:
            for proc, _ in servers.values():
                proc.kill()
        print(f"\n| server | protocol | wall (s) | MB/s | client CPU (s) | server CPU (s) |  ({args.mb} MB, "
              f"median of {args.rounds})")
        print("|---|---|---|---|---|---|")
        for (name, proto), rows in sorted(results.items()):
            wall, client, server = (statistics.median(row[i] for row in rows) for i in range(3))
            print(f"| {name} | {proto} | {wall:.2f} | {args.mb / wall:.0f} | {client:.2f} | {server:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
