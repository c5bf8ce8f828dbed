"""What a dataset repo's page shows: its card, a preview of its parquet files, files, commits, refs."""

from __future__ import annotations

from urllib.parse import quote

from ..context import Ctx
from ..repo_query import commit_for, repo_summary
from ..storage import GitRepo
from . import render
from .preview import MAX_FILE_BYTES, previews


def dataset_values(ctx: Ctx, meta: dict, repo: GitRepo, rev: str) -> dict:
    """The template values of ``dataset.html`` (run in a worker thread: git and file reads)."""
    commit = commit_for(ctx, repo, rev)
    info = repo_summary(ctx, ctx.repo_id, meta, repo, commit, True)
    files = [{"path": f["rfilename"], "size": f["size"], "sha256": (f.get("lfs") or {}).get("sha256"),
              "blob": f["blobId"], "url": f"/{ctx.repo_id}/resolve/{commit}/{quote(f['rfilename'])}"}
             for f in info["siblings"]]
    by_path = {f["path"]: f for f in files}

    def read(path: str) -> bytes | None:
        f = by_path[path]
        if f["sha256"] is None:
            return repo.read_blobs([f["blob"]])[f["blob"]]
        if not ctx.hub.lfs.granted(repo.path, f["sha256"]) or f["size"] > MAX_FILE_BYTES:
            return None
        return b"".join(ctx.hub.lfs.open(f["sha256"], 0, f["size"]))

    readme = by_path.get("README.md")
    card = read("README.md").decode("utf-8", "replace") if readme and readme["sha256"] is None else ""
    refs = repo.refs()
    return {"info": info, "rev": rev, "files": files, "shown_id": ctx.shown_id,
            "card": render.card_html(card, f"/{ctx.repo_id}/resolve/{commit}/"),
            "previews": previews(files, read),
            "commits": repo.log(commit, max_count=20),
            "refs": [("branch", n, c) for n, c in sorted(refs["branches"])]
                    + [("tag", n, c) for n, c in sorted(refs["tags"])]}
