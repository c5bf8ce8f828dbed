"""Write endpoints: preupload (regular vs LFS), the LFS batch/upload/verify API, and commits.

The client's upload sequence is: ``preupload`` to learn each file's mode, LFS ``batch`` for the
large ones, a PUT of each missing object to the signed URL from ``batch``, then one NDJSON
``commit`` that references LFS objects by sha256. Only the commit changes the repo.
"""

from __future__ import annotations

import base64
import binascii
import logging

from starlette.responses import Response

from .context import Ctx
from .commits import apply_commit, attr_matches, check_path, commit_too_large, lfs_info_for, lfs_patterns, parse_payload
from .errors import JSONResponse, ServerError, bad_request
from .lfs import LfsStore
from .limits import expect
from .storage import DEFAULT_GITATTRIBUTES

logger = logging.getLogger(__name__)

LFS_THRESHOLD = 10 * 1000 * 1000  # the Hub's rule: files of 10 MB and more go to LFS
LFS_JSON = "application/vnd.git-lfs+json"


def _is_binary(sample: bytes) -> bool:
    """Binary if the sample has a NUL byte or is not UTF-8 (the Hub sends such files to LFS)."""
    if b"\0" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(sample) - 3  # a multi-byte character cut at the sample's end is fine
    return False


async def preupload(ctx: Ctx) -> Response:
    _, _, repo = ctx.writable()
    rev = ctx.args[0] if ctx.args else "main"
    body = await ctx.json()
    files = body.get("files")
    if not isinstance(files, list):
        raise bad_request("Expected {'files': [{'path', 'sample', 'size'}]}")

    def work() -> list[dict]:
        commit = repo.resolve(rev) or repo.resolve("main")
        existing, lfs, attributes = {}, {}, DEFAULT_GITATTRIBUTES
        if commit:
            listing = [e for e in repo.ls_tree(commit, recursive=True) if e.type == "blob"]
            existing = {e.path: e for e in listing}
            lfs = lfs_info_for(repo, listing)
            if ".gitattributes" in existing:
                oid = existing[".gitattributes"].oid
                attributes = repo.read_blobs([oid])[oid].decode("utf-8", "replace")
        patterns = lfs_patterns(attributes)
        answer = []
        for item in files:
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                raise bad_request("Each file needs a 'path'")
            path = check_path(item["path"])
            size = expect(item.get("size"), int, f"size of {path!r}") or 0
            try:
                sample = base64.b64decode(expect(item.get("sample"), str, f"sample of {path!r}") or "", validate=True)
            except (binascii.Error, ValueError):
                raise bad_request(f"Invalid base64 sample for {path}") from None
            is_lfs = size > 0 and (size >= LFS_THRESHOLD or _is_binary(sample)
                                   or any(attr_matches(p, path) for p in patterns))
            entry = existing.get(path)
            oid = None
            if entry is not None:
                oid = lfs[entry.oid][0] if entry.oid in lfs else entry.oid
            answer.append({"path": path, "uploadMode": "lfs" if is_lfs else "regular",
                           "shouldIgnore": False, "oid": oid})
        return answer

    return JSONResponse({"files": await ctx.run(work), "commitOid": None})


async def commit(ctx: Ctx) -> Response:
    user, _, repo = ctx.writable()
    if ctx.flag("create_pr"):
        raise bad_request("Pull requests are not supported by this server: commit to a branch instead")
    branch = ctx.args[0] if ctx.args else "main"
    declared = ctx.request.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > ctx.hub.limits.max_commit_bytes:
        raise commit_too_large(ctx.hub.limits.max_commit_bytes)
    pending = await parse_payload(ctx.request.stream(), ctx.hub.data_dir / "tmp", ctx.hub.limits)
    try:
        async with ctx.hub.lock(ctx.repo_id):
            ctx.readable()  # the repo may have been deleted while the body was arriving
            oid = await ctx.run(apply_commit, repo, ctx.hub.lfs, ctx.repo_id, branch, pending, user)
    finally:
        pending.cleanup()
    logger.info("commit %s on %s@%s by %s", oid, ctx.repo_id, branch, user)
    return JSONResponse({"commitUrl": f"{ctx.base_url}/{ctx.repo_id}/commit/{oid}", "commitOid": oid,
                         "success": True, "pullRequestUrl": None})


async def lfs_batch(ctx: Ctx) -> Response:
    """The LFS batch API: signed upload URLs for missing objects, signed download URLs for stored ones.

    A download is served through this server (from disk, the bucket, or rebuilt from Xet xorbs),
    never by a redirect to the bucket: clients may not reach its endpoint.
    """
    body = await ctx.json()
    operation = body.get("operation")
    if operation not in ("upload", "download"):
        raise bad_request("The LFS batch API supports the 'upload' and 'download' operations")
    repo = ctx.writable()[2] if operation == "upload" else ctx.readable()[1]
    if "basic" not in (expect(body.get("transfers"), list, "transfers") or ["basic"]):
        raise bad_request("Only the 'basic' LFS transfer is supported")
    if expect(body.get("hash_algo"), str, "hash_algo") not in (None, "sha256"):
        raise bad_request("Only sha256 is supported")
    objects = body.get("objects")
    if not isinstance(objects, list):
        raise bad_request("Expected 'objects'")
    base = f"{ctx.base_url}/{ctx.repo_id}.git/info/lfs/objects"
    wanted = []
    for obj in objects:
        oid = LfsStore.check_oid(obj.get("oid") if isinstance(obj, dict) else None)
        size = obj.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise bad_request(f"Invalid size for {oid}")
        wanted.append((oid, size))

    def work() -> list[dict]:  # size lookups may be bucket round trips: off the event loop
        granted, answer = ctx.hub.lfs.grants(repo.path), []
        for oid, size in wanted:
            stored = ctx.hub.lfs.size(oid) if oid in granted else None
            if stored is not None and stored != size:
                answer.append({"oid": oid, "size": size, "error": {
                    "code": 422, "message": f"Object {oid} exists with size {stored}, not {size}"}})
            elif operation == "download" and stored is None:
                answer.append({"oid": oid, "size": size, "error": {"code": 404, "message": f"Object {oid} not found"}})
            elif operation == "download":
                href = f"{base}/{oid}?{ctx.hub.lfs.sign(ctx.repo_id, oid, size, op='download')}"
                answer.append({"oid": oid, "size": size, "authenticated": True, "actions": {
                    "download": {"href": href, "header": {}, "expires_in": 3600}}})
            elif stored == size:
                answer.append({"oid": oid, "size": size})  # already there: no actions, the client skips it
            else:
                answer.append({"oid": oid, "size": size, "authenticated": True, "actions": {
                    "upload": {"href": f"{base}/{oid}?{ctx.hub.lfs.sign(ctx.repo_id, oid, size)}", "header": {},
                               "expires_in": 3600},
                    "verify": {"href": f"{base}/verify", "header": {}},
                }})
        return answer

    answer = await ctx.run(work)
    return JSONResponse({"transfer": "basic", "objects": answer, "hash_algo": "sha256"}, media_type=LFS_JSON)


async def lfs_upload(ctx: Ctx) -> Response:
    """PUT of one object to a signed URL (the client sends no token here, by design)."""
    oid = LfsStore.check_oid(ctx.args[0])
    size = ctx.hub.lfs.check_signature(ctx.repo_id, oid, ctx.query)
    if ctx.hub.store.meta(ctx.repo_id) is None:
        raise ServerError(404, f"Repository not found: {ctx.repo_id}", "RepoNotFound")
    declared = ctx.request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) != size:
        raise bad_request(f"Content-Length {declared} does not match the announced size {size}")
    await ctx.hub.lfs.receive(oid, size, ctx.request.stream())
    await ctx.run(ctx.hub.lfs.grant, ctx.hub.store.git_dir(ctx.repo_id), oid)
    return JSONResponse({})


async def lfs_verify(ctx: Ctx) -> Response:
    _, repo = ctx.readable()
    body = await ctx.json()
    oid, size = LfsStore.check_oid(body.get("oid")), expect(body.get("size"), int, "size", optional=False)
    # a size may be a bucket round trip (--storage): off the event loop
    stored = await ctx.run(lambda: ctx.hub.lfs.size(oid) if ctx.hub.lfs.granted(repo.path, oid) else None)
    if stored is None:
        raise ServerError(404, f"LFS object {oid} not found")
    if stored != size:
        raise ServerError(422, f"LFS object {oid} has size {stored}, not {size}")
    return JSONResponse({"oid": oid, "size": size}, media_type=LFS_JSON)
