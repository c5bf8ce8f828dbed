"""The documented deployment case: a device reads a model from the Hugging Face cache with
``HF_HUB_OFFLINE=1``. The cached snapshot is verified against its manifest on every read; a file
changed on disk after the download is refused, offline as online."""

from __future__ import annotations

import pytest

from hub import runtime
from hub.publish import IntegrityError, push, snapshot


@pytest.fixture
def cached(server, repo_id, export_dir, token):
    """A published repo pulled once into the cache, then the network gone (offline mode)."""
    pushed = push(export_dir, repo_id, endpoint=server.url, token=token)
    folder = snapshot(repo_id, endpoint=server.url)
    return pushed, folder


@pytest.mark.parametrize("victim", ["config.json", "onnx/model.onnx"])
def test_offline_read_of_a_tampered_cache_is_refused(cached, repo_id, monkeypatch, victim):
    from huggingface_hub import constants

    pushed, folder = cached
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert snapshot(f"{repo_id}@{pushed.commit_sha}") == folder  # untouched: served from the cache
    blob = (folder / victim).resolve()  # the cache's blob behind the snapshot's link
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit
    blob.write_bytes(bytes(data))
    # (the fixture's two ONNX files share one blob: either may be named first)
    with pytest.raises(IntegrityError, match=r"has sha256 \w+\.\.\., hub_manifest\.json says"):
        snapshot(f"{repo_id}@{pushed.commit_sha}")
    with pytest.raises(IntegrityError):
        runtime.load(f"{repo_id}@{pushed.commit_sha}")


def test_offline_read_with_a_file_removed_from_the_cache_is_refused(cached, repo_id, monkeypatch):
    from huggingface_hub import constants

    pushed, folder = cached
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    (folder / "config.json").unlink()
    with pytest.raises(IntegrityError, match="config.json"):
        snapshot(f"{repo_id}@{pushed.commit_sha}")
