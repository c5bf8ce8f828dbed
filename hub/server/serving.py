"""Run the server: the ASGI app over a data folder, in the foreground (``hub serve``) or a thread."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette

logger = logging.getLogger(__name__)

__all__ = ["ServerHandle", "create_app", "serve", "start_background"]


def create_app(data_dir: Path, tokens: dict[str, str], *, orgs: dict[str, set[str]] | None = None,
               allow_any_namespace: bool = False, max_commit_bytes: int | None = None,
               storage: str | None = None, data_lock: Any = None, clean_temp: bool = True,
               leaderboard: str | None = None) -> Starlette:
    """The Starlette app serving repos under ``data_dir`` to holders of ``tokens`` (token -> user).

    ``max_commit_bytes`` caps one commit's whole body (default 64 MiB, or
    ``HUB_SERVE_MAX_COMMIT_BYTES``); tokens may be ``sha256:<hex>`` hashes (see ``auth.py``).
    ``storage``: ``s3://BUCKET[/PREFIX]`` keeps LFS objects and Xet xorbs in that bucket (AWS_* variables).
    ``data_lock``/``clean_temp``: for a worker of ``hub serve --workers`` (see ``app.create_app``).
    ``leaderboard``: the dataset repo the ``/leaderboard`` page reads (default ``zoo/leaderboard``).
    """
    from .app import create_app as _create_app

    return _create_app(Path(data_dir), tokens, orgs=orgs, allow_any_namespace=allow_any_namespace,
                       limits=_limits(max_commit_bytes),
                       storage=storage, data_lock=data_lock, clean_temp=clean_temp, leaderboard=leaderboard)


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves so port 0 yields a known free port before start."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app: Any, **kwargs: Any) -> Any:
    from .uvserver import uvicorn_server

    return uvicorn_server(app, **kwargs)


def _limits(max_commit_bytes: int | None) -> Any:
    from .limits import Limits, max_commit_from_env

    limit = max_commit_bytes or max_commit_from_env()
    return Limits(max_commit_bytes=limit) if limit else Limits()


def serve(data_dir: Path, host: str = "127.0.0.1", port: int = 0, tokens: dict[str, str] | None = None,
          *, orgs: dict[str, set[str]] | None = None, allow_any_namespace: bool = False,
          max_commit_bytes: int | None = None, on_ready: Any = None, idle_timeout: float | None = None,
          watch_interval: float = 1.0, storage: str | None = None, workers: int = 1,
          leaderboard: str | None = None) -> None:
    """Run the server in the foreground until interrupted, its data folder goes away, or it idles.

    ``on_ready(url)`` is called once the server accepts connections (the CLI prints the URL with it).
    The server stops on its own when ``data_dir`` is deleted or replaced (always: see
    :mod:`hub.server.watchdog`) and after ``idle_timeout`` seconds without a request (``None``/0:
    never); both are checked every ``watch_interval`` seconds. ``workers > 1`` serves from that many
    processes over the one folder and socket (:mod:`hub.server.workers`).
    """
    from .runstate import remove_state, write_state
    from .uvserver import run_until_stopped
    from .watchdog import ActivityTracker, Watchdog

    app_kwargs = {"orgs": orgs, "allow_any_namespace": allow_any_namespace, "max_commit_bytes": max_commit_bytes,
                  "storage": storage, "leaderboard": leaderboard}
    if workers > 1:
        _serve_workers(Path(data_dir), host, port, tokens or {}, app_kwargs, workers, on_ready=on_ready,
                       idle_timeout=idle_timeout, watch_interval=watch_interval)
        return
    app = create_app(Path(data_dir), tokens or {}, **app_kwargs)
    tracker = ActivityTracker(app)
    try:
        sock = _bind(host, port)
    except BaseException:
        app.state.hub.close()
        raise
    write_state(Path(data_dir), _url(sock), [os.getpid()], idle_timeout, storage)
    if on_ready is not None:
        on_ready(_url(sock))
    idle = f", stops after {idle_timeout:g} s idle" if idle_timeout else ""
    logger.info("hub serve listening on %s (data in %s%s)", _url(sock), data_dir, idle)
    server = _server(tracker)
    watchdog = Watchdog(server, Path(data_dir), tracker, idle_timeout=idle_timeout, interval=watch_interval)
    watchdog.start()
    try:
        run_until_stopped(server, sock)
    finally:
        watchdog.stop()
        remove_state(Path(data_dir))
        app.state.hub.close()


def _serve_workers(data_dir: Path, host: str, port: int, tokens: dict[str, str], app_kwargs: dict[str, Any],
                   workers: int, *, on_ready: Any, idle_timeout: float | None, watch_interval: float) -> None:
    """The supervisor: lock and prepare the folder once, bind, start the workers, watch them, stop them."""
    from .datadir import lock_data_dir
    from .runstate import remove_state, write_state
    from .watchdog import Watchdog
    from .workers import GroupActivity, Supervisor, WorkerSpec

    from .app import create_app as build_app

    app_kwargs = dict(app_kwargs)  # app.create_app's own: a Limits instead of max_commit_bytes
    app_kwargs["limits"] = _limits(app_kwargs.pop("max_commit_bytes", None))
    lock_file = lock_data_dir(data_dir)
    try:
        # Built once here, before any worker: creates the key and the indexes, checks the storage, clears temp.
        hub = build_app(data_dir, tokens, data_lock=lock_file, clean_temp=True, **app_kwargs).state.hub
        hub.lock_file = None  # the supervisor keeps holding it
        hub.close()
        sock = _bind(host, port)
        spec = WorkerSpec(data_dir, dict(tokens), app_kwargs, logging.getLogger().getEffectiveLevel())
        supervisor = Supervisor(spec, sock, lock_file, workers)
        restore = _catch_signals(supervisor)
        try:
            supervisor.start()
            url, started = _url(sock), None

            def record(pids: list[int]) -> None:
                nonlocal started
                started = write_state(data_dir, url, pids, idle_timeout, app_kwargs.get("storage"), started)

            supervisor.on_change = record
            record(supervisor.pids())
            if on_ready is not None:
                on_ready(url)
            idle = f", stops after {idle_timeout:g} s idle" if idle_timeout else ""
            logger.info("hub serve listening on %s with %d workers (pids %s; data in %s%s)", url, workers,
                        ", ".join(map(str, supervisor.pids())), data_dir, idle)
            watchdog = Watchdog(supervisor, data_dir, GroupActivity(supervisor.activity, workers),
                                idle_timeout=idle_timeout, interval=watch_interval).start()
            try:
                supervisor.run()
            finally:
                watchdog.stop()
        finally:
            restore()
            supervisor.stop()
            sock.close()
            remove_state(data_dir)
    finally:
        lock_file.close()


def _catch_signals(supervisor: Any) -> Any:
    """SIGINT/SIGTERM stop the supervisor's loop (which then stops every worker); returns the undo."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop(signum: int, frame: Any) -> None:
        supervisor.should_exit = True

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(sig, handler) for sig, handler in old.items()]


@dataclass
class ServerHandle:
    """A server running in a background thread; ``stop()`` shuts it down and waits."""

    url: str
    data_dir: Path
    _server: Any
    _thread: threading.Thread
    _sock: socket.socket

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()
        self._server.config.app.state.hub.close()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_background(data_dir: Path, host: str = "127.0.0.1", port: int = 0,
                     tokens: dict[str, str] | None = None, *, orgs: dict[str, set[str]] | None = None,
                     allow_any_namespace: bool = False, max_commit_bytes: int | None = None,
                     timeout: float = 15.0, storage: str | None = None, workers: int = 1,
                     leaderboard: str | None = None) -> Any:
    """Start the server in a daemon thread and return once it accepts connections.

    ``port=0`` picks a free port; the handle's ``url`` says which. ``workers > 1``: ``hub serve
    --workers N`` in a child process instead (a :class:`hub.server.workers.ProcessHandle`, with
    ``url``, ``pid`` and ``stop()``), since worker processes need a supervisor of their own.
    """
    if workers > 1:
        from .workers import ProcessHandle

        args = ["--allow-any-namespace"] if allow_any_namespace else []
        args += ["--max-commit-bytes", str(max_commit_bytes)] if max_commit_bytes else []
        args += ["--storage", storage] if storage else []
        args += ["--leaderboard", leaderboard] if leaderboard else []
        handle = ProcessHandle(Path(data_dir), tokens or {}, orgs, workers, host, port, args)
        return handle.start(max(timeout, 60.0))
    app = create_app(Path(data_dir), tokens or {}, orgs=orgs, allow_any_namespace=allow_any_namespace,
                     max_commit_bytes=max_commit_bytes, storage=storage, leaderboard=leaderboard)
    try:
        sock = _bind(host, port)
    except OSError:
        app.state.hub.close()
        raise
    server = _server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="hub-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            app.state.hub.close()
            raise RuntimeError("hub serve did not start; see the log for the reason")
        time.sleep(0.02)
    handle = ServerHandle(_url(sock), Path(data_dir), server, thread, sock)
    logger.info("hub serve started in background on %s", handle.url)
    return handle
