"""``hub serve --workers N``: one listening socket, N server processes, one supervisor.

Why our own supervisor rather than ``uvicorn.supervisors.Multiprocess``: the workers must share the
data folder's lock (handed down as the same open file, so the lock outlives a killed supervisor
as long as a worker lives), the watchdog must see idleness across all workers (a shared array each
worker stamps per request), and a worker that cannot start (bad storage, bad token file) must stop
the whole server with its reason instead of being restarted in a loop.

The supervisor binds the socket, takes the folder lock, builds the app once (creating the key,
checking the storage, clearing temp folders: before any worker runs), then spawns the workers
(``multiprocessing`` "spawn": a fresh interpreter each, no forked threads or sqlite handles). The
kernel spreads connections over the workers accepting on the one socket. A worker that dies after
it started is restarted (at most ``MAX_RESTARTS`` in ``RESTART_WINDOW_S``, then everything stops
with a message); SIGINT/SIGTERM, the watchdog (data folder gone, idle) or a worker's start-up
failure stop all workers, gracefully (SIGTERM), then with SIGKILL after ``STOP_TIMEOUT_S``.
Workers exit on their own when the supervisor disappears.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["Supervisor", "WorkerSpec", "WorkerFailed"]

SLOT = 3  # per worker in the shared array: last activity (monotonic), requests in flight, pid once serving
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0
STARTUP_FAILURE = 3
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"


class WorkerFailed(RuntimeError):
    """A worker could not start, or kept dying: the server stops with this message."""


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker builds its app from (pickled to each worker: tokens travel in a pipe, not argv)."""

    data_dir: Path
    tokens: dict[str, str]
    app_kwargs: dict[str, Any] = field(default_factory=dict)  # app.create_app's: orgs, limits, storage...
    log_level: int = logging.WARNING


class _InheritedFd:
    """An open descriptor that a spawned worker inherits as the *same* open file (for the flock)."""

    def __init__(self, fd: int):
        self.fd = fd

    def __reduce__(self) -> tuple:
        from multiprocessing.reduction import DupFd

        return _rebuild_fd, (DupFd(self.fd),)


def _rebuild_fd(dup: Any) -> int:
    return dup.detach()


def _watch_parent(server: Any, activity: Any, slot: int, parent: int) -> None:
    """Mark the slot as serving once uvicorn started; stop the worker when the supervisor is gone."""
    while not server.should_exit:
        if server.started and not activity[slot * SLOT + 2]:
            activity[slot * SLOT + 2] = os.getpid()
        if os.getppid() != parent:
            logging.getLogger(__name__).warning("hub serve worker %d: supervisor gone, stopping", slot)
            server.should_exit = True
            return
        time.sleep(0.2)


def _worker_main(spec: WorkerSpec, sock: Any, lock_fd: int, activity: Any, slot: int, parent: int) -> None:
    """A worker process: the app over the shared folder (no temp cleanup), served on the shared socket."""
    from .app import create_app
    from .uvserver import run_until_stopped, uvicorn_server
    from .watchdog import ActivityTracker

    logging.basicConfig(level=spec.log_level, format=LOG_FORMAT)
    try:
        lock_file = os.fdopen(lock_fd, "a+")
        app = create_app(spec.data_dir, spec.tokens, data_lock=lock_file, clean_temp=False, **spec.app_kwargs)
    except Exception as exc:  # noqa: BLE001 - one line for the log, the supervisor stops everything
        logger.error("hub serve worker %d could not start: %s", slot, exc)
        sys.exit(STARTUP_FAILURE)
    server = uvicorn_server(ActivityTracker(app, shared=activity, slot=slot * SLOT, worker=slot))
    threading.Thread(target=_watch_parent, args=(server, activity, slot, parent), daemon=True).start()
    try:
        run_until_stopped(server, sock)
    finally:
        app.state.hub.close()


class Supervisor:
    """Starts, watches and stops the worker processes; ``should_exit`` is what the watchdog sets."""

    def __init__(self, spec: WorkerSpec, sock: Any, lock_file: Any, workers: int):
        self.spec, self.sock, self.lock_file, self.n = spec, sock, lock_file, workers
        self.ctx = multiprocessing.get_context("spawn")
        self.activity = self.ctx.RawArray("d", SLOT * workers)
        self.procs: list[Any] = [None] * workers
        self.should_exit = False
        self.failure: str | None = None
        self._deaths: list[float] = []
        self.on_change: Any = None  # called with the worker pids whenever they change

    def _spawn(self, slot: int) -> None:
        self.activity[slot * SLOT:slot * SLOT + SLOT] = [time.monotonic(), 0.0, 0.0]
        proc = self.ctx.Process(target=_worker_main, name=f"hub-serve-worker-{slot}", daemon=False,
                                args=(self.spec, self.sock, _InheritedFd(self.lock_file.fileno()), self.activity,
                                      slot, os.getpid()))
        proc.start()
        self.procs[slot] = proc

    def ready(self, slot: int) -> bool:
        return bool(self.activity[slot * SLOT + 2])

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p is not None and p.pid is not None]

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start every worker and wait until each serves; :class:`WorkerFailed` (all stopped) otherwise."""
        for slot in range(self.n):
            self._spawn(slot)
        deadline = time.monotonic() + timeout
        while not all(self.ready(s) for s in range(self.n)):
            dead = [s for s in range(self.n) if self.procs[s].exitcode is not None]
            if dead or time.monotonic() > deadline or self.should_exit:
                self.stop()
                if self.should_exit and not dead:
                    raise KeyboardInterrupt
                why = (f"exit code {self.procs[dead[0]].exitcode}" if dead else f"not serving after {timeout:g} s")
                raise WorkerFailed(f"hub serve: worker {dead[0] if dead else ''} did not start ({why}); "
                                   "see its error above")
            time.sleep(0.05)
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.pids())

    def check(self) -> None:
        """Restart a worker that died after it started; give up (``failure``) when they keep dying."""
        for slot, proc in enumerate(self.procs):
            if self.should_exit or proc.exitcode is None:
                continue
            proc.join()
            started = self.ready(slot)
            now = time.monotonic()
            self._deaths = [t for t in self._deaths if now - t < RESTART_WINDOW_S] + [now]
            if not started or len(self._deaths) > MAX_RESTARTS:
                why = "failed to start" if not started else f"died {len(self._deaths)} times in {RESTART_WINDOW_S:g} s"
                self.failure = (f"hub serve: stopping: worker {slot} (pid {proc.pid}) {why} "
                                f"(exit code {proc.exitcode}); see the log above")
                self.should_exit = True
                return
            logger.warning("hub serve: worker %d (pid %d) died (exit code %s); starting another",
                           slot, proc.pid, proc.exitcode)
            self._spawn(slot)
            self._changed()

    def run(self, interval: float = 0.2) -> None:
        """Watch the workers until ``should_exit`` (signal, watchdog, failure), then stop them all."""
        try:
            while not self.should_exit:
                time.sleep(interval)
                self.check()
        finally:
            self.stop()
        if self.failure:
            raise WorkerFailed(self.failure)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM every worker (uvicorn ends gracefully), SIGKILL what is left after ``timeout``."""
        self.should_exit = True
        live = [p for p in self.procs if p is not None and p.exitcode is None]
        for proc in live:
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for proc in live:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.exitcode is None:
                logger.warning("hub serve: worker pid %d did not stop in %g s; killing it", proc.pid, timeout)
                proc.kill()
                proc.join(5)


class GroupActivity:
    """The workers' activity as one: in flight anywhere means busy; idle since the latest request ended."""

    def __init__(self, activity: Any, workers: int):
        self.activity, self.n = activity, workers

    def idle_for(self) -> float:
        slots = [self.activity[i * SLOT:i * SLOT + 2] for i in range(self.n)]
        if any(in_flight > 0 for _, in_flight in slots):
            return 0.0
        return time.monotonic() - max(last for last, _ in slots)


class ProcessHandle:
    """``hub serve --workers N`` running as a child process (what ``start_background(workers=N)`` returns).

    Tokens reach it through a 0600 token file in a private temp folder, removed once it serves (never
    on its command line). ``stop()`` sends SIGTERM, which stops every worker, and waits.
    """

    def __init__(self, data_dir: Path, tokens: dict[str, str], orgs: dict[str, set[str]] | None, workers: int,
                 host: str, port: int, args: list[str]):
        import tempfile

        self.data_dir = Path(data_dir)
        self.workers = workers
        self._tmp = Path(tempfile.mkdtemp(prefix="hub-serve-"))
        token_file = self._tmp / "tokens"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for token, user in tokens.items():
                fh.write(" ".join([token, user, *sorted(o for o, users in (orgs or {}).items() if user in users)]) + "\n")
        self.log = self._tmp / "serve.log"
        self.argv = [sys.executable, "-m", "hub", "serve", "--data", str(self.data_dir), "--host", host,
                     "--port", str(port), "--workers", str(workers), "--token-file", str(token_file),
                     "--log-level", "warning", *args]
        self.proc: Any = None
        self.url = ""

    def start(self, timeout: float) -> ProcessHandle:
        import re
        import subprocess

        env = dict(os.environ)
        env.pop("HUB_SERVE_TOKENS", None)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                         env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode()
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                self.url = found.group(1)
                (self._tmp / "tokens").unlink(missing_ok=True)
                return self
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        tail = self.log.read_text(errors="replace").strip().splitlines()[-3:] if self.log.exists() else []
        raise RuntimeError(f"hub serve --workers {self.workers} did not start: {' | '.join(tail) or 'no output'}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = STOP_TIMEOUT_S + 10) -> None:
        import shutil
        import subprocess

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> ProcessHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
