"""The page handlers: repo list, repo page, sign-in and sign-out (see the package docstring)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..context import Ctx
from ..errors import ServerError
from . import assets, render
from .session import COOKIE, CSRF_COOKIE, cookie, same

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]))
_ENV.globals["human"] = render.human
HEADERS = {"Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
                                      "form-action 'self'; frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}
# A repo page with the "try it" widget: scripts from this origin only (no inline script, no eval), WebAssembly
# compiled from them ('wasm-unsafe-eval'), fetches (model, config, .wasm) to this origin. Pages without the
# widget keep HEADERS, where default-src 'none' forbids every script.
WIDGET_HEADERS = {**HEADERS, "Content-Security-Policy": HEADERS["Content-Security-Policy"]
                  + "; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; base-uri 'none'"}
# A dataset page's preview thumbnails are PNGs the server re-encoded itself (web/preview.py), inlined.
DATASET_HEADERS = {**HEADERS, "Content-Security-Policy": HEADERS["Content-Security-Policy"].replace(
    "img-src 'self'", "img-src 'self' data:")}
PLOTS = ("curves.png", "confusion.png")


def _page(ctx: Ctx, template: str, status: int = 200, headers: dict[str, str] = HEADERS, **values) -> HTMLResponse:
    session = ctx.hub.sessions.get(ctx.request.cookies.get(COOKIE))
    html = _ENV.get_template(template).render(user=ctx.user, csrf=session.csrf if session else "",
                                              base_url=ctx.base_url, **values)
    return HTMLResponse(html, status_code=status, headers=headers)


async def index(ctx: Ctx) -> Response:
    from ..repo_query import visible_summaries

    search, kind = ctx.query.get("search", "").strip(), ctx.args[0]

    def work() -> list[dict]:
        found = visible_summaries(ctx, search, repo_type=kind)
        return sorted(found, key=lambda r: str(r.get("lastModified") or ""), reverse=True)

    return _page(ctx, "index.html", repos=await ctx.run(work), search=search, kind=kind)


async def repo_page(ctx: Ctx) -> Response:
    from ..repo_query import commit_for, repo_summary

    try:
        meta, repo = ctx.readable()
    except ServerError as exc:
        if exc.status != 404:
            raise
        hint = "" if ctx.user else " (sign in to see private repos)"
        page = _page(ctx, "index.html", status=404, repos=[], search=f"{ctx.shown_id}: no such repo{hint}",
                     kind=ctx.repo_type)
        for name, value in exc.response().headers.items():  # like every 4xx: X-Error-Message / -Code
            if name.lower().startswith("x-error-"):
                page.headers[name] = value
        return page
    rev = ctx.query.get("rev") or "main"
    if ctx.repo_type == "dataset":
        from .dataset_page import dataset_values

        values = await ctx.run(dataset_values, ctx, meta, repo, rev)
        return _page(ctx, "dataset.html", headers=DATASET_HEADERS, repo_id=ctx.repo_id, **values)

    def work() -> dict:
        commit = commit_for(ctx, repo, rev)
        info = repo_summary(ctx, ctx.repo_id, meta, repo, commit, True)  # siblings with sizes and LFS
        files = [{"path": f["rfilename"], "size": f["size"], "sha256": (f.get("lfs") or {}).get("sha256"),
                  "url": f"/{ctx.repo_id}/resolve/{commit}/{quote(f['rfilename'])}"} for f in info["siblings"]]
        sizes = {f["path"]: f["size"] for f in files}
        small = {f["rfilename"]: f["blobId"] for f in info["siblings"]
                 if "lfs" not in f and f["rfilename"] in ("README.md", "report.json", "config.json")}
        blobs = repo.read_blobs(list(small.values())) if small else {}
        texts = {path: blobs[oid].decode("utf-8", "replace") for path, oid in small.items()}
        refs = repo.refs()
        return {"info": info, "rev": rev, "files": files,
                "card": render.card_html(texts.get("README.md", ""), f"/{ctx.repo_id}/resolve/{commit}/"),
                "metrics": render.metrics(info.get("cardData")),
                "variants": render.variants(texts.get("report.json"), sizes),
                "formats": render.formats(texts.get("report.json")),
                "images": [(p, f"/{ctx.repo_id}/resolve/{commit}/{p}") for p in PLOTS if p in sizes],
                "widget": render.widget(texts.get("config.json"), sizes, f"/{ctx.repo_id}/resolve/{commit}/",
                                        assets.ort_base(), assets.MISSING),
                "commits": repo.log(commit, max_count=20),
                "refs": [("branch", n, c) for n, c in sorted(refs["branches"])]
                        + [("tag", n, c) for n, c in sorted(refs["tags"])]}

    values = await ctx.run(work)
    headers = WIDGET_HEADERS if "model" in values["widget"] else HEADERS
    return _page(ctx, "repo.html", headers=headers, repo_id=ctx.repo_id, **values)


def _safe_next(value: str) -> str:
    """Only a local path: an open redirect would let a link send a signed-in user anywhere."""
    parts = urlsplit(value or "/")
    return value if value.startswith("/") and not value.startswith("//") and not parts.netloc else "/"


async def login_form(ctx: Ctx, error: str = "", status: int = 200, next_url: str | None = None) -> Response:
    import secrets

    csrf = secrets.token_urlsafe(24)
    response = _page(ctx, "login.html", status=status, form_csrf=csrf, error=error,
                     next=_safe_next(next_url if next_url is not None else ctx.query.get("next", "/")))
    response.headers.append("Set-Cookie", cookie(CSRF_COOKIE, csrf, 3600))
    return response


async def login(ctx: Ctx) -> Response:
    form = parse_qs((await ctx.body()).decode("utf-8", "replace"))
    token, csrf = (form.get("token") or [""])[0], (form.get("csrf") or [""])[0]
    if not same(csrf, ctx.request.cookies.get(CSRF_COOKIE)):
        raise ServerError(403, "Sign-in form expired or came from another site; reload the sign-in page")
    try:
        user = ctx.hub.auth.user_for(f"Bearer {token}") if token else None
    except ServerError:
        user = None
    next_url = (form.get("next") or ["/"])[0]
    if user is None:
        return await login_form(ctx, "That token is not valid on this hub.", 401, next_url)
    response = RedirectResponse(_safe_next(next_url), status_code=303)
    response.headers.append("Set-Cookie", cookie(COOKIE, ctx.hub.sessions.open(user)))
    response.headers.append("Set-Cookie", cookie(CSRF_COOKIE, "", 0))
    return response


async def logout(ctx: Ctx) -> Response:
    form = parse_qs((await ctx.body()).decode("utf-8", "replace"))
    sid = ctx.request.cookies.get(COOKIE)
    session = ctx.hub.sessions.get(sid)
    if session is None or not same((form.get("csrf") or [""])[0], session.csrf):
        raise ServerError(403, "Sign-out needs the form of a signed-in page")
    ctx.hub.sessions.close(sid)
    response = RedirectResponse("/", status_code=303)
    response.headers.append("Set-Cookie", cookie(COOKIE, "", 0))
    return response
