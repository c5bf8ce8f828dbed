"""Commits of many files: complete, fsck-clean, and durable before the ref that publishes them moves.

The server writes a commit's objects without git's per-object fsync and makes them all durable at
once (``GitRepo.batch_objects`` -> ``sync_objects``, one ``syncfs``) before ``update-ref``. These
tests pin that order, that a failing sync publishes nothing, and that a big commit lands whole.
"""

from __future__ import annotations

import errno
import subprocess

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete
from huggingface_hub.errors import HfHubHTTPError

from hub.server import storage
from hub.server.repos import RepoStore
from hub.server.storage import GitRepo

needs_syncfs = pytest.mark.skipif(storage._SYNCFS is None, reason="no syncfs(2) here: git fsyncs each object")


def fsck(git_dir) -> None:
    out = subprocess.run(["git", f"--git-dir={git_dir}", "fsck", "--full", "--strict"], capture_output=True, text=True)
    assert out.returncode == 0 and "error" not in out.stderr.lower(), out.stdout + out.stderr


def test_many_files_land_complete_and_fsck_clean(alice, repo_id, git_dir, tmp_path):
    small = {f"d{i % 7}/sub{i % 3}/f{i}.txt": f"file {i}\n".encode() for i in range(1000)}
    big = {f"w/{i}.bin": f"weights {i}\n".encode() * 50 for i in range(20)}  # LFS by .gitattributes
    alice.create_commit(repo_id, commit_message="many", operations=[
        CommitOperationAdd(path, data) for path, data in {**small, **big}.items()])
    files = set(alice.list_repo_files(repo_id))
    assert files == {".gitattributes", *small, *big}
    fsck(git_dir(repo_id))

    # replace, delete one file and a whole folder in the next commit, then check every byte
    small = {p: d for p, d in small.items() if not p.startswith("d3/")}
    del small["d0/sub0/f0.txt"]
    small["d1/sub1/f1.txt"] = b"changed\n"
    alice.create_commit(repo_id, commit_message="edit", operations=[
        CommitOperationDelete("d3/"), CommitOperationDelete("d0/sub0/f0.txt"),
        CommitOperationAdd("d1/sub1/f1.txt", b"changed\n")])
    assert set(alice.list_repo_files(repo_id)) == {".gitattributes", *small, *big}
    repo = GitRepo(git_dir(repo_id))
    entries = [e for e in repo.ls_tree("main", recursive=True) if e.type == "blob"]
    blobs = repo.read_blobs([e.oid for e in entries])
    stored = {e.path: blobs[e.oid] for e in entries if e.path in small}
    assert stored == small
    for path, data in big.items():
        assert open(alice.hf_hub_download(repo_id, path, cache_dir=tmp_path / "dl"), "rb").read() == data
    fsck(git_dir(repo_id))


def test_file_and_folder_of_one_name_refused(alice, repo_id):
    alice.upload_file(path_or_fileobj=b"x", path_in_repo="a/b.txt", repo_id=repo_id)
    for path, why in (("a", "a folder with this name exists"), ("a/b.txt/c", "a parent folder is a file")):
        with pytest.raises(HfHubHTTPError) as exc:
            alice.upload_file(path_or_fileobj=b"y", path_in_repo=path, repo_id=repo_id)
        assert exc.value.response.status_code == 400 and why in exc.value.response.headers["x-error-message"]
    # deleting the folder frees its name within the same commit
    alice.create_commit(repo_id, commit_message="swap", operations=[
        CommitOperationDelete("a/"), CommitOperationAdd("a", b"now a file")])
    assert set(alice.list_repo_files(repo_id)) == {".gitattributes", "a"}


@needs_syncfs
def test_objects_made_durable_once_before_the_ref_moves(alice, repo_id, monkeypatch):
    """Every object-writing git command runs without loose-object fsync, then one sync, then update-ref."""
    events: list[tuple[str, tuple[str, ...]]] = []
    real_git, real_try, real_sync = GitRepo.git, GitRepo._try, GitRepo.sync_objects

    def git(self, *args, **kwargs):
        events.append((args[0], self._fsync_opts))
        return real_git(self, *args, **kwargs)

    def try_(self, *args):
        events.append((args[0], storage.FSYNC_ALL))
        return real_try(self, *args)

    def sync(self):
        events.append(("SYNC", ()))
        return real_sync(self)

    monkeypatch.setattr(GitRepo, "object_sync", "syncfs")
    monkeypatch.setattr(GitRepo, "git", git)
    monkeypatch.setattr(GitRepo, "_try", try_)
    monkeypatch.setattr(GitRepo, "sync_objects", sync)
    ops = [CommitOperationAdd(f"t/{i}.txt", f"{i}\n".encode()) for i in range(50)]
    ops += [CommitOperationAdd(f"w/{i}.bin", f"w{i}\n".encode() * 40) for i in range(10)]  # LFS pointers
    events.clear()  # (nothing of the client's uploads runs git)
    alice.create_commit(repo_id, commit_message="order", operations=ops)

    names = [name for name, _ in events]
    assert names.count("SYNC") == 1 and names.count("update-ref") == 1
    sync_at, ref_at = names.index("SYNC"), names.index("update-ref")
    assert sync_at < ref_at
    writers = [(i, opts) for i, (name, opts) in enumerate(events)
               if name in ("hash-object", "mktree", "write-tree", "commit-tree")]
    assert [events[i][0] for i, _ in writers].count("hash-object") == 1  # 50 files + 10 pointers, one process
    assert all(i < sync_at and opts == storage.FSYNC_BUT_LOOSE_OBJECTS for i, opts in writers), events
    assert events[ref_at][1] == storage.FSYNC_ALL  # the ref update itself stays fsynced


@needs_syncfs
def test_failed_sync_publishes_nothing(alice, repo_id, monkeypatch):
    before = alice.model_info(repo_id).sha

    def broken(self):
        raise OSError(errno.EIO, "syncfs: Input/output error")

    monkeypatch.setattr(GitRepo, "object_sync", "syncfs")
    monkeypatch.setattr(GitRepo, "sync_objects", broken)
    with pytest.raises(HfHubHTTPError) as exc:
        alice.create_commit(repo_id, commit_message="lost", operations=[
            CommitOperationAdd(f"f{i}.txt", b"data") for i in range(5)])
    assert exc.value.response.status_code >= 500
    assert alice.model_info(repo_id).sha == before
    monkeypatch.undo()
    alice.create_commit(repo_id, commit_message="kept", operations=[CommitOperationAdd("f.txt", b"data")])
    assert alice.model_info(repo_id).sha != before


def test_ref_cannot_move_inside_an_object_batch(tmp_path):
    store = RepoStore(tmp_path)
    store.create("a/b", private=False, user="a")
    repo = store.open("a/b")
    head = repo.branch_head("main")
    with pytest.raises(RuntimeError, match="not durable"):
        with repo.batch_objects():
            blob = repo.write_blob(b"x")
            tree = repo.git("mktree", input=f"100644 blob {blob}\tx\n".encode()).decode().strip()
            commit = repo.git("commit-tree", tree, "-p", head, "-m", "m", env=storage.identity("a")).decode().strip()
            repo.update_ref("refs/heads/main", commit, head)
    assert repo.branch_head("main") == head
    assert repo.update_ref("refs/heads/main", commit, head)  # after the batch: durable, and it moves
