"""The LFS download URL handed out by the batch API (``GET /{repo}.git/info/lfs/objects/{oid}``).

Signed like the upload URL (git-lfs and other clients fetch it without the user's token), and
checked again when used: the repo must still exist and still hold the object. The bytes come from
the local object, the bucket, or the file's Xet xorbs, whichever holds them, with ``Range``.
"""

from __future__ import annotations

from starlette.responses import Response

from .context import Ctx
from .errors import ServerError
from .lfs import LfsStore
from .ranges import LocalFile, stream_object


async def lfs_download(ctx: Ctx) -> Response:
    oid = LfsStore.check_oid(ctx.args[0])
    size = ctx.hub.lfs.check_signature(ctx.repo_id, oid, ctx.query, op="download")
    lfs = ctx.hub.lfs

    def locate() -> object:
        if ctx.hub.store.meta(ctx.repo_id) is None or not lfs.granted(ctx.hub.store.git_dir(ctx.repo_id), oid):
            raise ServerError(404, f"LFS object {oid} not found")
        return lfs.local_path(oid)

    path = await ctx.run(locate)
    headers = {"ETag": f'"{oid}"'}
    if path is not None:
        return LocalFile(path, headers=headers, media_type="application/octet-stream")
    return await stream_object(ctx.request, size, headers, lambda start, end: lfs.open(oid, start, end))
