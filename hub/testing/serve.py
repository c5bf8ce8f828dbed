"""Helpers for testing against a real ``hub serve``: raw requests and a killable server process.

The in-process server (:func:`hub.server.serving.start_background`) is right for most tests, but fault
injection needs a server that can die the way a real one does, mid-request, with ``kill -9``:
:class:`ServerProcess` runs ``python -m hub serve`` as a child process on a free loopback port and
can kill and restart it over the same data folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def ndjson(*lines: Any) -> bytes:
    """An NDJSON body: each item JSON-encoded on its own line (bytes items are taken as they are)."""
    return b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines)


def commit_body(ops: list[dict], summary: str = "test", parent: str | None = None) -> bytes:
    """The body the huggingface_hub client sends to ``/commit``: a header line, then one line per op."""
    header: dict[str, Any] = {"summary": summary, "description": ""}
    if parent:
        header["parentCommit"] = parent
    return ndjson({"key": "header", "value": header}, *ops)


class ServerProcess:
    """``hub serve`` in a child process over ``data``, with a token file for ``tokens`` (token -> user)."""

    def __init__(self, data: Path, tokens: dict[str, str], *, extra_args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None):
        self.data = Path(data)
        self.data.mkdir(parents=True, exist_ok=True)
        self.token_file = self.data.parent / f"{self.data.name}-tokens.txt"
        self.token_file.write_text("".join(f"{t} {u}\n" for t, u in tokens.items()))
        self.extra_args = tuple(extra_args)
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log = self.data.parent / f"{self.data.name}-serve.log"

    def start(self, timeout: float = 30.0) -> str:
        """Start the server and return its URL once it is listening."""
        argv = [sys.executable, "-m", "hub", "serve", "--data", str(self.data), "--port", "0",
                "--token-file", str(self.token_file), "--log-level", "warning", *self.extra_args]
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=out, env=self.env)
        out.close()
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode()
            found = re.search(r"listening on (\S+)", line)
            if found:
                self.url = found.group(1)
                self._wait_ready(deadline)
                return self.url
            if not line and self.proc.poll() is not None:
                break
        self.kill()
        raise RuntimeError(f"hub serve did not start; log: {self.log.read_text(errors='replace')[-2000:]}")

    def _wait_ready(self, deadline: float) -> None:
        import httpx

        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/api/models/x/y", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.05)

    def kill(self) -> None:
        """``kill -9`` the server (no clean-up of any kind can run) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        self.proc = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
