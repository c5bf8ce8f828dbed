"""HTTP side of the Xet protocol: token endpoints on the Hub API, and the CAS API under ``/api/xet``.

Paths follow the public CAS API (docs/xet/api.md); ``casUrl`` is ``{server}/api/xet``. CAS routes
authenticate with the short-lived Xet token (:mod:`.tokens`), never with the user's own token;
xorb byte ranges are fetched from signed URLs, as from S3.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.responses import Response, StreamingResponse

from ..context import Ctx
from ..errors import JSONResponse, ServerError, bad_request, repo_not_found
from ..limits import check_declared_length, too_large
from ..ranges import opened
from .formats import MAX_XORB_BYTES, CasInfo, FormatError, read_shard, write_dedup_shard
from .hashing import hash_to_hex, hex_to_hash, keyed
from .store import Rejected
from .tokens import Grant

logger = logging.getLogger(__name__)

MAX_SHARD_BYTES = 64 << 20
DEDUP_XORBS = 4
RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")


def _cas_url(ctx: Ctx) -> str:
    return f"{ctx.base_url}/api/xet"


async def _token(ctx: Ctx, scope: str) -> Response:
    if scope == "write":
        user, _, _ = ctx.writable()
    else:
        ctx.readable()
        user = ctx.user
    token, exp = ctx.hub.xet_tokens.issue(user, ctx.repo_id, scope)
    url = _cas_url(ctx)
    return JSONResponse({"accessToken": token, "exp": exp, "casUrl": url},
                        headers={"X-Xet-Cas-Url": url, "X-Xet-Access-Token": token, "X-Xet-Token-Expiration": str(exp)})


async def write_token(ctx: Ctx) -> Response:
    return await _token(ctx, "write")


async def read_token(ctx: Ctx) -> Response:
    return await _token(ctx, "read")


def _grant(ctx: Ctx, need_write: bool = False) -> Grant:
    grant = ctx.hub.xet_tokens.check(ctx.request.headers.get("authorization"), need_write)
    if ctx.hub.visible_meta(grant.user, grant.repo) is None:
        raise repo_not_found(grant.repo)  # deleted, or made private, since the token was issued
    return grant


def _readable_xorb(ctx: Ctx, user: str | None, xorb: str) -> bool:
    """Whether ``user`` may read one of the repos ``xorb`` was uploaded through."""
    return any(ctx.hub.visible_meta(user, owner) is not None for owner in ctx.hub.xet.owners(xorb))


def _hash_arg(ctx: Ctx, index: int, what: str) -> str:
    text = ctx.args[index] if len(ctx.args) > index else ""
    try:
        hex_to_hash(text)
    except ValueError:
        raise bad_request(f"Malformed {what} hash {text[:80]!r}: expected 64 lowercase hex digits") from None
    return text


async def _body(ctx: Ctx, limit: int, what: str) -> bytes:
    """The capped body, joined once (a growing bytearray and its final copy cost ~20% of a xorb upload)."""
    check_declared_length(ctx.request.headers, limit, what)
    parts, seen = [], 0
    async for part in ctx.request.stream():
        seen += len(part)
        if seen > limit:
            raise too_large(what, limit)
        parts.append(part)
    return b"".join(parts)


async def upload_xorb(ctx: Ctx) -> Response:
    grant = _grant(ctx, need_write=True)
    if ctx.args[0] != "default":
        raise bad_request(f"Unknown xorb prefix {ctx.args[0]!r}; use 'default'")
    xorb = _hash_arg(ctx, 1, "xorb")
    blob = await _body(ctx, MAX_XORB_BYTES, "Xorb")
    try:
        inserted = await ctx.run(ctx.hub.xet.put_xorb, xorb, blob, grant.repo)
    except FormatError as exc:
        logger.warning("refused xorb %s into %s: %s", xorb, grant.repo, exc)
        raise bad_request(f"Invalid xorb {xorb}: {exc}") from None
    return JSONResponse({"was_inserted": inserted})


async def upload_shard(ctx: Ctx) -> Response:
    grant = _grant(ctx, need_write=True)
    data = await _body(ctx, MAX_SHARD_BYTES, "Shard")
    hub, store = ctx.hub, ctx.hub.xet
    git_dir = hub.store.git_dir(grant.repo)

    def may_use(xorb: str) -> bool:
        return _readable_xorb(ctx, grant.user, xorb)

    def work() -> int:
        files, xorbs = read_shard(data)
        for x in xorbs:  # the new xorbs the client lists must all have arrived first
            name = hash_to_hex(x.xorb)
            chunks = store.chunks_of(name)
            if chunks is None or not may_use(name):
                raise Rejected(f"shard lists xorb {name}, which was not uploaded")
            if [c.hash for c in chunks] != [h for h, _, _ in x.chunks]:
                raise Rejected(f"shard's listing of xorb {name} does not match its chunks")
        checked = [(store.check_file(info, may_use), info) for info in files]  # every file before any write
        try:
            record(checked)
        finally:  # the decompressed chunks kept since the xorbs' upload are not needed any more
            store.forget([hash_to_hex(t.xorb) for info in files for t in info.terms])
        return len(checked)

    def record(checked: list) -> None:
        files = [(fid, sha, size, [[hash_to_hex(t.xorb), t.start, t.end] for t in info.terms])
                 for (fid, sha, size), info in checked]
        for fid, sha, size, terms in files:  # every sha256 claim checked before anything is granted
            known = store.file(fid)  # same id = same chunks: its sha256 was checked when first recorded
            if known is None or known[0] != sha:  # the claim grants that sha256: always checked; no LFS copy
                store.verify_file(terms, sha, size)
        for fid, sha, size, terms in files:
            hub.lfs.grant(git_dir, sha)
            store.record_file(fid, sha, size, terms)
            logger.info("xet file %s (sha256 %s, %d bytes) into %s", fid, sha, size, grant.repo)

    try:
        count = await ctx.run(work)
    except (FormatError, Rejected) as exc:
        logger.warning("refused shard into %s: %s", grant.repo, exc)
        raise bad_request(f"Invalid shard: {exc}") from None
    return JSONResponse({"result": 1 if count else 0})


async def dedup_query(ctx: Ctx) -> Response:
    grant = _grant(ctx)
    if ctx.args[0] not in ("default-merkledb", "default"):
        raise bad_request(f"Unknown dedup prefix {ctx.args[0]!r}; use 'default-merkledb'")
    raw = hex_to_hash(_hash_arg(ctx, 1, "chunk"))
    store = ctx.hub.xet

    def work() -> bytes | None:
        found = [x for x in store.xorbs_with_chunk(raw.hex()) if _readable_xorb(ctx, grant.user, x)][:DEDUP_XORBS]
        if not found:
            return None
        key = secrets.token_bytes(32)
        listing = []
        for x in found:
            chunks = store.chunks_of(x)
            offsets, pos = [], 0
            for c in chunks:
                offsets.append(pos)
                pos += c.size
            listing.append(CasInfo(hex_to_hash(x), [(keyed(c.hash, key), off, c.size) for c, off in zip(chunks, offsets)],
                                   pos, chunks[-1].end))
        now = int(time.time())
        return write_dedup_shard(listing, key, now, now + 7 * 86400)

    shard = await ctx.run(work)
    if shard is None:
        raise ServerError(404, "Chunk is not tracked for deduplication")
    return Response(shard, media_type="application/octet-stream")


def _file_for(ctx: Ctx, grant: Grant, fid: str) -> tuple[str, int, list[list]]:
    record = ctx.hub.xet.file(fid)
    if record is None or not ctx.hub.lfs.granted(ctx.hub.store.git_dir(grant.repo), record[0]):
        raise ServerError(404, f"File {fid} not found")
    return record


def _plan(ctx: Ctx, fid: str, byte_range: str | None) -> tuple[int, list[tuple[str, int, int, int, int, int]]]:
    """``(offset into the first term, [(xorb, first chunk, end chunk, unpacked, byte start, byte end)])``."""
    grant = _grant(ctx)
    _, size, terms = _file_for(ctx, grant, fid)
    lo, hi = 0, size - 1
    if byte_range:
        m = RANGE_RE.match(byte_range.strip())
        if not m:
            raise bad_request(f"Malformed Range header {byte_range[:80]!r}: expected bytes=START-END")
        lo = int(m.group(1))
        hi = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
        if lo >= size or hi < lo:
            raise ServerError(416, f"Range {byte_range[:80]} is outside the file ({size} bytes)")
    plan, pos, offset = [], 0, 0
    for xorb, first, end in terms:
        chunks = ctx.hub.xet.chunks_of(xorb)[first:end]
        keep_from = None
        for i, c in enumerate(chunks):
            if pos + c.size > lo and pos <= hi:
                if keep_from is None:
                    keep_from = i
                    if not plan:
                        offset = lo - pos
                keep_to = i + 1
            pos += c.size
        if keep_from is not None:
            used = chunks[keep_from:keep_to]
            plan.append((xorb, first + keep_from, first + keep_to, sum(c.size for c in used), used[0].start,
                         used[-1].end - 1))
    return offset, plan


def _url(ctx: Ctx, xorb: str, start: int, end: int) -> str:
    return f"{_cas_url(ctx)}/v1/xorb-data/{xorb}?{ctx.hub.xet_tokens.sign_url(xorb, start, end)}"


async def reconstruction_v1(ctx: Ctx) -> Response:
    return await _reconstruction(ctx, 1)


async def reconstruction_v2(ctx: Ctx) -> Response:
    return await _reconstruction(ctx, 2)


async def _reconstruction(ctx: Ctx, version: int) -> Response:
    fid = _hash_arg(ctx, 0, "file")
    offset, plan = await ctx.run(_plan, ctx, fid, ctx.request.headers.get("range"))
    terms = [{"hash": x, "unpacked_length": n, "range": {"start": a, "end": b}} for x, a, b, n, _, _ in plan]
    if version == 2:
        xorbs: dict[str, list] = {}
        for x, a, b, _, s, e in plan:
            xorbs.setdefault(x, []).append({"url": _url(ctx, x, s, e), "ranges": [
                {"chunks": {"start": a, "end": b}, "bytes": {"start": s, "end": e}}]})
        return JSONResponse({"offset_into_first_range": offset, "terms": terms, "xorbs": xorbs})
    fetch: dict[str, list] = {}
    for x, a, b, _, s, e in plan:
        fetch.setdefault(x, []).append({"range": {"start": a, "end": b}, "url": _url(ctx, x, s, e),
                                        "url_range": {"start": s, "end": e}})
    return JSONResponse({"offset_into_first_range": offset, "terms": terms, "fetch_info": fetch})


async def xorb_data(ctx: Ctx) -> Response:
    """Signed byte range of a xorb; the ``Range`` header must lie inside the signed range."""
    xorb = _hash_arg(ctx, 0, "xorb")
    start, end = ctx.hub.xet_tokens.check_url(xorb, ctx.query)
    m = RANGE_RE.match(ctx.request.headers.get("range", "").strip())
    lo, hi = (int(m.group(1)), int(m.group(2) or end)) if m else (start, end)
    if lo < start or hi > end or hi < lo:
        raise ServerError(403, "Range is outside the signed xorb range")
    length = (ctx.hub.xet.chunks_of(xorb) or [None])[-1]
    hi = min(hi, length.end - 1) if length is not None else hi  # a signed range never passes the xorb's end
    body = await opened(lambda: ctx.hub.xet.read_range(xorb, lo, hi + 1))
    return StreamingResponse(body, status_code=206, media_type="application/octet-stream",
                             headers={"Content-Range": f"bytes {lo}-{hi}/*", "Content-Length": str(hi - lo + 1)})


async def telemetry(ctx: Ctx) -> Response:
    """hf_xet posts transfer statistics to the endpoint; read (capped) and dropped, never logged."""
    await _body(ctx, 1 << 20, "Telemetry")
    return Response(status_code=204)
