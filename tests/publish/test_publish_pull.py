"""`hub pull` / `snapshot`: pinned revisions, sha256 verification, refusal of bad snapshots."""

from __future__ import annotations

import json
import os

import pytest
from huggingface_hub import CommitOperationAdd

from hub.publish import IntegrityError, PublishError, RefusedFile, pull_dir, push, snapshot

from .conftest import stored_byte


@pytest.fixture
def published(server, repo_id, export_dir, token):
    """A repo with two published versions: v1 (tagged) and the newer main."""
    v1 = push(export_dir, repo_id, endpoint=server.url, token=token, tag="v1")
    (export_dir / "summary.json").write_text(json.dumps({"test": {"accuracy": 0.99}}))
    v2 = push(export_dir, repo_id, endpoint=server.url, token=token)
    return v1, v2


def test_pull_by_tag_sha_and_branch(server, repo_id, published, tmp_path):
    v1, v2 = published
    by_tag = pull_dir(repo_id, tmp_path / "tag", "v1", endpoint=server.url)
    assert by_tag.commit_sha == v1.commit_sha and by_tag.files == len(v1.files) - 1
    assert json.loads((tmp_path / "tag" / "summary.json").read_text())["test"]["accuracy"] == 0.91
    assert not (tmp_path / "tag" / ".cache").exists()
    by_sha = pull_dir(f"{repo_id}@{v2.commit_sha}", tmp_path / "sha", endpoint=server.url)
    assert by_sha.commit_sha == v2.commit_sha
    assert json.loads((tmp_path / "sha" / "summary.json").read_text())["test"]["accuracy"] == 0.99
    again = pull_dir(repo_id, tmp_path / "tag", endpoint=server.url)  # a previous pull may be replaced
    assert again.commit_sha == v2.commit_sha and again.revision == "main"
    folder = snapshot(f"{repo_id}@v1", endpoint=server.url)
    assert folder.name == v1.commit_sha and (folder / "onnx" / "model.onnx").is_file()
    assert snapshot(repo_id, "v1", endpoint=server.url) == folder  # cached, verified again


def test_out_folder_with_other_files_is_not_replaced(server, repo_id, published, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(PublishError, match="not a previous pull"):
        pull_dir(repo_id, out, endpoint=server.url)
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("protocol", ["lfs", "xet"])
def test_tampered_object_on_server_refused_then_recovers(server, api, repo_id, published, tmp_path, protocol,
                                                         monkeypatch):
    from huggingface_hub import constants

    v1, _ = published
    sha = next(s.lfs.sha256 for s in api.model_info(repo_id, revision="v1", files_metadata=True).siblings
               if s.rfilename == "model.safetensors")
    if protocol == "lfs":  # a client without Xet: the server rebuilds the file from the same stored bytes
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    obj, offset = stored_byte(server, sha)  # one copy of each byte: what both kinds of client read
    good = obj.read_bytes()
    bad = bytearray(good)
    bad[offset] ^= 0xFF  # same size: only sha256 can tell
    os.chmod(obj, 0o644)
    obj.write_bytes(bytes(bad))
    try:
        with pytest.raises(IntegrityError, match="model.safetensors.*has sha256.*corrupted"):
            snapshot(repo_id, "v1", endpoint=server.url)
        with pytest.raises(IntegrityError, match="model.safetensors"):
            pull_dir(repo_id, tmp_path / "out", "v1", endpoint=server.url)
        assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
    finally:
        obj.write_bytes(good)
    assert snapshot(repo_id, "v1", endpoint=server.url).name == v1.commit_sha  # bad blob was evicted


def test_manifest_mismatch_and_missing_manifest_refused(server, api, repo_id, published, token, tmp_path):
    api.create_commit(repo_id, [CommitOperationAdd("config.json", b'{"tampered": true}')],
                      commit_message="edit outside hub push")
    with pytest.raises(IntegrityError, match="config.json has"):
        pull_dir(repo_id, tmp_path / "a", endpoint=server.url)
    api.create_commit(repo_id, [CommitOperationAdd("notes.txt", b"hello")], commit_message="extra file")
    with pytest.raises(IntegrityError, match="notes.txt is not listed"):
        pull_dir(repo_id, tmp_path / "b", endpoint=server.url)
    bare = repo_id + "-bare"
    api.create_repo(bare)
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=bare)
    with pytest.raises(IntegrityError, match="no hub_manifest.json"):
        snapshot(bare, endpoint=server.url)


def test_pickle_on_remote_refused_before_download(server, api, repo_id, published, tmp_path):
    api.upload_file(path_or_fileobj=b"\x80\x04K\x01.", path_in_repo="pytorch_model.bin", repo_id=repo_id)
    with pytest.raises(RefusedFile, match="pytorch_model.bin: pickle"):
        pull_dir(repo_id, tmp_path / "x", endpoint=server.url)
    assert not list(tmp_path.rglob("pytorch_model.bin")), "the pickle was downloaded somewhere"
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.*"))


def test_unknown_revision_and_repo(server, repo_id, published, tmp_path):
    with pytest.raises(PublishError, match="revision not found"):
        snapshot(repo_id, "nope", endpoint=server.url)
    with pytest.raises(PublishError, match="repository not found"):
        snapshot("alice/does-not-exist", endpoint=server.url)


def test_cached_snapshot_used_offline_or_when_unreachable(server, repo_id, published, monkeypatch):
    from huggingface_hub import constants

    from hub.publish import client

    v1, _ = published
    online = snapshot(repo_id, "v1", endpoint=server.url)
    monkeypatch.setattr(client, "RETRIES", 0)
    assert snapshot(repo_id, "v1", endpoint="http://127.0.0.1:9") == online  # nothing listens on port 9
    with pytest.raises(PublishError, match="connection to http://127.0.0.1:9 failed"):
        snapshot(repo_id, "never-pulled", endpoint="http://127.0.0.1:9")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert snapshot(f"{repo_id}@{v1.commit_sha}") == online
    with pytest.raises(PublishError, match="HF_HUB_OFFLINE=1"):
        snapshot(repo_id, "main")


def test_a_pulled_folder_can_be_pushed_again_unchanged(server, repo_id, export_dir, token, tmp_path):
    """pull brings the server's .gitattributes; pushing that folder back is a no-op, to a new repo a copy."""
    first = push(export_dir, repo_id, endpoint=server.url, token=token)
    pulled = pull_dir(repo_id, tmp_path / "pulled", endpoint=server.url)
    assert (tmp_path / "pulled" / ".gitattributes").is_file()  # what used to be refused as a hidden file
    again = push(pulled.path, repo_id, endpoint=server.url, token=token)
    assert again.created_commit is False and again.commit_sha == first.commit_sha  # same card, same manifest
    assert ".gitattributes" not in again.files
    copy = push(pulled.path, repo_id + "-copy", endpoint=server.url, token=token)
    assert copy.created_commit and sorted(copy.files) == sorted(first.files)
