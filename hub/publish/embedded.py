"""The embedded default hub: a local ``hub serve`` started on demand and reused.

Why: ``hub push`` must work on a machine with no Hugging Face account and no network, and the
published repo must outlive the command (``hub pull`` and ``hub.runtime.load`` read it later).
So the first push starts ``hub serve`` as a detached background process on 127.0.0.1 with a free
port, over a data folder in the user's cache (``$HUB_HOME/serve``, else ``~/.cache/hub/serve``,
the same default as ``hub serve`` itself), and later commands reuse it while it is alive.

Files in that folder (the folder is 0700):

* ``embedded-token`` (0600): ``<token> local``, the server's ``--token-file``. Generated once,
  never printed, never on a command line (``ps`` shows argv).
* ``embedded.json``: ``{"pid", "url", "data", "started", "idle_timeout"}`` of the running server
  (``started``: ISO-8601 UTC; files from older versions hold only ``pid`` and ``url``).
* ``embedded.lock``: held while checking/starting, so two commands do not start two servers.
* ``embedded.log``: the server's output.
* ``serve.json``: what the running server writes about itself (pid, url, worker pids), which
  ``hub serve status/stop`` also read for servers not started here (:mod:`hub.server.runstate`).

The token's user is ``local`` and the server runs with ``--allow-any-namespace``: it is a
single-user store, so any ``namespace/name`` can be published to it.

It does not outlive its use: it stops on its own after ``HUB_EMBEDDED_IDLE_S`` seconds without a
request (default 3600; 0 = never; every command that uses it, ``hub serve status`` included,
counts as a request) and as soon as its data folder is deleted or replaced (``hub serve``'s
watchdog, :mod:`hub.server.watchdog`). The next command that needs it starts it again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from ..fsutil import atomic_write_json
from .files import PublishError

logger = logging.getLogger(__name__)

USER = "local"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 40.0  # the workers' own graceful stop (30 s) fits in it
IDLE_TIMEOUT_S = 3600.0  # default of HUB_EMBEDDED_IDLE_S
_children: list[subprocess.Popen] = []  # keep handles so the interpreter does not warn about them


def home() -> Path:
    """The embedded server's data folder (also the default of ``hub serve --data``)."""
    base = os.environ.get("HUB_HOME")
    return Path(base) / "serve" if base else Path.home() / ".cache" / "hub" / "serve"


def idle_timeout() -> float:
    """Seconds without a request after which the embedded server stops (``HUB_EMBEDDED_IDLE_S``; 0 = never)."""
    raw = os.environ.get("HUB_EMBEDDED_IDLE_S", "").strip()
    if not raw:
        return IDLE_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise PublishError(f"HUB_EMBEDDED_IDLE_S={raw!r} is not a number of seconds >= 0; "
                           "set it to e.g. 3600, or 0 to keep the local hub server running")
    return value


def _token(data: Path) -> str:
    path = data / "embedded-token"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        parts = path.read_text(encoding="utf-8").split()
        if len(parts) >= 2:
            return parts[0]
        path.unlink()  # damaged: make a new one (the server is restarted with it)
        return _token(data)
    token = "hub_local_" + secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"{token} {USER}\n")
    return token


def _is_our_server(pid: int) -> bool:
    """Whether ``pid`` is alive and is a ``hub serve`` (a recycled pid must never be signalled)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        argv = cmdline.read_bytes().split(b"\0")
        return b"serve" in argv and any(a.endswith(b"hub") for a in argv)
    return True  # no /proc (macOS): trust the pid file


def _answers(url: str, token: str) -> bool:
    import httpx

    try:
        r = httpx.get(f"{url}/api/whoami-v2", headers={"authorization": f"Bearer {token}"}, timeout=5)
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.json().get("name") == USER


def _read_state(data: Path) -> dict | None:
    try:
        state = json.loads((data / "embedded.json").read_text())
        return state if isinstance(state.get("pid"), int) and isinstance(state.get("url"), str) else None
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _locked(data: Path):
    import fcntl

    with open(data / "embedded.lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _start(data: Path, token: str) -> dict:
    idle = idle_timeout()
    log_path = data / "embedded.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    env = dict(os.environ)
    env.pop("HUB_SERVE_TOKENS", None)  # only the token file's identity
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-m", "hub", "serve", "--data", str(data), "--host", "127.0.0.1", "--port", "0",
            "--token-file", str(data / "embedded-token"), "--allow-any-namespace", "--log-level", "warning",
            "--idle-timeout", str(idle)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                start_new_session=True, close_fds=True)
    _children.append(proc)
    deadline = time.monotonic() + START_TIMEOUT_S
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if url is None:
            with open(log_path, "rb") as fh:
                fh.seek(offset)
                found = re.search(rb"listening on (http://\S+)", fh.read())
            url = found.group(1).decode() if found else None
        if url is not None and _answers(url, token):
            started = datetime.now(timezone.utc).isoformat(timespec="seconds")
            state = {"pid": proc.pid, "url": url, "data": str(data), "started": started, "idle_timeout": idle}
            atomic_write_json(data / "embedded.json", state)
            logger.info("started the local hub server at %s (data in %s)", url, data)
            return state
        time.sleep(0.1)
    if proc.poll() is None:
        proc.terminate()
    with open(log_path, "rb") as fh:
        fh.seek(offset)
        tail = fh.read().decode("utf-8", "replace").strip().splitlines()[-3:]
    raise PublishError(f"could not start the local hub server over {data} (log: {log_path}: "
                       f"{' | '.join(tail) or 'no output'}); set HF_ENDPOINT or pass --endpoint to use another hub")


def ensure_server(*, start: bool = True) -> tuple[str, str]:
    """``(url, token)`` of the embedded server, starting it when it is not running."""
    data = home()
    data.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        data.chmod(0o700)
    with _locked(data):
        token = _token(data)
        state = _read_state(data)
        if state and _is_our_server(state["pid"]) and _answers(state["url"], token):
            logger.info("using the local hub server at %s", state["url"])
            return state["url"], token
        if not start:
            raise PublishError(f"the local hub server over {data} is not running; push something first "
                               "or set HF_ENDPOINT")
        if state and _is_our_server(state["pid"]):  # alive but not answering us (stale token): replace it
            _terminate(state["pid"])
        state = _start(data, token)
        return state["url"], token


def _terminate(pid: int, timeout: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in _children:
            if proc.pid == pid:
                proc.poll()  # reap our own child so it stops existing
        if not _is_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        return "\nState:\tZ" not in status.read_text()
    return True


def server_status(data: Path | None = None) -> dict | None:
    """``{"pid", "url", "data", "started", "idle_timeout", "answering", "workers", "storage"}`` of the server
    over ``data`` (default: the embedded hub's folder) when it runs; ``None`` otherwise.

    The embedded hub is found through ``embedded.json`` (and answers its token), any other ``hub serve``
    through the ``serve.json`` it writes itself; ``workers`` are the pids serving requests (one, or each
    worker of ``--workers N``) and ``storage`` the stores' counts (:func:`hub.server.runstate.storage_stats`).
    ``started``/``idle_timeout`` are ``None`` for a server started by an older version.
    """
    from ..server.runstate import live_workers, read_state, storage_stats

    data = Path(data) if data else home()
    if not data.is_dir():
        return None
    served = read_state(data)
    if (data / "embedded.json").exists():
        with _locked(data):
            state = _read_state(data)
            if not state or not _is_our_server(state["pid"]):
                return None
            answering = _answers(state["url"], _token(data))
    elif served and _is_our_server(served["pid"]):
        state, answering = served, _answers_anyone(served["url"])
    else:
        return None
    served = served if served and served.get("pid") == state["pid"] else {}
    return {**state, "data": str(data), "started": state.get("started"), "idle_timeout": state.get("idle_timeout"),
            "answering": answering, "workers": live_workers(served) if served else [state["pid"]],
            "storage": storage_stats(data, served.get("storage"))}


def _answers_anyone(url: str) -> bool:
    """Whether a server answers HTTP at ``url`` (any status: no token needed)."""
    import httpx

    try:
        httpx.get(f"{url}/api/whoami-v2", timeout=5)
    except httpx.HTTPError:
        return False
    return True


def stop_server(data: Path | None = None) -> bool:
    """Stop the server over ``data`` (default: the embedded hub's) and every worker it has; whether one ran."""
    from ..server.runstate import read_state

    data = Path(data) if data else home()
    if not data.is_dir():
        return False
    served = read_state(data)
    embedded = (data / "embedded.json").exists()
    with _locked(data) if embedded else contextlib.nullcontext():
        state = _read_state(data) if embedded else served
        stopped = bool(state) and _is_our_server(state["pid"])
        if stopped:
            _terminate(state["pid"], timeout=STOP_TIMEOUT_S)
        if served and state and served.get("pid") == state["pid"]:
            stopped = _stop_leftovers(served) or stopped
        if embedded:
            with contextlib.suppress(FileNotFoundError):
                (data / "embedded.json").unlink()
    return stopped


def _stop_leftovers(served: dict, timeout: float = 10.0) -> bool:
    """Workers still running after their supervisor ended (it was killed): they stop on their own once
    they see it gone; SIGKILL whatever is left after ``timeout``. Whether there were any."""
    from ..server.runstate import live_workers

    pids = live_workers(served)  # pid and kernel start time checked: never a recycled pid
    found = bool(pids)
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = live_workers(served)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return found
