"""When a running ``hub serve`` should stop on its own: its data folder went away, or it sat idle.

* **Data folder** (always on): the server keeps the ``--data`` folder open and captures its
  ``(st_dev, st_ino)`` at start; it stops once that folder was deleted (its link count drops to 0:
  this catches delete-and-recreate even when the new folder gets the freed inode number) or the path
  no longer exists or names another folder (moved away, another moved in). Why always: a server whose folder vanished cannot serve anything correct (its repos,
  LFS objects and Xet index are gone, writes would land in unlinked files), and its
  ``serve.lock`` is on the dead inode, so a fresh server may already own the new folder:
  two writers over one path. There is nothing to opt out of.
* **Idle** (``idle_timeout`` seconds, ``None``/0 = never): no HTTP request started or was in flight
  for that long, on any worker. A long upload or download counts as activity until it ends.

The check runs in a daemon thread every ``interval`` seconds and ends uvicorn gracefully
(``server.should_exit``; with ``--workers`` the supervisor's, which stops every worker); it logs
one line (WARNING) saying why.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["ActivityTracker", "Watchdog", "folder_identity"]


def folder_identity(path: Path) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of the folder ``path``, or ``None`` when it is not (or no longer) one."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    import stat

    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


class ActivityTracker:
    """ASGI wrapper recording when the last HTTP request ended and how many are in flight.

    A worker of ``hub serve --workers N`` also stamps both into its slot of an array shared with the
    supervisor (``shared[slot]``: last activity, ``shared[slot + 1]``: in flight), whose watchdog
    judges idleness across all workers (``workers.GroupActivity``; monotonic clocks are system-wide).
    """

    def __init__(self, app: Any, *, shared: Any = None, slot: int = 0, worker: int | None = None) -> None:
        self.app = app
        self.in_flight = 0
        self.last_activity = time.monotonic()
        self.shared, self.slot = shared, slot
        # ``X-Hub-Worker: <index>`` on every response of a worker: which process answered (operators, tests).
        self.worker = None if worker is None else (b"x-hub-worker", str(worker).encode())

    def _stamp(self) -> None:
        self.last_activity = time.monotonic()
        if self.shared is not None:
            self.shared[self.slot] = self.last_activity
            self.shared[self.slot + 1] = self.in_flight

    def __getattr__(self, name: str) -> Any:  # ``.state`` and friends of the wrapped Starlette app
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        self.in_flight += 1
        self._stamp()
        if self.worker is not None:
            send = self._tagged(send)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self._stamp()

    def _tagged(self, send: Any) -> Any:
        async def tagged(message: Any) -> None:
            if message.get("type") == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.worker]}
            await send(message)

        return tagged

    def idle_for(self) -> float:
        """Seconds since the last request ended; 0 while one is in flight."""
        return 0.0 if self.in_flight else time.monotonic() - self.last_activity


class Watchdog:
    """Stops ``server`` (a ``uvicorn.Server``) when ``data_dir`` goes away or after ``idle_timeout`` s idle."""

    def __init__(self, server: Any, data_dir: Path, tracker: ActivityTracker | None = None, *,
                 idle_timeout: float | None = None, interval: float = 1.0) -> None:
        self.server = server
        self.data_dir = Path(data_dir)
        self.tracker = tracker
        self.idle_timeout = idle_timeout or None
        self.interval = interval
        self.identity = folder_identity(self.data_dir)
        self._fd = _open_dir(self.data_dir)
        self.reason: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hub-serve-watchdog", daemon=True)

    def check(self) -> str | None:
        """Why the server should stop now, or ``None``."""
        now = folder_identity(self.data_dir)
        if now is None:
            return f"its data folder {self.data_dir} was removed"
        if self._fd is not None and os.fstat(self._fd).st_nlink == 0:
            return f"its data folder {self.data_dir} was deleted and created again"
        if now != self.identity:
            return f"its data folder {self.data_dir} was replaced by another folder"
        if self.idle_timeout and self.tracker is not None and self.tracker.idle_for() >= self.idle_timeout:
            return f"no request for {self.idle_timeout:g} s (--idle-timeout)"
        return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            reason = self.check()
            if reason is not None:
                self.reason = reason
                logger.warning("hub serve: stopping: %s", reason)
                self.server.should_exit = True
                return

    def start(self) -> Watchdog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.interval + 1.0)
        if self._fd is not None and not self._thread.is_alive():
            os.close(self._fd)
            self._fd = None


def _open_dir(path: Path) -> int | None:
    """An open descriptor of the folder (to see it deleted), or ``None`` where folders cannot be opened."""
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None
