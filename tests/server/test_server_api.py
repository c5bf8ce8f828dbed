"""The stock huggingface_hub client against `hub serve`: upload, browse, download, refs, auth."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationCopy,
    CommitOperationDelete,
    HfApi,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

README = "---\nlicense: apache-2.0\nlibrary_name: onnx\ntags:\n- image-classification\n---\n# Test model\n"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def git(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "onnx").mkdir(parents=True)
    (root / "README.md").write_text(README)
    (root / "config.json").write_text('{"num_classes": 10}\n')
    (root / "onnx" / "model.onnx").write_bytes(b"\x08\x07" + os.urandom(2000))  # LFS by extension
    (root / "big.data").write_bytes(os.urandom(11 * 1000 * 1000))  # LFS by size (> 10 MB)
    return root


def test_upload_folder_then_download(server, alice, anon, repo_id, folder, cache_dir, git_dir):
    info = alice.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="Add model")
    files = set(anon.list_repo_files(repo_id))
    assert files == {".gitattributes", "README.md", "config.json", "onnx/model.onnx", "big.data"}

    model = anon.model_info(repo_id, files_metadata=True)
    assert model.sha == info.oid and model.private is False
    by_name = {s.rfilename: s for s in model.siblings}
    assert by_name["big.data"].lfs.sha256 == sha256(folder / "big.data")
    assert by_name["big.data"].size == 11 * 1000 * 1000
    assert by_name["onnx/model.onnx"].lfs is not None and by_name["config.json"].lfs is None
    assert model.card_data.license == "apache-2.0" and "image-classification" in model.tags

    commits = anon.list_repo_commits(repo_id)
    assert [c.title for c in commits] == ["Add model", "initial commit"]
    assert commits[0].authors == ["alice"] and commits[0].commit_id == info.oid

    big = hf_hub_download(repo_id, "big.data", endpoint=server.url, cache_dir=cache_dir, token=False)
    assert sha256(big) == sha256(folder / "big.data")
    snap = Path(snapshot_download(repo_id, endpoint=server.url, cache_dir=cache_dir / "snap", token=False))
    for name in ("README.md", "config.json", "onnx/model.onnx", "big.data"):
        assert sha256(snap / name) == sha256(folder / name), name

    # Download headers the client relies on; Range requests work.
    url = f"{server.url}/{repo_id}/resolve/main/big.data"
    head = httpx.head(url)
    assert head.headers["x-linked-etag"] == f'"{sha256(folder / "big.data")}"'
    assert head.headers["x-linked-size"] == head.headers["content-length"] == "11000000"
    assert head.headers["x-repo-commit"] == info.oid
    part = httpx.get(url, headers={"range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == (folder / "big.data").read_bytes()[10:20]
    head = httpx.head(f"{server.url}/{repo_id}/resolve/{info.oid}/config.json")
    assert head.headers["etag"] == f'"{git(git_dir(repo_id), "rev-parse", "main:config.json").strip()}"'

    # The stored repo is a real git repository with git-lfs pointers.
    gd = git_dir(repo_id)
    assert git(gd, "log", "--format=%s", "main").split("\n")[:2] == ["Add model", "initial commit"]
    assert "onnx/model.onnx" in git(gd, "ls-tree", "-r", "--name-only", "main")
    pointer = git(gd, "cat-file", "-p", "main:big.data")
    oid = sha256(folder / "big.data")
    assert pointer == f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 11000000\n"
    assert (server.data_dir / "lfs" / "objects" / oid[:2] / oid[2:4] / oid).stat().st_size == 11_000_000
    assert git(gd, "cat-file", "-p", "main:config.json") == '{"num_classes": 10}\n'
    git(gd, "fsck", "--strict")


def test_history_tags_and_branches(server, alice, anon, repo_id, cache_dir, git_dir):
    first = alice.upload_file(path_or_fileobj=b"v1\n", path_in_repo="notes/a.txt", repo_id=repo_id).oid
    second = alice.upload_file(path_or_fileobj=b"v2\n", path_in_repo="notes/a.txt", repo_id=repo_id).oid
    assert first != second

    def read(revision: str, name: str = "notes/a.txt") -> bytes:
        return Path(hf_hub_download(repo_id, name, revision=revision, endpoint=server.url,
                                    cache_dir=cache_dir, token=False)).read_bytes()

    assert read("main") == b"v2\n" and read(first) == b"v1\n"

    alice.create_tag(repo_id, tag="v1.0", revision=first, tag_message="first release")
    alice.create_tag(repo_id, tag="light", revision=second)
    alice.create_branch(repo_id, branch="feature/x", revision=first)
    with pytest.raises(HfHubHTTPError) as exc:
        alice.create_branch(repo_id, branch="feature/x")
    assert exc.value.response.status_code == 409
    alice.create_branch(repo_id, branch="feature/x", exist_ok=True)
    assert read("v1.0") == b"v1\n" and read("light") == b"v2\n" and read("feature/x") == b"v1\n"

    on_branch = alice.upload_file(path_or_fileobj=b"branch\n", path_in_repo="notes/b.txt", repo_id=repo_id,
                                  revision="feature/x").oid
    assert read("feature/x", "notes/b.txt") == b"branch\n"
    assert not anon.file_exists(repo_id, "notes/b.txt")
    refs = anon.list_repo_refs(repo_id)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": second, "feature/x": on_branch}
    assert {t.name: t.target_commit for t in refs.tags} == {"v1.0": first, "light": second}
    assert git(git_dir(repo_id), "cat-file", "-t", "refs/tags/v1.0") == "tag\n"  # annotated

    tree = list(anon.list_repo_tree(repo_id, revision="feature/x", recursive=True))
    assert {t.path for t in tree} == {".gitattributes", "notes", "notes/a.txt", "notes/b.txt"}
    top = list(anon.list_repo_tree(repo_id, path_in_repo="notes", expand=True))
    assert [t.path for t in top] == ["notes/a.txt"] and top[0].last_commit.oid == second
    paths = anon.get_paths_info(repo_id, ["notes/a.txt", "notes", "missing"])
    assert sorted(p.path for p in paths) == ["notes", "notes/a.txt"]

    alice.create_commit(repo_id, commit_message="copy and delete", operations=[
        CommitOperationCopy(src_path_in_repo="notes/a.txt", path_in_repo="c.txt"),
        CommitOperationDelete(path_in_repo="notes/"),
    ])
    assert set(anon.list_repo_files(repo_id)) == {".gitattributes", "c.txt"}
    with pytest.raises(EntryNotFoundError):
        read("main")
    with pytest.raises(RevisionNotFoundError):
        read("no-such-branch", "c.txt")

    alice.delete_tag(repo_id, tag="v1.0")
    alice.delete_branch(repo_id, branch="feature/x")
    refs = anon.list_repo_refs(repo_id)
    assert [b.name for b in refs.branches] == ["main"] and [t.name for t in refs.tags] == ["light"]


def test_unchanged_upload_is_skipped(alice, repo_id):
    first = alice.upload_file(path_or_fileobj=b"same\n", path_in_repo="x.txt", repo_id=repo_id).oid
    again = alice.upload_file(path_or_fileobj=b"same\n", path_in_repo="x.txt", repo_id=repo_id).oid
    assert again == first  # the preupload oid told the client nothing changed
    assert len(alice.list_repo_commits(repo_id)) == 2


def test_private_repo_and_permissions(server, alice, bob, anon, cache_dir):
    rid = f"alice/private-{uuid.uuid4().hex[:8]}"
    alice.create_repo(rid, private=True)
    alice.upload_file(path_or_fileobj=b"secret\n", path_in_repo="s.txt", repo_id=rid)
    assert alice.model_info(rid).private is True
    for client in (anon, bob):
        with pytest.raises(RepositoryNotFoundError):
            client.model_info(rid)
        with pytest.raises(RepositoryNotFoundError):
            hf_hub_download(rid, "s.txt", endpoint=server.url, cache_dir=cache_dir,
                            token=client.token)
    assert Path(hf_hub_download(rid, "s.txt", endpoint=server.url, cache_dir=cache_dir,
                                token="alice-token")).read_bytes() == b"secret\n"

    public = f"alice/public-{uuid.uuid4().hex[:8]}"
    alice.create_repo(public)
    with pytest.raises(HfHubHTTPError) as exc:
        anon.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=public)
    assert exc.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as exc:
        anon.create_repo("alice/anon-made")
    assert exc.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as exc:
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=public)
    assert exc.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as exc:
        bob.create_repo("alice/bob-made")
    assert exc.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as exc:
        HfApi(endpoint=server.url, token="wrong").model_info(public)
    assert exc.value.response.status_code == 401
    assert alice.whoami()["name"] == "alice" and alice.whoami()["orgs"][0]["name"] == "team"
    alice.create_repo(f"team/shared-{uuid.uuid4().hex[:8]}")  # an org alice belongs to

    with pytest.raises(HfHubHTTPError) as exc:
        alice.create_repo(public)
    assert exc.value.response.status_code == 409
    assert alice.create_repo(public, exist_ok=True).repo_id == public
    with pytest.raises(HfHubHTTPError):
        bob.delete_repo(public)
    alice.delete_repo(public)
    alice.delete_repo(rid)
    with pytest.raises(RepositoryNotFoundError):
        alice.model_info(public)
    alice.delete_repo(public, missing_ok=True)
    assert not anon.repo_exists(public)


def test_create_commit_with_bytes_and_lfs_dedup(server, alice, repo_id):
    payload = os.urandom(100_000)
    ops = [CommitOperationAdd(path_in_repo="w1.safetensors", path_or_fileobj=payload)]
    alice.create_commit(repo_id, operations=ops, commit_message="one")
    ops = [CommitOperationAdd(path_in_repo="w2.safetensors", path_or_fileobj=payload)]  # same object again
    alice.create_commit(repo_id, operations=ops, commit_message="two")
    siblings = {s.rfilename: s for s in alice.model_info(repo_id, files_metadata=True).siblings}
    assert siblings["w1.safetensors"].lfs.sha256 == siblings["w2.safetensors"].lfs.sha256
    text = os.urandom(2_500_000).hex().encode()  # 5 MB of text: a regular (non-LFS) file in one NDJSON line
    alice.upload_file(path_or_fileobj=text, path_in_repo="big.txt", repo_id=repo_id)
    siblings = {s.rfilename: s for s in alice.model_info(repo_id, files_metadata=True).siblings}
    assert siblings["big.txt"].lfs is None and siblings["big.txt"].size == len(text)
    assert httpx.get(f"{server.url}/{repo_id}/resolve/main/big.txt").content == text


def test_invalid_readme_yaml_refused(alice, repo_id):
    with pytest.raises(ValueError, match="Invalid metadata"):
        alice.upload_file(path_or_fileobj=b"---\nlicense: [unclosed\n---\n", path_in_repo="README.md",
                          repo_id=repo_id)


def test_serve_command_imports_nothing_heavy():
    code = ("import sys, hub.cli.serve_cmd as s; "
            "assert 'starlette' not in sys.modules and 'uvicorn' not in sys.modules; "
            "assert s.serve.name == 'serve'")
    subprocess.run([os.sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_org_namespace_is_for_its_members_only(server, alice, bob, anon):
    """A non-member can neither write to ``team/*`` nor see a private team repo; a member can both."""
    private = f"team/private-{uuid.uuid4().hex[:8]}"
    alice.create_repo(private, private=True)
    alice.upload_file(path_or_fileobj=b"secret", path_in_repo="notes.txt", repo_id=private)
    assert alice.model_info(private).id == private  # a member reads the private repo
    for attempt in (lambda: bob.create_repo(f"team/bob-{uuid.uuid4().hex[:8]}"),
                    lambda: bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=private)):
        with pytest.raises(HfHubHTTPError) as exc:
            attempt()
        assert exc.value.response.status_code in (403, 404)  # refused: not written either way
    for outsider in (bob, anon):
        with pytest.raises(RepositoryNotFoundError):
            outsider.model_info(private)  # private repos answer 404 to non-members
    assert alice.list_repo_files(private) == [".gitattributes", "notes.txt"]  # bob's upload did not land
    public = f"team/public-{uuid.uuid4().hex[:8]}"
    alice.create_repo(public)
    with pytest.raises(HfHubHTTPError) as exc:
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=public)
    assert exc.value.response.status_code == 403


def test_token_check_compares_every_entry_in_constant_time(monkeypatch):
    """Every configured token is compared with ``hmac.compare_digest`` on every request.

    Timing cannot be asserted portably, so the property is pinned by what makes it true: no
    ``==`` on secrets, and no early exit that would tell by its speed which entry matched.
    """
    import hmac

    from hub.server import auth

    calls, compare = [], hmac.compare_digest

    def recording(a, b):
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", recording)
    table = auth.Auth({"first-token": "first", auth.hash_token("second-token"): "second", "third-token": "third"})
    for header, user in (("Bearer first-token", "first"), ("Bearer second-token", "second"),
                         ("Bearer third-token", "third")):
        calls.clear()
        assert table.user_for(header) == user
        assert len(calls) == 3 and all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in calls)
    calls.clear()
    with pytest.raises(auth.ServerError):
        table.user_for("Bearer nobody")
    assert len(calls) == 3
