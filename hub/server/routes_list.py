"""Listing and repo-settings endpoints: ``list_models``, paging, ``update_repo_settings``, ``move_repo``.

Listings page like the Hub: at most ``limit`` items (default 100, at most 1000) per answer and a
``Link: <...&cursor=...>; rel="next"`` header while more remain, which ``huggingface_hub``'s
``paginate`` follows. The cursor is an opaque offset into a deterministic order (the sort key,
then the repo id), so pages neither repeat nor skip while nothing changes.
"""

from __future__ import annotations

import base64
import logging
from urllib.parse import urlencode

from starlette.responses import Response

from .app import Ctx
from .errors import JSONResponse, ServerError, bad_request
from .limits import expect

logger = logging.getLogger(__name__)

DEFAULT_PAGE = 100
MAX_PAGE = 1000
SORTS = {"lastModified": "lastModified", "createdAt": "createdAt", "id": "id", "modelId": "id",
         "downloads": "downloads", "likes": "likes", "trendingScore": "likes"}


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(text: str | None) -> int:
    if not text:
        return 0
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        if raw.startswith("o:") and raw[2:].isdigit():
            return int(raw[2:])
    except ValueError:
        pass
    raise bad_request("Invalid pagination cursor: pass back the one from the Link header")


def page_size(ctx: Ctx, default: int = DEFAULT_PAGE) -> int:
    raw = ctx.query.get("limit")
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise bad_request(f"Invalid limit {raw[:40]!r}: expected a positive integer")
    return min(int(raw), MAX_PAGE)


def paged(ctx: Ctx, page: list, next_offset: int | None) -> JSONResponse:
    """One page, with the ``Link`` header to the next one when ``next_offset`` is given."""
    headers = {}
    if next_offset is not None:
        params = [(k, v) for k, v in ctx.request.query_params.multi_items() if k != "cursor"]
        params.append(("cursor", encode_cursor(next_offset)))
        headers["Link"] = f'<{ctx.base_url}{ctx.request.url.path}?{urlencode(params)}>; rel="next"'
    return JSONResponse(page, headers=headers)


def visible_summaries(ctx: Ctx, search: str = "", author: str = "", full: bool = False) -> list[dict]:
    """ModelInfo of every repo ``ctx.user`` may see, in id order (the API listing and the web index)."""
    from .routes_read import repo_summary

    found = []
    for repo_id in ctx.hub.store.list_ids():
        if author and repo_id.split("/")[0] != author or search and search.lower() not in repo_id.lower():
            continue
        meta = ctx.hub.visible_meta(ctx.user, repo_id)
        if meta is None:
            continue
        try:
            found.append(repo_summary(ctx, repo_id, meta, ctx.hub.store.open(repo_id), None, False, siblings_too=full))
        except ServerError:  # no main branch (every branch deleted): still listed, bare
            found.append({"id": repo_id, "modelId": repo_id, "author": repo_id.split("/")[0], "tags": [],
                          "private": bool(meta.get("private")), "createdAt": meta.get("createdAt")})
    return found


async def list_models(ctx: Ctx) -> Response:
    query = ctx.request.query_params
    tags = [t for value in query.getlist("filter") for t in value.split(",") if t]
    sort = SORTS.get(query.get("sort") or "id")
    if sort is None:
        raise bad_request(f"Unknown sort {query.get('sort')!r}; use one of {', '.join(sorted(SORTS))}")
    descending = query.get("direction", "-1" if sort in ("lastModified", "createdAt", "downloads", "likes") else "1")
    size, offset = page_size(ctx), decode_cursor(query.get("cursor"))

    def work() -> list[dict]:
        found = [info for info in visible_summaries(ctx, query.get("search") or "", query.get("author") or "",
                                                    ctx.flag("full"))
                 if all(t in info["tags"] or t in (info.get("pipeline_tag"), info.get("library_name")) for t in tags)]
        if sort != "id" or descending == "-1":  # stable: ties keep id order
            found.sort(key=lambda i: str(i.get(sort) or ""), reverse=descending == "-1")
        return found

    found = await ctx.run(work)
    return paged(ctx, found[offset:offset + size], offset + size if offset + size < len(found) else None)


async def update_settings(ctx: Ctx) -> Response:
    """``update_repo_settings``: private on/off (``gated`` is not supported: refused, not ignored)."""
    ctx.writable()
    body = await ctx.json()
    private = expect(body.get("private"), bool, "private")
    visibility = expect(body.get("visibility"), str, "visibility")
    if visibility is not None:
        if visibility not in ("private", "public"):
            raise bad_request(f"Unsupported visibility {visibility[:40]!r}: use 'private' or 'public'")
        private = visibility == "private"
    unknown = sorted(k for k in body if k not in ("private", "visibility", "gated")
                     or (k == "gated" and body[k] not in (None, False)))
    if unknown:
        raise bad_request(f"Unsupported repo setting(s): {', '.join(unknown)}; this server supports "
                          "'private' / 'visibility'")
    async with ctx.hub.lock(ctx.repo_id):
        meta = ctx.hub.store.meta(ctx.repo_id) or {}
        if private is not None:
            meta["private"] = private
            await ctx.run(ctx.hub.store.write_meta, ctx.repo_id, meta)
    logger.info("settings of %s: private=%s", ctx.repo_id, meta.get("private"))
    return JSONResponse({"private": bool(meta.get("private"))})


async def move_repo(ctx: Ctx) -> Response:
    body = await ctx.json()
    src, dst = expect(body.get("fromRepo"), str, "fromRepo"), expect(body.get("toRepo"), str, "toRepo")
    if not src or not dst:
        raise bad_request("Expected {'fromRepo': 'ns/name', 'toRepo': 'ns/name'}")
    if body.get("type", "model") not in (None, "model"):
        raise bad_request("This server hosts model repositories only")
    for repo_id in (src, dst):
        ctx.hub.store.check_repo_id(repo_id)
        ctx.hub.auth.require_write(ctx.user, repo_id.split("/")[0])
    ctx.repo_id = src
    ctx.readable()
    first, second = sorted((src, dst))
    async with ctx.hub.lock(first), ctx.hub.lock(second):
        await ctx.run(ctx.hub.store.move, src, dst)
        await ctx.run(ctx.hub.xet.rename_owner, src, dst)
    return JSONResponse({"url": f"{ctx.base_url}/{dst}", "id": dst})
