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
from .errors import JSONResponse, ServerError
from .lfs import LfsStore
from .limits import Limits
from .storage import RepoStore
from .web.session import COOKIE
from .xet.store import XetStore

logger = logging.getLogger(__name__)


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
    if segs[:1] == ["-"] and read:  # the pages' scripts and onnxruntime-web: "-" is no namespace
        from .web import assets

        return assets.serve, segs[1:], ""
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
