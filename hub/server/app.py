"""The Starlette application: request context, routing over the raw path, error handling.

Routing is done on the *raw* (still percent-encoded) path rather than with Starlette's path
patterns, because the huggingface_hub client encodes branch names with ``quote(rev, safe="")``:
``feature/x`` arrives as ``feature%2Fx`` and must stay one segment, while file paths in
``/resolve/{rev}/{path}`` keep their real slashes. Decoding segment by segment keeps both right.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from .auth import Auth
from .errors import JSONResponse, ServerError, repo_not_found
from .lfs import LfsStore
from .limits import Limits, check_declared_length, loads, read_capped
from .storage import GitRepo, RepoStore
from .web.session import COOKIE, Sessions
from .xet.store import XetStore
from .xet.tokens import XetTokens

logger = logging.getLogger(__name__)


@dataclass
class Hub:
    """Server-wide state: stores, auth, and one lock per repo that serialises its writes."""

    data_dir: Path
    store: RepoStore
    lfs: LfsStore
    auth: Auth
    xet: XetStore
    limits: Limits = field(default_factory=Limits)
    xet_tokens: XetTokens = field(default_factory=XetTokens)
    sessions: Sessions = field(default_factory=Sessions)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    lock_file: Any = None  # open file holding the data folder's exclusive flock

    def close(self) -> None:
        """Release the data folder so another server may use it."""
        self.xet.close()
        if self.lock_file is not None:
            self.lock_file.close()
            self.lock_file = None

    def visible_meta(self, user: str | None, repo_id: str) -> dict | None:
        """Metadata of ``repo_id`` when it exists and ``user`` may read it (private: its namespace's owners)."""
        meta = self.store.meta(repo_id)
        if meta is None or (meta.get("private") and not self.auth.owns(user, repo_id.split("/", 1)[0])):
            return None
        return meta

    def lock(self, repo_id: str) -> asyncio.Lock:
        """The lock serialising ref updates of ``repo_id`` (commits, tags, branches, delete)."""
        return self.locks.setdefault(repo_id, asyncio.Lock())


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
    def namespace(self) -> str:
        return self.repo_id.split("/", 1)[0]

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


def _route(method: str, segs: list[str]) -> tuple[Handler, list[str], str] | None:
    """Pick the handler for a decoded path: ``(handler, args, repo_id)`` or ``None``."""
    from . import routes_read as r, routes_repo as m, routes_write as w
    from . import routes_list as lst
    from .xet import routes as x

    n = len(segs)
    if segs[:2] == ["api", "xet"]:
        return _xet_route(method, segs[2:])
    if segs == ["v1", "telemetry"] and method == "POST":  # hf_xet's usage report: accepted, not kept
        return x.telemetry, [], ""
    if n >= 2 and segs[0] == "api":
        if segs[1:] == ["whoami-v2"] and method in ("GET", "HEAD"):
            return m.whoami, [], ""
        if segs[1:] == ["validate-yaml"] and method == "POST":
            return m.validate_yaml, [], ""
        if segs[1:] == ["repos", "create"] and method == "POST":
            return m.create_repo, [], ""
        if segs[1:] == ["repos", "delete"] and method == "DELETE":
            return m.delete_repo, [], ""
        if segs[1:] == ["repos", "move"] and method == "POST":
            return lst.move_repo, [], ""
        if segs[1:] == ["models"] and method in ("GET", "HEAD"):
            return lst.list_models, [], ""
        if segs[1] in ("datasets", "spaces") and n >= 4:
            return m.unsupported_type, [], f"{segs[2]}/{segs[3]}"
        if segs[1] == "models" and n >= 4:
            repo_id, rest = f"{segs[2]}/{segs[3]}", segs[4:]
            if not rest:
                return (r.model_info, [], repo_id) if method in ("GET", "HEAD") else None
            action, args = rest[0], rest[1:]
            table: dict[tuple[str, str], Handler] = {
                ("GET", "revision"): r.model_info, ("GET", "tree"): r.tree, ("POST", "paths-info"): r.paths_info,
                ("GET", "commits"): r.commits, ("GET", "refs"): m.refs,
                ("POST", "tag"): m.create_tag, ("DELETE", "tag"): m.delete_tag,
                ("POST", "branch"): m.create_branch, ("DELETE", "branch"): m.delete_branch,
                ("POST", "preupload"): w.preupload, ("POST", "commit"): w.commit,
                ("GET", "xet-write-token"): x.write_token, ("GET", "xet-read-token"): x.read_token,
                ("PUT", "settings"): lst.update_settings,
            }
            handler = table.get(("GET" if method == "HEAD" else method, action))
            if handler is None:
                return None
            if action != "tree":  # everything after the action is one revision (or name)
                args = ["/".join(args)] if args else []
            return handler, args, repo_id
        return None
    if n >= 5 and segs[1].endswith(".git") and segs[2:4] == ["info", "lfs"] and segs[4] == "objects":
        repo_id, rest = f"{segs[0]}/{segs[1][:-4]}", segs[5:]
        if rest == ["batch"] and method == "POST":
            return w.lfs_batch, [], repo_id
        if rest == ["verify"] and method == "POST":
            return w.lfs_verify, [], repo_id
        if len(rest) == 1 and method == "PUT":
            return w.lfs_upload, rest, repo_id
        return None
    if n >= 5 and segs[0] not in ("api", "datasets", "spaces") and segs[2] == "resolve" and method in ("GET", "HEAD"):
        return r.resolve, [segs[3], "/".join(segs[4:])], f"{segs[0]}/{segs[1]}"
    return _web_route(method, segs)


def _web_route(method: str, segs: list[str]) -> tuple[Handler, list[str], str] | None:
    """The web pages: ``/`` (list, ``?search=``), ``/{ns}/{name}`` (repo page), sign-in and out."""
    from .web import pages as web

    read = method in ("GET", "HEAD")
    if not segs and read:
        return web.index, [], ""
    if segs == ["login"]:
        return (web.login_form if read else web.login if method == "POST" else None), [], ""
    if segs == ["logout"] and method == "POST":
        return web.logout, [], ""
    if len(segs) == 2 and read and segs[0] not in ("api", "datasets", "spaces"):
        return web.repo_page, [], f"{segs[0]}/{segs[1]}"


def _xet_route(method: str, segs: list[str]) -> tuple[Handler, list[str], str] | None:
    """The CAS API (``casUrl`` = ``/api/xet``): Xet-token auth, checked by each handler."""
    from .xet import routes as x

    table: dict[tuple[str, str, str, int], Handler] = {
        ("POST", "v1", "xorbs", 2): x.upload_xorb, ("POST", "v1", "shards", 0): x.upload_shard,
        ("GET", "v1", "chunks", 2): x.dedup_query, ("GET", "v1", "reconstructions", 1): x.reconstruction_v1,
        ("GET", "v2", "reconstructions", 1): x.reconstruction_v2, ("GET", "v1", "xorb-data", 1): x.xorb_data,
    }
    if len(segs) < 2:
        return None
    handler = table.get(("GET" if method == "HEAD" else method, segs[0], segs[1], len(segs) - 2))
    return (handler, segs[2:], "") if handler else None


def _log_path(path: str) -> str:
    """A request path fit for a log line: control characters escaped, long paths cut."""
    path = path if len(path) < 300 else path[:300] + "..."
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                   for c in path)


def _disk_full(exc: OSError) -> ServerError | None:
    """507 for a full disk or quota: the client may retry later, and nothing half-written stays."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return ServerError(507, "The server is out of storage space; nothing was stored. Retry later "
                                "or ask the operator to free space")
    return None


def _lock_data_dir(data_dir: Path) -> Any:
    """Take an exclusive lock on ``data_dir``: one server per data folder.

    Per-repo locks live in one process, and start-up clears that process's temp folders, so a
    second server on the same folder could lose commits or delete uploads in flight.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    fh = open(data_dir / "serve.lock", "a+")
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks, rely on the documentation
        return fh
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise RuntimeError(f"another hub serve is already using {data_dir}") from None
    return fh


def create_app(data_dir: Path, tokens: dict[str, str], *, orgs: dict[str, set[str]] | None = None,
               allow_any_namespace: bool = False, limits: Limits | None = None) -> Starlette:
    """Build the hub server application over ``data_dir``.

    ``tokens`` maps bearer tokens to usernames; ``orgs`` maps organisation names to the users
    allowed to write there; ``allow_any_namespace`` lets any valid token write to any namespace
    (handy for a single-user loopback server); ``limits`` bounds request bodies.
    """
    data_dir = Path(data_dir)
    lock_file = _lock_data_dir(data_dir)
    try:
        hub = Hub(data_dir, RepoStore(data_dir), LfsStore(data_dir),
                  Auth(dict(tokens), {k: set(v) for k, v in (orgs or {}).items()}, allow_any_namespace),
                  XetStore(data_dir), limits=limits or Limits(), lock_file=lock_file)
    except BaseException:
        lock_file.close()
        raise

    async def dispatch(request: Request) -> Response:
        method = request.method.upper()
        raw = request.scope.get("raw_path") or request.url.path.encode()
        raw_path = raw.decode("latin-1").split("?", 1)[0]
        segs = [unquote(s) for s in raw_path.strip("/").split("/")] if raw_path.strip("/") else []
        status = 500
        try:
            found = _route(method, segs)
            if found is None:
                raise ServerError(404, f"Not found: {method} {request.url.path}")
            handler, args, repo_id = found
            if handler is None:
                raise ServerError(405, f"Method {method} is not allowed on {request.url.path}")
            xet_cas = segs[:2] == ["api", "xet"] or segs == ["v1", "telemetry"]  # Xet token, checked in the handler
            user = None if xet_cas else hub.auth.user_for(request.headers.get("authorization"))
            if user is None and not xet_cas and method in ("GET", "HEAD"):  # a signed-in browser, reads only
                session = hub.sessions.get(request.cookies.get(COOKIE))
                user = session.user if session else None
            ctx = Ctx(request, hub, user, args,
                      dict(parse_qsl(request.url.query, keep_blank_values=True)), repo_id)
            response = await handler(ctx)
        except ServerError as exc:
            response = exc.response()
        except OSError as exc:
            full = _disk_full(exc)
            if full is None:
                logger.exception("%s %s failed", method, _log_path(request.url.path))
                full = ServerError(500, "Internal server error")
            else:
                logger.error("%s %s: %s", method, _log_path(request.url.path), exc)
            response = full.response()
        except ClientDisconnect:
            logger.info("%s %s: client disconnected", method, _log_path(request.url.path))
            return Response(status_code=499)
        except Exception:
            logger.exception("%s %s failed", method, _log_path(request.url.path))
            response = JSONResponse({"error": "Internal server error"}, status_code=500,
                                    headers={"X-Error-Message": "Internal server error"})
        status = response.status_code
        logger.info("%s %s -> %d", method, _log_path(request.url.path), status)  # no query: it may hold signatures
        return response

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        response = await dispatch(Request(scope, receive))
        await response(scope, receive, send)

    # No Starlette routes at all: every request, whatever its method or path (a decoded newline
    # does not match a route pattern), reaches ``dispatch`` and gets the JSON error shape.
    app = Starlette(routes=[])
    app.router.default = asgi
    app.state.hub = hub
    return app
