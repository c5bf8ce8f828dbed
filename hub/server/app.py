"""The Starlette application: request context, routing over the raw path, error handling.

Routing is done on the *raw* (still percent-encoded) path rather than with Starlette's path
patterns, because the huggingface_hub client encodes branch names with ``quote(rev, safe="")``:
``feature/x`` arrives as ``feature%2Fx`` and must stay one segment, while file paths in
``/resolve/{rev}/{path}`` keep their real slashes. Decoding segment by segment keeps both right.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from .auth import Auth
from .context import Ctx, Handler, Hub
from .datadir import check_inherited_lock, clear_temp, derived_key, lock_data_dir
from .errors import JSONResponse, ServerError
from .lfs import LfsStore
from .limits import Limits
from .repos import RepoStore
from .web.session import COOKIE, Sessions
from .xet.store import XetStore
from .xet.tokens import XetTokens

logger = logging.getLogger(__name__)


def _route(method: str, segs: list[str]) -> tuple[Handler, list[str], str] | None:
    """Pick the handler for a decoded path: ``(handler, args, repo key)`` or ``None``."""
    from . import routes_write as w
    from .xet import routes as x

    if segs[:2] == ["api", "xet"]:
        return _xet_route(method, segs[2:])
    if segs == ["v1", "telemetry"] and method == "POST":  # hf_xet's usage report: accepted, not kept
        return x.telemetry, [], ""
    if len(segs) >= 2 and segs[0] == "api":
        return _api_route(method, segs[1:])
    prefix, rest = ("datasets/", segs[1:]) if segs[:1] == ["datasets"] else ("", segs)
    n = len(rest)
    if n >= 5 and rest[1].endswith(".git") and rest[2:4] == ["info", "lfs"] and rest[4] == "objects":
        key, tail = f"{prefix}{rest[0]}/{rest[1][:-4]}", rest[5:]
        if tail == ["batch"] and method == "POST":
            return w.lfs_batch, [], key
        if tail == ["verify"] and method == "POST":
            return w.lfs_verify, [], key
        if len(tail) == 1 and method == "PUT":
            return w.lfs_upload, tail, key
        if len(tail) == 1 and method in ("GET", "HEAD"):  # the batch API's signed download URL
            from .routes_lfs import lfs_download

            return lfs_download, tail, key
        return None
    if n >= 5 and rest[0] not in ("api", "datasets", "spaces") and rest[2] == "resolve" and method in ("GET", "HEAD"):
        from . import routes_read as r

        return r.resolve, [rest[3], "/".join(rest[4:])], f"{prefix}{rest[0]}/{rest[1]}"
    return _web_route(method, segs)


def _api_route(method: str, segs: list[str]) -> tuple[Handler, list[str], str] | None:
    """``/api/...`` (``segs`` without ``api``): account, repo-level calls, listings, then one repo's calls."""
    from . import routes_list as lst, routes_read as r, routes_repo as m, routes_write as w
    from .xet import routes as x

    read = method in ("GET", "HEAD")
    if segs == ["whoami-v2"] and read:
        return m.whoami, [], ""
    if segs == ["validate-yaml"] and method == "POST":
        return m.validate_yaml, [], ""
    if segs[:1] == ["repos"]:
        table = {("POST", "create"): m.create_repo, ("DELETE", "delete"): m.delete_repo, ("POST", "move"): lst.move_repo}
        handler = table.get((method, segs[1])) if len(segs) == 2 else None
        return (handler, [], "") if handler else None
    if segs in (["models"], ["datasets"]) and read:
        return lst.list_repos, [segs[0][:-1]], ""
    if segs[0] == "spaces" and len(segs) >= 3:
        return m.unsupported_type, [], ""
    if segs[0] not in ("models", "datasets") or len(segs) < 3:
        return None
    key = f"{'datasets/' if segs[0] == 'datasets' else ''}{segs[1]}/{segs[2]}"
    rest = segs[3:]
    if not rest:
        return (r.model_info, [], key) if read else None
    action, args = rest[0], rest[1:]
    table = {
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
    return handler, args, key


def _web_route(method: str, segs: list[str]) -> tuple[Handler, list[str], str] | None:
    """The web pages: ``/`` and ``/datasets`` (lists, ``?search=``), a repo page, sign-in and out, ``/leaderboard``."""
    from .web import pages as web

    read = method in ("GET", "HEAD")
    if not segs and read:
        return web.index, ["model"], ""
    if segs == ["datasets"] and read:
        return web.index, ["dataset"], ""
    if segs == ["login"]:
        return (web.login_form if read else web.login if method == "POST" else None), [], ""
    if segs == ["logout"] and method == "POST":
        return web.logout, [], ""
    if segs == ["leaderboard"] and read:
        from .web.leaderboard_page import leaderboard

        return leaderboard, [], ""
    if segs[:1] == ["-"] and read:  # the pages' scripts and onnxruntime-web: "-" is no namespace
        from .web import assets

        return assets.serve, segs[1:], ""
    if len(segs) == 2 and read and segs[0] not in ("api", "datasets", "spaces"):
        return web.repo_page, [], f"{segs[0]}/{segs[1]}"
    if len(segs) == 3 and read and segs[0] == "datasets":
        return web.repo_page, [], f"datasets/{segs[1]}/{segs[2]}"
    return None


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
    """Take the exclusive lock on ``data_dir``: one server (one group of workers) per data folder.

    Start-up clears the temp folders, so a second server on the same folder could delete uploads
    in flight; the workers of one ``hub serve --workers N`` share their supervisor's lock instead.
    """
    return lock_data_dir(data_dir)


def create_app(data_dir: Path, tokens: dict[str, str], *, orgs: dict[str, set[str]] | None = None,
               allow_any_namespace: bool = False, limits: Limits | None = None, data_lock: Any = None,
               clean_temp: bool = True, storage: str | None = None, leaderboard: str | None = None) -> Starlette:
    """Build the hub server application over ``data_dir``.

    ``tokens`` maps bearer tokens to usernames; ``orgs`` maps organisation names to the users
    allowed to write there; ``allow_any_namespace`` lets any valid token write to any namespace
    (handy for a single-user loopback server); ``limits`` bounds request bodies.
    ``data_lock``: the folder's lock file, already locked by the supervisor of ``hub serve --workers``
    and handed to this worker (without it the app takes the lock itself); ``clean_temp``: clear the
    temp folders, which only the process that took the lock may do, before any worker serves.
    ``storage``: ``s3://BUCKET[/PREFIX]`` puts LFS objects and Xet xorbs in that bucket (see objects.py).
    ``leaderboard``: the dataset repo ``/leaderboard`` shows (default ``zoo/leaderboard``).
    """
    from .web.leaderboard_page import DEFAULT_REPO, check_board_id

    leaderboard = check_board_id(leaderboard or DEFAULT_REPO)
    data_dir = Path(data_dir)
    if data_lock is None:
        lock_file = _lock_data_dir(data_dir)
    else:
        check_inherited_lock(data_lock, data_dir)
        lock_file = data_lock
    try:
        hub = _hub(data_dir, Auth(dict(tokens), {k: set(v) for k, v in (orgs or {}).items()}, allow_any_namespace),
                   limits or Limits(), lock_file, storage)
        if clean_temp:
            clear_temp(hub.store.tmp, hub.lfs.tmp, hub.xet.tmp)
    except BaseException:
        lock_file.close()
        raise
    app = _app(hub)
    app.state.leaderboard = leaderboard
    return app


def _hub(data_dir: Path, auth: Auth, limits: Limits, lock_file: Any, storage: str | None) -> Hub:
    """The stores over ``data_dir`` (objects in ``storage`` when given) and what workers share through it."""
    xet = XetStore(data_dir, storage=storage)
    return Hub(data_dir, RepoStore(data_dir), LfsStore(data_dir, storage=storage, xet=xet), auth, xet,
               limits=limits, lock_file=lock_file, xet_tokens=XetTokens(derived_key(data_dir, "xet-tokens")),
               sessions=Sessions(data_dir / "sessions.sqlite"))


def _app(hub: Hub) -> Starlette:
    """The ASGI app: every request goes through one dispatcher that routes, authenticates and answers errors."""

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
