"""What a repo looks like to a reader: its ModelInfo summary and the repos a user may see.

Shared by the JSON routes (model info, the listing) and the web pages, which read exactly what
the API returns; below both, so neither imports the other.
"""

from __future__ import annotations

from .cardmeta import parse_card_data
from .commits import lfs_info_for
from .context import Ctx
from .errors import ServerError, revision_not_found
from .repos import split_key
from .storage import GitRepo


def commit_for(ctx: Ctx, repo: GitRepo, rev: str | None) -> str:
    rev = rev or "main"
    commit = repo.resolve(rev)
    if commit is None:
        raise revision_not_found(ctx.repo_id, rev)
    return commit


def repo_summary(ctx: Ctx, repo_id: str, meta: dict, repo: GitRepo, rev: str | None, blobs: bool,
                 siblings_too: bool = True) -> dict:
    """The Hub's ModelInfo/DatasetInfo JSON for one repo (also a listing item, without siblings)."""
    commit = commit_for(ctx, repo, rev)
    files = [e for e in repo.ls_tree(commit, recursive=siblings_too) if e.type == "blob"]  # README: at the root
    lfs = lfs_info_for(repo, files)
    siblings = []
    for e in files if siblings_too else ():
        sib: dict = {"rfilename": e.path}
        if blobs:
            sib.update(size=e.size, blobId=e.oid)
            if e.oid in lfs:
                sha, size, pointer_size = lfs[e.oid]
                sib.update(size=size, lfs={"sha256": sha, "size": size, "pointerSize": pointer_size})
        siblings.append(sib)
    card = None
    readme = next((e for e in files if e.path == "README.md" and e.oid not in lfs), None)
    if readme is not None:
        try:
            card = parse_card_data(repo.read_blobs([readme.oid])[readme.oid].decode("utf-8", "replace"))
        except ValueError:
            card = None
    head = repo.log(commit, max_count=1)[0]
    info: dict = {
        **_ids(repo_id),
        "sha": commit, "lastModified": head.date, "createdAt": meta.get("createdAt"),
        "private": bool(meta.get("private")), "disabled": False, "gated": False,
        "downloads": 0, "likes": 0, "tags": [], "siblings": siblings, "spaces": [],
    }
    if card is not None:
        info["cardData"] = card
        tags = card.get("tags") or []
        info["tags"] = [str(t) for t in (tags if isinstance(tags, list) else [tags])]
        for key in ("library_name", "pipeline_tag"):
            if isinstance(card.get(key), str):
                info[key] = card[key]
        if isinstance(card.get("license"), str):
            info["tags"].append(f"license:{card['license']}")
    return info


def _ids(key: str) -> dict:
    """The id fields of a ModelInfo/DatasetInfo: the id the client knows (no ``datasets/``), its author."""
    repo_type, repo_id = split_key(key)
    ids = {"_id": repo_id, "id": repo_id, "author": repo_id.split("/")[0]}
    return {**ids, "modelId": repo_id} if repo_type == "model" else ids


def visible_summaries(ctx: Ctx, search: str = "", author: str = "", full: bool = False,
                      repo_type: str = "model") -> list[dict]:
    """Info of every repo of ``repo_type`` ``ctx.user`` may see, in id order (the API listing, the web index)."""
    found = []
    for repo_id in ctx.hub.store.list_ids(repo_type):
        shown = split_key(repo_id)[1]
        if author and shown.split("/")[0] != author or search and search.lower() not in shown.lower():
            continue
        meta = ctx.hub.visible_meta(ctx.user, repo_id)
        if meta is None:
            continue
        try:
            found.append(repo_summary(ctx, repo_id, meta, ctx.hub.store.open(repo_id), None, False, siblings_too=full))
        except ServerError:  # no main branch (every branch deleted): still listed, bare
            found.append({**_ids(repo_id), "tags": [],
                          "private": bool(meta.get("private")), "createdAt": meta.get("createdAt")})
    return found
