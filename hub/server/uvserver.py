"""The uvicorn server every ``hub serve`` process runs (one server, or each worker of ``--workers N``).

Its own module, below ``serving`` (which starts servers) and ``workers`` (which supervises them), so
neither imports the other for it.
"""

from __future__ import annotations

import socket
import threading
from typing import Any


def uvicorn_server(app: Any, **kwargs: Any) -> Any:
    """A ``uvicorn.Server`` for ``app``: no access log (ours omits query strings, which may hold
    signatures), no lifespan, 30 s keep-alive."""
    import uvicorn

    config = uvicorn.Config(app, access_log=False, log_config=None, lifespan="off",
                            timeout_keep_alive=30, **kwargs)
    return uvicorn.Server(config)


def run_until_stopped(server: Any, sock: socket.socket) -> None:
    """``server.run`` that returns after SIGTERM instead of dying of it, so the caller's cleanup runs.

    uvicorn ends gracefully on SIGTERM, then raises the signal again under the handler it found;
    a no-op handler here turns that second delivery into a normal return (SIGINT still ends as
    KeyboardInterrupt, caught here).
    """
    import signal

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
