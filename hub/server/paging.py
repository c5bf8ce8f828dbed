"""Paging like the Hub: ``limit`` (default 100, at most 1000) and a ``Link: <...&cursor=...>; rel="next"``
header, which ``huggingface_hub``'s ``paginate`` follows. The cursor is an opaque offset into a
deterministic order, so pages neither repeat nor skip while nothing changes. Used by the listing,
the tree and the commit log alike.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

from .context import Ctx
from .errors import JSONResponse, bad_request


DEFAULT_PAGE = 100


MAX_PAGE = 1000


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
