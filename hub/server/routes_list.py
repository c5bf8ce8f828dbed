"""Listing and repo-settings endpoints: ``list_models``/``list_datasets``, paging, ``update_repo_settings``, ``move_repo``.

Listings page like the Hub: at most ``limit`` items (default 100, at most 1000) per answer and a
``Link: <...&cursor=...>; rel="next"`` header while more remain, which ``huggingface_hub``'s
``paginate`` follows. The cursor is an opaque offset into a deterministic order (the sort key,
then the repo id), so pages neither repeat nor skip while nothing changes.
"""

from __future__ import annotations

import logging

from starlette.responses import Response

from .context import Ctx
from .errors import JSONResponse, bad_request
from .limits import expect
from .paging import decode_cursor, page_size, paged
from .repo_query import visible_summaries
from .repos import repo_key, split_key

logger = logging.getLogger(__name__)

SORTS = {"lastModified": "lastModified", "createdAt": "createdAt", "id": "id", "modelId": "id",
         "downloads": "downloads", "likes": "likes", "trendingScore": "likes"}


async def list_repos(ctx: Ctx) -> Response:
    """``list_models`` and ``list_datasets`` (``ctx.args[0]``: the kind): the same filters and paging."""
    repo_type = ctx.args[0]
    query = ctx.request.query_params
    tags = [t for value in query.getlist("filter") for t in value.split(",") if t]
    sort = SORTS.get(query.get("sort") or "id")
    if sort is None:
        raise bad_request(f"Unknown sort {query.get('sort')!r}; use one of {', '.join(sorted(SORTS))}")
    descending = query.get("direction", "-1" if sort in ("lastModified", "createdAt", "downloads", "likes") else "1")
    size, offset = page_size(ctx), decode_cursor(query.get("cursor"))

    def work() -> list[dict]:
        found = [info for info in visible_summaries(ctx, query.get("search") or "", query.get("author") or "",
                                                    ctx.flag("full"), repo_type)
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
    repo_type = expect(body.get("type"), str, "type")
    src, dst = repo_key(repo_type, src), repo_key(repo_type, dst)
    for key in (src, dst):
        ns, _ = ctx.hub.store.check_repo_id(key)
        ctx.hub.auth.require_write(ctx.user, ns)
    ctx.repo_id = src
    ctx.readable()
    first, second = sorted((src, dst))
    async with ctx.hub.lock(first), ctx.hub.lock(second):
        await ctx.run(ctx.hub.store.move, src, dst)
        await ctx.run(ctx.hub.xet.rename_owner, src, dst)
    return JSONResponse({"url": f"{ctx.base_url}/{dst}", "id": split_key(dst)[1]})
