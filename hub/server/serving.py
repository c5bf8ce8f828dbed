"""Run the server: the ASGI app over a data folder, in the foreground (``hub serve``) or a thread."""

from __future__ import annotations

import logging
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
               allow_any_namespace: bool = False, max_commit_bytes: int | None = None) -> Starlette:
    """The Starlette app serving repos under ``data_dir`` to holders of ``tokens`` (token -> user).

    ``max_commit_bytes`` caps one commit's whole body (default 64 MiB, or
    ``HUB_SERVE_MAX_COMMIT_BYTES``); tokens may be ``sha256:<hex>`` hashes (see ``auth.py``).
    """
    from .app import create_app as _create_app
    from .limits import Limits, max_commit_from_env

    limit = max_commit_bytes or max_commit_from_env()
    limits = Limits(max_commit_bytes=limit) if limit else Limits()
    return _create_app(Path(data_dir), tokens, orgs=orgs, allow_any_namespace=allow_any_namespace, limits=limits)


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
    import uvicorn

    # Our own request log omits query strings (signed upload URLs); uvicorn's would print them.
    config = uvicorn.Config(app, access_log=False, log_config=None, lifespan="off",
                            timeout_keep_alive=30, **kwargs)
    return uvicorn.Server(config)


def serve(data_dir: Path, host: str = "127.0.0.1", port: int = 0, tokens: dict[str, str] | None = None,
          *, orgs: dict[str, set[str]] | None = None, allow_any_namespace: bool = False,
          max_commit_bytes: int | None = None, on_ready: Any = None, idle_timeout: float | None = None,
          watch_interval: float = 1.0) -> None:
    """Run the server in the foreground until interrupted, its data folder goes away, or it idles.

    ``on_ready(url)`` is called once the socket is bound (the CLI prints the URL with it).
    The server stops on its own when ``data_dir`` is deleted or replaced (always: see
    :mod:`hub.server.watchdog`) and after ``idle_timeout`` seconds without a request (``None``/0:
    never); both are checked every ``watch_interval`` seconds.
    """
    from .watchdog import ActivityTracker, Watchdog

    app = create_app(Path(data_dir), tokens or {}, orgs=orgs, allow_any_namespace=allow_any_namespace,
                     max_commit_bytes=max_commit_bytes)
    tracker = ActivityTracker(app)
    sock = _bind(host, port)
    if on_ready is not None:
        on_ready(_url(sock))
    idle = f", stops after {idle_timeout:g} s idle" if idle_timeout else ""
    logger.info("hub serve listening on %s (data in %s%s)", _url(sock), data_dir, idle)
    server = _server(tracker)
    watchdog = Watchdog(server, Path(data_dir), tracker, idle_timeout=idle_timeout, interval=watch_interval)
    watchdog.start()
    try:
        server.run(sockets=[sock])
    finally:
        watchdog.stop()


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
                     timeout: float = 15.0) -> ServerHandle:
    """Start the server in a daemon thread and return once it accepts connections.

    ``port=0`` picks a free port; the handle's ``url`` says which.
    """
    app = create_app(Path(data_dir), tokens or {}, orgs=orgs, allow_any_namespace=allow_any_namespace,
                     max_commit_bytes=max_commit_bytes)
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
