"""What a running ``hub serve`` tells ``hub serve status/stop``: ``DATA/serve.json``, and storage stats.

Every ``hub serve`` (one process, or a supervisor and its workers) writes ``serve.json`` when it
serves and removes it when it stops: ``{"pid", "url", "data", "workers": [{"pid", "start"}],
"started", "idle_timeout", "storage"}``. ``pid`` is the process to signal (the supervisor, or the one
server); ``workers`` are the processes serving requests, each with its kernel start time, so a pid
the system recycled after a crash is never taken for (or signalled as) a worker. No secret is in it.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_json

STATE_FILE = "serve.json"


def proc_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (``/proc``), ``None`` where it is gone or unknowable."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[-1].split()[19]  # field 22; the name in parentheses may hold spaces


def alive(pid: int, start: str | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, when ``start`` is known, is the process that had it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    status = Path(f"/proc/{pid}/status")
    with contextlib.suppress(OSError):
        if "\nState:\tZ" in status.read_text():
            return False
    return start is None or proc_start(pid) in (None, start)


def write_state(data_dir: Path, url: str, worker_pids: list[int], idle_timeout: float | None,
                storage: str | None = None, started: str | None = None) -> str:
    """Record the running server (atomically); returns its ``started`` time for the next update."""
    started = started or datetime.now(timezone.utc).isoformat(timespec="seconds")
    state = {"pid": os.getpid(), "url": url, "data": str(data_dir), "started": started,
             "idle_timeout": idle_timeout or 0, "storage": storage,
             "workers": [{"pid": pid, "start": proc_start(pid)} for pid in worker_pids]}
    with contextlib.suppress(OSError):  # the folder may be gone (the watchdog then stops us)
        atomic_write_json(Path(data_dir) / STATE_FILE, state)
    return started


def remove_state(data_dir: Path) -> None:
    """Remove ``serve.json`` if it is this process's."""
    path = Path(data_dir) / STATE_FILE
    state = read_state(data_dir)
    if state is not None and state.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def read_state(data_dir: Path) -> dict | None:
    try:
        state = json.loads((Path(data_dir) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("pid"), int) else None


def live_workers(state: dict) -> list[int]:
    """Pids of the recorded workers that still run (start time checked where ``/proc`` has it)."""
    found = []
    for w in state.get("workers") or []:
        if isinstance(w, dict) and isinstance(w.get("pid"), int) and alive(w["pid"], w.get("start")):
            found.append(w["pid"])
    return found


def _walk(folder: Path) -> tuple[int, int]:
    """``(files, bytes)`` under a local folder."""
    count = size = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                size += os.stat(os.path.join(root, name)).st_size
                count += 1
    return count, size


def storage_stats(data_dir: Path, storage: str | None = None) -> dict[str, Any]:
    """``{"repos", "lfs_objects", "lfs_bytes", "xorbs", "xorb_bytes"}`` of a data folder (or its bucket).

    Repos are counted from their metadata files; LFS objects and xorbs from the local folders, or,
    with ``storage`` (a bucket), by asking the object store. A store that cannot answer gives ``None``
    and an ``error`` line.
    """
    data_dir = Path(data_dir)
    repos = sum(1 for _ in (data_dir / "repos").glob("*/*/*.json"))  # repos/{models,datasets}/NS/NAME.json
    stats: dict[str, Any] = {"repos": repos}
    for count_key, bytes_key, sub in (("lfs_objects", "lfs_bytes", "lfs/objects"), ("xorbs", "xorb_bytes", "xet/xorbs")):
        try:
            if storage:
                from .objects import open_objects

                store = open_objects(storage, data_dir, sub)
                stats[count_key], stats[bytes_key] = sum(1 for _ in store.keys()), store.bytes_stored()
            else:
                stats[count_key], stats[bytes_key] = _walk(data_dir / sub)
        except Exception as exc:  # noqa: BLE001 - status reports what it can
            stats[count_key] = stats[bytes_key] = None
            stats["error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return stats


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
