"""``hub push``: publish an export folder to a Hugging Face-compatible hub in one commit.

Why one commit (``HfApi.create_commit``, not ``upload_folder``): with ``hf_xet`` installed,
``upload_folder`` splits large folders into several commits, and a repo caught between them has
an ONNX model without its config. One commit means a revision is either the old export or the
new one. The commit names the branch head it was computed against (``parent_commit``), so a
concurrent push is refused instead of silently merged.

Why compare before committing: the remote ``hub_manifest.json`` of the branch head says exactly
what is published; if it equals ours (and no stray files exist), nothing is committed and the
existing commit is reported (and tagged, when asked).

Retries: the client already retries single requests; on top, the whole commit step is retried
with backoff on 5xx answers and dropped connections. After each failure the branch is
re-checked: if the head moved to a commit carrying our manifest, the server applied the commit
and only the answer was lost, so it is not applied twice.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .card import render
from .client import Target, resolve_target, translate, with_retries
from .files import (GENERATED, MANIFEST, README, SERVER_FILES, IntegrityError, PublishError, build_manifest,
                    collect_export, folder_kind, manifest_bytes, parse_manifest)

logger = logging.getLogger(__name__)

SHA_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class PushResult:
    """What a push did. ``created_commit`` is False when the hub already had this export."""

    url: str
    commit_sha: str
    created_commit: bool
    files: list[str]
    repo_id: str = ""
    revision: str = "main"
    tag: str | None = None
    endpoint: str = ""
    embedded: bool = False
    deleted: list[str] = field(default_factory=list)


def _refs(api: Any, repo_id: str) -> tuple[dict[str, str], dict[str, str]]:
    refs = api.list_repo_refs(repo_id)
    return ({b.name: b.target_commit for b in refs.branches}, {t.name: t.target_commit for t in refs.tags})


def remote_manifest(api: Any, repo_id: str, commit: str) -> dict[str, Any] | None:
    """The manifest published at ``commit``; ``None`` when the commit has none."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    with tempfile.TemporaryDirectory(prefix="hub-manifest-") as tmp:
        try:
            path = hf_hub_download(repo_id, MANIFEST, revision=commit, cache_dir=tmp, endpoint=api.endpoint,
                                   token=api.token)
        except EntryNotFoundError:
            return None
        data = Path(path).read_bytes()
    try:
        return parse_manifest(data, where=f"{repo_id}@{commit[:12]}")
    except IntegrityError:
        return None  # not ours or damaged: it will be replaced


def _remote_files(api: Any, repo_id: str, commit: str) -> set[str]:
    return {f for f in api.list_repo_files(repo_id, revision=commit) if f not in SERVER_FILES}


def _same(api: Any, repo_id: str, commit: str | None, manifest: dict[str, Any]) -> bool:
    if commit is None:
        return False
    published = remote_manifest(api, repo_id, commit)
    return (published is not None and published["files"] == manifest["files"]
            and _remote_files(api, repo_id, commit) == set(manifest["files"]) | {MANIFEST})


def _prepare(export_dir: Path, repo_id: str, revision: str) -> tuple[dict[str, Path], dict[str, bytes], dict]:
    files = collect_export(export_dir)
    if folder_kind(files) == "pretrain":  # backbone weights from `hub pretrain`: their own card
        from ..pretrain.card import render as render_pretrain

        readme = render_pretrain(export_dir, repo_id, revision).encode("utf-8")
    else:
        readme = render(export_dir, sorted([*files, *GENERATED]), repo_id, revision).encode("utf-8")
    manifest = build_manifest(files, {README: readme})
    return files, {README: readme, MANIFEST: manifest_bytes(manifest)}, manifest


def _ensure_repo(api: Any, target: Target, repo_id: str, revision: str, private: bool) -> str:
    """Create the repo and branch when missing; returns the branch head (the commit's parent)."""
    with_retries(lambda: api.create_repo(repo_id, private=private, exist_ok=True),
                 target=target, what=f"create {repo_id}")
    branches, tags = with_retries(lambda: _refs(api, repo_id), target=target, what=f"read refs of {repo_id}")
    if revision not in branches:
        if revision in tags or SHA_RE.match(revision):
            raise PublishError(f"{repo_id}: --revision {revision!r} is a tag or commit; push to a branch "
                               "and use --tag to name the commit")
        with_retries(lambda: api.create_branch(repo_id, branch=revision, exist_ok=True),
                     target=target, what=f"create branch {revision} of {repo_id}")
        branches, _ = _refs(api, repo_id)
    return branches[revision]


def _tag(api: Any, target: Target, repo_id: str, tag: str, commit: str) -> None:
    """Tag ``commit``; an existing tag must already point there (tags never move)."""
    _, tags = _refs(api, repo_id)
    if tag in tags:
        if tags[tag] != commit:
            raise PublishError(f"{repo_id}: tag {tag!r} already names commit {tags[tag][:12]}, not "
                               f"{commit[:12]}; tags are immutable, choose a new tag")
        return

    def done() -> str | None:
        return commit if _refs(api, repo_id)[1].get(tag) == commit else None

    with_retries(lambda: api.create_tag(repo_id, tag=tag, revision=commit), target=target,
                 what=f"tag {repo_id}@{commit[:12]} as {tag}", recovered=done)


def _url(endpoint: str, repo_id: str, revision: str, sha: str) -> str:
    """The repo's web page: on huggingface.co at the pushed revision; on ``hub serve`` (and servers
    laid out like it) pinned to the pushed commit (``?rev=``)."""
    from urllib.parse import urlsplit

    host = urlsplit(endpoint).hostname or ""
    if host == "huggingface.co" or host.endswith(".huggingface.co"):
        return f"{endpoint}/{repo_id}" + ("" if revision == "main" else f"/tree/{revision}")
    return f"{endpoint}/{repo_id}?rev={sha}"


def push(export_dir: Path | str, repo_id: str, *, revision: str = "main", tag: str | None = None,
         private: bool = False, endpoint: str | None = None, token: str | None = None) -> PushResult:
    """Publish ``export_dir`` to ``repo_id`` on ``revision`` (a branch) in one commit.

    The endpoint is ``endpoint``, else ``HF_ENDPOINT``; with neither and no token configured, the
    embedded local ``hub serve`` is used (started on demand). Pushing identical content again
    makes no commit (``created_commit=False``) but still applies ``tag``.
    """
    export_dir = Path(export_dir)
    target = resolve_target(endpoint, token)
    api = target.api()
    if "/" not in repo_id:
        try:
            repo_id = f"{api.whoami()['name']}/{repo_id}"
        except Exception as exc:
            raise translate(exc, target, f"find the namespace for {repo_id}") from exc
    files, generated, manifest = _prepare(export_dir, repo_id, revision)
    base = _ensure_repo(api, target, repo_id, revision, private)
    names = sorted([*files, *generated])
    where = f"{repo_id}@{revision}"
    if _same(api, repo_id, base, manifest):
        sha, created, deleted = base, False, []
        logger.info("%s already holds this export (commit %s); no new commit", where, base[:12])
    else:
        stale = sorted(_remote_files(api, repo_id, base) - set(names)) if base else []
        sha = _commit(api, target, repo_id, revision, base, files, generated, manifest, stale)
        created, deleted = True, stale
    if tag:
        _tag(api, target, repo_id, tag, sha)
    url = _url(target.endpoint, repo_id, revision, sha)
    return PushResult(url=url, commit_sha=sha, created_commit=created, files=names, repo_id=repo_id,
                      revision=revision, tag=tag, endpoint=target.endpoint, embedded=target.embedded,
                      deleted=deleted)


def _commit(api: Any, target: Target, repo_id: str, revision: str, base: str, files: dict[str, Path],
            generated: dict[str, bytes], manifest: dict[str, Any], stale: list[str]) -> str:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    def attempt() -> str:
        # Fresh operations each attempt: the client caches upload state on them.
        ops: list[Any] = [CommitOperationDelete(p) for p in stale]
        ops += [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(path)) for rel, path in sorted(files.items())]
        ops += [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=data) for rel, data in generated.items()]
        info = api.create_commit(repo_id, ops, commit_message=f"Publish {repo_id.split('/')[-1]} with zoohub",
                                 commit_description=f"{len(files) + len(generated)} files; see {MANIFEST}",
                                 revision=revision, parent_commit=base)
        return info.oid

    def landed() -> str | None:
        head = _refs(api, repo_id)[0].get(revision)
        if head is None or head == base:
            return None
        if _same(api, repo_id, head, manifest):
            return head
        raise PublishError(f"{repo_id}@{revision} moved to {head[:12]} while pushing (another push?); "
                           "nothing of this push was committed; run it again")

    sha = with_retries(attempt, target=target, what=f"commit to {repo_id}@{revision}", recovered=landed)
    logger.info("committed %d files to %s@%s: %s", len(files) + len(generated), repo_id, revision, sha[:12])
    return sha
