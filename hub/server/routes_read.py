"""Read endpoints: model info, tree and paths-info listings, commit log, and file downloads.

Sizes reported for LFS files are the real object sizes (not the pointer's), and downloads of LFS
files carry ``X-Linked-Etag``/``X-Linked-Size`` with the sha256, which is what the client keys its
cache on. Files are streamed from disk with ``FileResponse`` (HEAD and Range included); regular
git blobs are first materialised once into a content-addressed cache.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

from starlette.responses import Response

from .context import Ctx
from .commits import check_path, lfs_info_for
from .errors import JSONResponse, ServerError, entry_not_found
from .paging import decode_cursor, page_size, paged
from .ranges import LocalFile, stream_object
from .repo_query import commit_for, repo_summary
from .storage import GitRepo, TreeEntry, atomic_write


def _entry_json(e: TreeEntry, lfs: dict[str, tuple[str, int, int]], last: dict | None = None) -> dict:
    if e.type == "tree":
        item: dict = {"type": "directory", "oid": e.oid, "size": 0, "path": e.path}
    else:
        item = {"type": "file", "oid": e.oid, "size": e.size, "path": e.path}
        if e.oid in lfs:
            sha, size, pointer_size = lfs[e.oid]
            item["size"] = size
            item["lfs"] = {"oid": sha, "size": size, "pointerSize": pointer_size}
    if last is not None:
        item["lastCommit"] = last
    return item


def _last_commit(repo: GitRepo, commit: str, path: str) -> dict | None:
    found = repo.log(commit, path, max_count=1)
    return {"id": found[0].oid, "title": found[0].title, "date": found[0].date} if found else None


async def model_info(ctx: Ctx) -> Response:
    meta, repo = ctx.readable()
    rev = ctx.args[0] if ctx.args else None
    return JSONResponse(await ctx.run(repo_summary, ctx, ctx.repo_id, meta, repo, rev, ctx.flag("blobs")))


def _in_repo(path: str) -> bool:
    """Whether a requested path could name a file in the repo (``..`` and friends cannot: 404, not 500)."""
    try:
        check_path(path)
    except ServerError:
        return False
    return True


async def tree(ctx: Ctx) -> Response:
    _, repo = ctx.readable()
    rev = ctx.args[0] if ctx.args else "main"
    path = "/".join(ctx.args[1:]).strip("/")
    recursive, expand = ctx.flag("recursive"), ctx.flag("expand")

    def work() -> tuple[list[dict], bool]:
        commit = commit_for(ctx, repo, rev)
        if path and not _in_repo(path):
            raise entry_not_found(path, commit)
        entries = repo.ls_tree(commit, path + "/" if path else "", recursive=recursive)
        if path:
            entries = [e for e in entries if e.path.startswith(path + "/")]
            if not entries:
                raise entry_not_found(path, commit)
        page = entries[offset:offset + size + 1]  # one more than the page: does a next one exist?
        lfs = lfs_info_for(repo, page[:size])
        items = [_entry_json(e, lfs, _last_commit(repo, commit, e.path) if expand else None) for e in page[:size]]
        return items, len(page) > size

    size, offset = page_size(ctx, 50 if expand else 1000), decode_cursor(ctx.query.get("cursor"))
    items, more = await ctx.run(work)
    return paged(ctx, items, offset + size if more else None)


async def paths_info(ctx: Ctx) -> Response:
    _, repo = ctx.readable()
    rev = ctx.args[0] if ctx.args else "main"
    form = parse_qs((await ctx.body()).decode("utf-8", "replace"))
    paths = [p.strip("/") for p in form.get("paths", []) if p.strip("/")]
    expand = form.get("expand", ["false"])[-1].lower() in ("1", "true")

    def work() -> list[dict]:
        commit = commit_for(ctx, repo, rev)
        found = []
        for path in dict.fromkeys(p for p in paths if _in_repo(p)):
            found += [e for e in repo.ls_tree(commit, path) if e.path == path]
        lfs = lfs_info_for(repo, found)
        return [_entry_json(e, lfs, _last_commit(repo, commit, e.path) if expand else None) for e in found]

    return JSONResponse(await ctx.run(work))


async def commits(ctx: Ctx) -> Response:
    _, repo = ctx.readable()
    rev = ctx.args[0] if ctx.args else "main"

    def work() -> list[dict]:
        commit = commit_for(ctx, repo, rev)
        return [{"id": c.oid, "title": c.title, "message": c.message, "date": c.date,
                 "authors": [{"user": c.author, "avatar": None}]} for c in repo.log(commit)]

    return JSONResponse(await ctx.run(work))


def _blob_cache_file(ctx: Ctx, repo: GitRepo, oid: str) -> Path:
    """A regular blob as a file on disk (written once, atomically), so it can be range-served."""
    path = ctx.hub.data_dir / "cache" / "blobs" / oid[:2] / oid
    if not path.exists():
        atomic_write(path, repo.git("cat-file", "blob", oid))
    return path


async def resolve(ctx: Ctx) -> Response:
    _, repo = ctx.readable()
    rev, path = ctx.args[0], ctx.args[1].strip("/")

    def work() -> tuple[Path | None, dict[str, str], str | None, int]:
        commit = commit_for(ctx, repo, rev)
        entry = next((e for e in repo.ls_tree(commit, path) if e.path == path), None) if _in_repo(path) else None
        if entry is None or entry.type != "blob":
            raise entry_not_found(path, commit)
        lfs = lfs_info_for(repo, [entry])
        headers = {"X-Repo-Commit": commit, "Cache-Control": "private, max-age=0, must-revalidate"}
        if entry.oid in lfs:
            sha, size, _ = lfs[entry.oid]
            if not ctx.hub.lfs.granted(repo.path, sha):  # second guard: never serve another repo's object
                raise entry_not_found(path, commit)
            file = ctx.hub.lfs.local_path(sha)  # else in the bucket, or only as xorbs: streamed
            if file is None and ctx.hub.lfs.size(sha) is None:
                raise ServerError(500, f"LFS object {sha} of {path} is missing from the store")
            headers.update({"ETag": f'"{sha}"', "X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(size)})
            xet_id = ctx.hub.xet.file_id_for_sha(sha)
            if xet_id is not None:  # uploaded through Xet: a client with hf_xet downloads it from the CAS
                route = f"{ctx.api_url}/xet-read-token/{commit}"
                headers.update({"X-Xet-Hash": xet_id, "X-Xet-Refresh-Route": route,
                                "Link": f'<{route}>; rel="xet-auth"'})
            return file, headers, sha, size
        headers["ETag"] = f'"{entry.oid}"'
        return _blob_cache_file(ctx, repo, entry.oid), headers, None, 0

    file, headers, sha, size = await ctx.run(work)
    if file is None:
        return await stream_object(ctx.request, size, headers, lambda start, end: ctx.hub.lfs.open(sha, start, end))
    return LocalFile(file, headers=headers, media_type="application/octet-stream")
