"""What every route handler works with: the server-wide :class:`Hub` and the per-request :class:`Ctx`.

Its own module, below the routes and the app that assembles them: routes import their context
from here, never from app.py (which imports the routes), so the server has no import circle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from .auth import Auth
from .datadir import RepoLock, gc_lock_path, lock_path
from .errors import ServerError, repo_not_found
from .lfs import LfsStore
from .limits import Limits, check_declared_length, loads, read_capped
from .repos import RepoStore, split_key
from .storage import GitRepo
from .web.session import Sessions
from .xet.store import XetStore
from .xet.tokens import XetTokens


@dataclass
class Hub:
    """Server-wide state: stores, auth, and one lock per repo that serialises its writes.

    One ``Hub`` per process; with ``--workers N`` there are N, over one data folder: whatever must
    hold across them (write locks, signing keys, sessions) lives in that folder (``datadir.py``).
    """

    data_dir: Path
    store: RepoStore
    lfs: LfsStore
    auth: Auth
    xet: XetStore
    limits: Limits = field(default_factory=Limits)
    xet_tokens: XetTokens = field(default_factory=XetTokens)
    sessions: Sessions = field(default_factory=Sessions)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    lock_file: Any = None  # open file holding the data folder's exclusive flock (also a worker's inherited one)

    def close(self) -> None:
        """Release the data folder so another server may use it."""
        self.xet.close()
        self.sessions.close_db()
        if self.lock_file is not None:
            self.lock_file.close()
            self.lock_file = None

    def visible_meta(self, user: str | None, repo_id: str) -> dict | None:
        """Metadata of ``repo_id`` when it exists and ``user`` may read it (private: its namespace's owners)."""
        meta = self.store.meta(repo_id)
        if meta is None or (meta.get("private") and not self.auth.owns(user, split_key(repo_id)[1].split("/")[0])):
            return None
        return meta

    def lock(self, repo_id: str) -> RepoLock:
        """``async with`` it to serialise ref updates of ``repo_id`` (commits, tags, branches, delete, move)
        across this process's requests *and* every worker process over the same data folder."""
        return RepoLock(self.locks.setdefault(repo_id, asyncio.Lock()), lock_path(self.data_dir, repo_id),
                        gc_lock_path(self.data_dir))


@dataclass
class Ctx:
    """What a handler needs about one request."""

    request: Request
    hub: Hub
    user: str | None
    args: list[str]  # decoded path segments after the route prefix
    query: dict[str, str]
    repo_id: str = ""

    @property
    def base_url(self) -> str:
        return str(self.request.base_url).rstrip("/")

    @property
    def repo_type(self) -> str:
        """``model`` or ``dataset``: ``repo_id`` is the repo's key (see repos.py)."""
        return split_key(self.repo_id)[0]

    @property
    def shown_id(self) -> str:
        """The id a client knows the repo by (``ns/name``, without the kind's URL prefix)."""
        return split_key(self.repo_id)[1]

    @property
    def namespace(self) -> str:
        return self.shown_id.split("/", 1)[0]

    @property
    def api_url(self) -> str:
        """``{base}/api/models/ns/name`` or ``{base}/api/datasets/ns/name``."""
        return f"{self.base_url}/api/{self.repo_type}s/{self.shown_id}"

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking work (git, filesystem) in a worker thread."""
        return await anyio.to_thread.run_sync(fn, *args)

    async def body(self) -> bytes:
        """The request body, at most ``max_json_bytes`` of it (413 past that)."""
        limit = self.hub.limits.max_json_bytes
        check_declared_length(self.request.headers, limit, "Request body")
        return await read_capped(self.request.stream(), limit, "Request body")

    async def json(self, *, allow_empty: bool = False) -> dict:
        """The body as a JSON object, parsed with the size and depth limits (400/413, never 500).

        ``allow_empty``: an empty body reads as ``{}`` (optional bodies, e.g. branch creation).
        """
        raw = await self.body()
        if allow_empty and not raw.strip():
            return {}
        body = loads(raw, self.hub.limits)
        if not isinstance(body, dict):
            raise ServerError(400, "Request body must be a JSON object")
        return body

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("1", "true", "yes")

    def readable(self) -> tuple[dict, GitRepo]:
        """Metadata and git repo of ``repo_id``; 404 if missing or private to someone else."""
        self.hub.store.check_repo_id(self.repo_id)
        meta = self.hub.visible_meta(self.user, self.repo_id)
        if meta is None:
            raise repo_not_found(self.repo_id)
        return meta, self.hub.store.open(self.repo_id)

    def writable(self) -> tuple[str, dict, GitRepo]:
        """User, metadata and git repo for a write: 401/403 before 404, like the Hub."""
        self.hub.store.check_repo_id(self.repo_id)
        user = self.hub.auth.require_write(self.user, self.namespace)
        meta, repo = self.readable()
        return user, meta, repo


Handler = Callable[[Ctx], Awaitable[Response]]

