"""``hub pull`` and :func:`snapshot`: download a pinned revision and prove it is what was published.

A branch or tag is first resolved to its commit sha, and only that commit is downloaded, so the
files cannot change halfway through (a push landing mid-download) and the caller can record the
exact version it got. Before anything is downloaded, the listing is checked against the type
allow-list (no pickles reach the disk); after, every file is checked against the published
``hub_manifest.json`` (sha256 and size). A snapshot without a manifest, or with any mismatch,
is refused and the bad bytes are evicted from the cache so a retry downloads them again.

:func:`snapshot` serves ``hub.runtime.load`` from the Hugging Face cache; :func:`pull_dir` writes
a plain folder for ``hub pull --out`` atomically (a temp folder renamed into place). A deployed
device must keep working when the hub is away: with ``HF_HUB_OFFLINE=1``, or when the endpoint
does not answer, :func:`snapshot` uses a snapshot already in the cache (by sha, or by a branch/tag
it resolved online before), verified like a fresh one.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import OutputDirError
from ..fsutil import atomic_dir, atomic_write_text, check_output_dir
from .client import Target, is_retryable, resolve_target, with_retries
from .files import MANIFEST, SERVER_FILES, IntegrityError, PublishError, check_files, parse_manifest, verify_tree

logger = logging.getLogger(__name__)

SHA_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class PullResult:
    """Where a pull put the files, and exactly which commit they are."""

    path: Path
    repo_id: str
    revision: str
    commit_sha: str
    files: int
    endpoint: str


def split_ref(ref: str) -> tuple[str, str | None]:
    """``"ns/name@rev"`` -> ``("ns/name", "rev")``; no ``@`` -> revision ``None``."""
    repo_id, sep, rev = ref.partition("@")
    return repo_id, (rev or None) if sep else None


def _resolve(api: Any, target: Target, repo_id: str, revision: str) -> tuple[str, list[str]]:
    """The commit sha a branch/tag/sha names, and its file list (checked before downloading)."""
    info = with_retries(lambda: api.model_info(repo_id, revision=revision, files_metadata=False),
                        target=target, what=f"resolve {repo_id}@{revision}")
    names = [s.rfilename for s in info.siblings or []]
    if MANIFEST not in names:
        raise IntegrityError(f"{repo_id}@{revision} ({info.sha[:12]}): no {MANIFEST}, so its files cannot be "
                             "verified; refusing it (publish it with `hub push`)")
    check_files(None, [n for n in names if n not in (MANIFEST, *SERVER_FILES)],
                where=f"{repo_id}@{revision}")
    return info.sha, names


def _verify(root: Path, where: str) -> int:
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise IntegrityError(f"{where}: no {MANIFEST} in the download; refusing an unverifiable snapshot")
    return verify_tree(root, parse_manifest(manifest_path.read_bytes(), where=where), where=where)


def _evict(folder: Path) -> None:
    """Drop a refused snapshot and the cache blobs it links to, so a retry downloads afresh."""
    for link in folder.rglob("*"):
        if link.is_symlink():
            blob = link.resolve()
            if "blobs" in blob.parts:
                blob.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)


def snapshot(repo_id: str, revision: str | None = None, *, endpoint: str | None = None, token: str | None = None,
             cache_dir: Path | str | None = None) -> Path:
    """The verified local folder of ``repo_id`` at ``revision`` (branch, tag or sha; default main).

    ``repo_id`` may carry the revision as ``"ns/name@rev"``. Files come from the Hugging Face
    cache (``cache_dir`` or ``HF_HUB_CACHE``) and are verified on every call.
    """
    return _snapshot(repo_id, revision, endpoint=endpoint, token=token, cache_dir=cache_dir).path


def _cache_repo(repo_id: str, cache_dir: Path | str | None) -> Path:
    from huggingface_hub import constants

    return Path(cache_dir or constants.HF_HUB_CACHE) / ("models--" + repo_id.replace("/", "--"))


def _cached(repo_id: str, revision: str, cache_dir: Path | str | None) -> tuple[Path, str] | None:
    """A snapshot already in the cache for ``revision`` (a sha, or a ref seen online before)."""
    repo = _cache_repo(repo_id, cache_dir)
    sha = revision
    if not SHA_RE.match(revision):
        try:
            sha = (repo / "refs" / revision).read_text().strip()
        except OSError:
            return None
    folder = repo / "snapshots" / sha
    return (folder, sha) if SHA_RE.match(sha) and folder.is_dir() else None


def _finish(folder: Path, repo_id: str, revision: str, sha: str, endpoint: str, evict: bool) -> PullResult:
    where = f"{repo_id}@{revision} ({sha[:12]})"
    try:
        count = _verify(folder, where)
    except IntegrityError:
        if evict:
            _evict(folder)
        raise
    logger.info("verified %d files of %s", count, where)
    return PullResult(folder, repo_id, revision, sha, count, endpoint)


def _snapshot(repo_id: str, revision: str | None, *, endpoint: str | None, token: str | None,
              cache_dir: Path | str | None, local_dir: Path | None = None) -> PullResult:
    from huggingface_hub import constants, snapshot_download

    if "@" in repo_id:
        repo_id, ref_rev = split_ref(repo_id)
        revision = revision or ref_rev
    revision = revision or "main"
    if constants.HF_HUB_OFFLINE and local_dir is None:  # offline: the cache is all there is
        found = _cached(repo_id, revision, cache_dir)
        if found is None:
            raise PublishError(f"{repo_id}@{revision}: not in the cache and HF_HUB_OFFLINE=1; "
                               "pull it once while online")
        return _finish(found[0], repo_id, revision, found[1], "(offline cache)", evict=False)
    target = resolve_target(endpoint, token)
    api = target.api()
    try:
        sha, _ = _resolve(api, target, repo_id, revision)
    except PublishError as exc:
        found = _cached(repo_id, revision, cache_dir) if local_dir is None else None
        if found is None or not is_retryable(exc.__cause__ or exc):
            raise
        logger.warning("%s is unreachable; using the cached %s@%s (%s)", target.endpoint, repo_id, revision,
                       found[1][:12])
        return _finish(found[0], repo_id, revision, found[1], target.endpoint, evict=False)
    folder = Path(with_retries(
        lambda: snapshot_download(repo_id, revision=sha, cache_dir=cache_dir, local_dir=local_dir,
                                  endpoint=target.endpoint, token=target.token or False, library_name="zoohub"),
        target=target, what=f"download {repo_id}@{revision} ({sha[:12]})"))
    result = _finish(folder, repo_id, revision, sha, target.endpoint, evict=local_dir is None)
    if local_dir is None and revision != sha:  # remember the ref, so the snapshot is found offline
        atomic_write_text(_cache_repo(repo_id, cache_dir) / "refs" / revision, sha)
    return result


def pull_dir(repo_id: str, out: Path | str, revision: str | None = None, *, endpoint: str | None = None,
             token: str | None = None) -> PullResult:
    """Download and verify ``repo_id`` at ``revision`` into the plain folder ``out`` (atomically).

    An existing ``out`` is replaced only if it is empty or a previous pull (it holds a manifest),
    so a typo in ``--out`` cannot wipe unrelated files.
    """
    out = Path(out)
    try:
        check_output_dir(out, "pull", markers=(MANIFEST,))
    except OutputDirError as exc:
        raise PublishError(str(exc)) from None
    with atomic_dir(out) as tmp:
        result = _snapshot(repo_id, revision, endpoint=endpoint, token=token, cache_dir=None, local_dir=tmp)
        shutil.rmtree(tmp / ".cache", ignore_errors=True)  # the client's download bookkeeping
        os.chmod(tmp, 0o755)
    result.path = out
    return result
