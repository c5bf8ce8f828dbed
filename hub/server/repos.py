"""Where repos live: their keys, create/move/delete, and metadata (one git repo each: ``storage.py``).

A repo is named inside the server by its *key*: ``ns/name`` for a model, ``datasets/ns/name`` for a
dataset. That is the Hub's own URL prefix for each kind (``/datasets/ns/name/resolve/...``,
``/datasets/ns/name.git/info/lfs``), so URLs built from a key are right for both kinds, and
everything keyed by repo (locks, Xet owners, signed URLs) keeps the two kinds apart for free.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from .datadir import ProcessLock
from .errors import ServerError, bad_request
from .storage import DEFAULT_GITATTRIBUTES, GIT_ENV, NAME_RE, GitRepo, atomic_write, identity, now_iso

logger = logging.getLogger(__name__)

REPO_TYPES = ("model", "dataset")
# Namespaces that are URL words on the Hub: a model namespace "datasets" would shadow dataset URLs.
RESERVED_NAMESPACES = frozenset({"api", "datasets", "spaces", "models"})


def repo_key(repo_type: str | None, repo_id: str) -> str:
    """The server's name for a repo of ``repo_type`` (``None``: model): ``ns/name`` or ``datasets/ns/name``."""
    repo_type = repo_type or "model"
    if repo_type not in REPO_TYPES:
        raise bad_request(f"Unsupported repo type {str(repo_type)[:40]!r}: this server hosts "
                          "'model' and 'dataset' repositories")
    return repo_id if repo_type == "model" else f"{repo_type}s/{repo_id}"


def split_key(key: str) -> tuple[str, str]:
    """``(repo_type, "ns/name")`` of a repo key."""
    if key.startswith("datasets/") and key.count("/") == 2:
        return "dataset", key[len("datasets/"):]
    return "model", key


class RepoStore:
    """Where repos live, plus repo-level create/delete and metadata."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "repos"
        self.tmp = self.data_dir / "tmp"
        self.trash = self.tmp / "trash"
        # Creating, moving and deleting repos: one at a time across threads and worker processes.
        self._create_lock = ProcessLock(self.data_dir / "locks" / "repos.lock")
        self.root.mkdir(parents=True, exist_ok=True)
        # self.tmp (half-parsed commits, half-deleted repos of a crash) is cleared once per server start,
        # before any worker runs (datadir.clear_temp), never here: a restarting worker would delete
        # another worker's commit in flight.

    @staticmethod
    def check_repo_id(key: str) -> tuple[str, str]:
        """Split a repo key's ``namespace/name`` and refuse anything that could escape the data folder."""
        _, repo_id = split_key(key)
        parts = repo_id.split("/")
        if len(parts) != 2 or not all(NAME_RE.match(p) and ".." not in p and "--" not in p for p in parts) \
                or parts[1].endswith(".git"):
            raise bad_request(f"Invalid repo id '{repo_id}': expected 'namespace/name' made of letters, "
                              "digits, '-', '_' and '.'")
        if parts[0].lower() in RESERVED_NAMESPACES:
            raise bad_request(f"Invalid repo id '{repo_id}': '{parts[0]}' is a reserved word, not a namespace")
        return parts[0], parts[1]

    def _folder(self, key: str) -> tuple[Path, str]:
        ns, name = self.check_repo_id(key)
        return self.root / f"{split_key(key)[0]}s" / ns, name

    def git_dir(self, key: str) -> Path:
        folder, name = self._folder(key)
        return folder / f"{name}.git"

    def meta_path(self, key: str) -> Path:
        folder, name = self._folder(key)
        return folder / f"{name}.json"

    def meta(self, repo_id: str) -> dict | None:
        """Metadata of an existing repo, or ``None`` when there is no such repo."""
        try:
            return json.loads(self.meta_path(repo_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def write_meta(self, repo_id: str, meta: dict) -> None:
        atomic_write(self.meta_path(repo_id), json.dumps(meta, indent=1, sort_keys=True).encode())

    def open(self, repo_id: str) -> GitRepo:
        return GitRepo(self.git_dir(repo_id))

    def create(self, repo_id: str, *, private: bool, user: str) -> None:
        """Create a bare repo with an initial ``.gitattributes`` commit on ``main``; 409 if it exists.

        The repo is built in a temp folder and renamed into place, and the metadata file (which
        is what marks a repo as existing) is written last, so a crash leaves no half repo visible.
        """
        git_dir, meta_path = self.git_dir(repo_id), self.meta_path(repo_id)
        with self._create_lock:
            if meta_path.exists():
                kind, shown = split_key(repo_id)
                raise ServerError(409, f"You already created this {kind} repo: {shown}")
            git_dir.parent.mkdir(parents=True, exist_ok=True)
            tmp = git_dir.parent / f".{git_dir.name}.{uuid.uuid4().hex}.tmp"
            try:
                subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(tmp)],
                               env={**os.environ, **GIT_ENV}, check=True, capture_output=True)
                repo = GitRepo(tmp)
                repo.git("config", "core.fsync", "committed")
                repo.git("config", "gc.auto", "0")
                blob = repo.write_blob(DEFAULT_GITATTRIBUTES.encode())
                tree = repo.git("mktree", input=f"100644 blob {blob}\t.gitattributes\n".encode()).decode().strip()
                commit = repo.git("commit-tree", tree, "-m", "initial commit", env=identity(user)).decode().strip()
                repo.git("update-ref", "refs/heads/main", commit, "0" * 40)
                if git_dir.exists():  # leftover of a crash between rename and metadata
                    shutil.rmtree(git_dir)
                os.replace(tmp, git_dir)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            self.write_meta(repo_id, {"private": bool(private), "createdAt": now_iso(), "createdBy": user})
        logger.info("created repo %s (private=%s)", repo_id, private)

    def list_ids(self, repo_type: str = "model") -> list[str]:
        """Keys of every existing repo of ``repo_type`` (the metadata file marks a repo as existing)."""
        base = self.root / f"{repo_type}s"
        if not base.is_dir():
            return []
        return sorted(repo_key(repo_type, f"{meta.parent.name}/{meta.stem}") for meta in base.glob("*/*.json"))

    def move(self, src: str, dst: str) -> None:
        """Rename a repo (git folder, then metadata); 409 when ``dst`` exists, 404 when ``src`` does not."""
        with self._create_lock:
            if self.meta_path(dst).exists():
                raise ServerError(409, f"Repository {dst} already exists")
            if not self.meta_path(src).exists():
                raise ServerError(404, f"Repository not found: {src}", "RepoNotFound")
            self.git_dir(dst).parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.git_dir(src), self.git_dir(dst))
            os.replace(self.meta_path(src), self.meta_path(dst))
        logger.info("moved repo %s to %s", src, dst)

    def delete(self, repo_id: str) -> None:
        """Delete a repo: metadata first (it disappears at once), then the git folder via trash."""
        with self._create_lock:
            meta_path = self.meta_path(repo_id)
            if not meta_path.exists():
                raise ServerError(404, f"Repository not found: {repo_id}", "RepoNotFound")
            meta_path.unlink()
            self.trash.mkdir(parents=True, exist_ok=True)
            target = self.trash / uuid.uuid4().hex
            os.replace(self.git_dir(repo_id), target)
        shutil.rmtree(target, ignore_errors=True)
        logger.info("deleted repo %s", repo_id)
