"""A `hub pretrain` output published to a real `hub serve` and named by a later recipe.

The whole loop with real parts: pretrain (MobileNetV3-small, 32 px, 64 digits, 1 epoch) ->
`hub push OUT ns/name --tag v1` -> a recipe with ``backbone.weights = "ns/name@v1"`` resolved
through huggingface_hub against the server (manifest + sha256 verified) -> the backbone starts
from those tensors, not from its random initialisation -> run.json records repo@commit + sha256.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
import torch

from hub.cli import main
from hub.errors import WeightsError
from hub.model import build_model, components
from hub.plugins import load_hub
from hub.weights import resolve_pretrain_weights, sha256_file
from hub.zoo import recipe_from_table

BACKBONE = "mobilenet-v3-small"


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pretrain") / "out"
    assert main(["pretrain", "--backbone", BACKBONE, "--image-size", "32", "--dataset", "digits", "--epochs", "1",
                 "--batch-size", "32", "--set", "pretrain.max_images=64", "--no-progress", "--out", str(out)]) == 0
    return out


@pytest.fixture
def published(pretrained, server, token, monkeypatch, capsys):
    """The output pushed with the CLI as alice/<random>@v1; HF_ENDPOINT points at the server."""
    monkeypatch.setenv("HF_TOKEN", token)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    repo = f"alice/mnv3-digits-simclr-{uuid.uuid4().hex[:6]}"
    assert main(["push", str(pretrained), repo, "--tag", "v1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["created_commit"] and set(result["files"]) == {"README.md", "backbone.safetensors",
                                                                 "hub_manifest.json", "pretrain.json"}
    return repo, result["commit_sha"]


def spec():
    return load_hub().registry.get("backbone", BACKBONE).spec


def test_pushed_weights_are_resolved_and_change_the_starting_weights(published, pretrained, api):
    repo, commit = published
    registry = load_hub().registry
    recipe = recipe_from_table("downstream", {"backbone": {"name": BACKBONE, "image_size": 32,
                                                           "weights": f"{repo}@v1"}, "dataset": "digits"},
                               registry, "test")
    comps = components(recipe, registry)
    torch.manual_seed(0)
    scratch = build_model(recipe, comps, 10, pretrained=False).backbone.state_dict()
    torch.manual_seed(0)
    started = build_model(recipe, comps, 10).backbone.state_dict()
    from safetensors.torch import load_file

    saved = load_file(str(pretrained / "backbone.safetensors"))
    assert set(started) == set(saved) and all(torch.equal(started[k], saved[k]) for k in saved)
    changed = [k for k in saved if saved[k].is_floating_point() and not torch.equal(started[k], scratch[k])]
    assert len(changed) > len(saved) // 2
    named = resolve_pretrain_weights(f"{repo}@v1", spec())
    assert named.record == {**named.record, "kind": "hub", "location": repo, "revision": "v1", "commit": commit,
                            "sha256": sha256_file(pretrained / "backbone.safetensors")}
    card = Path(api.hf_hub_download(repo, "README.md", revision=commit)).read_text()
    assert f'weights = "{repo}@main"' in card and "no labels were read" in card  # pushed to main (tag v1)


def test_a_second_push_is_a_no_op(published, pretrained, capsys):
    repo, commit = published
    assert main(["push", str(pretrained), repo, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["created_commit"] is False and again["commit_sha"] == commit


def test_the_run_record_names_repo_at_commit_and_sha256(published, pretrained):
    import hub
    from hub.job import plan
    from hub.training.api import _backbone_record

    repo, commit = published
    recipe = hub.recipe(backbone=BACKBONE, dataset="digits", overrides=[f"backbone.weights={repo}@v1"])
    record = _backbone_record(plan(recipe, load_hub().registry), True)  # the job resolves the reference once
    assert record["weights"]["commit"] == commit and record["base_model"] == repo
    assert record["weights"]["sha256"] == sha256_file(pretrained / "backbone.safetensors")


@pytest.mark.slow  # a real (tiny) training run: ~20 s alone, minutes on a loaded machine
def test_a_downstream_run_records_repo_at_commit_and_sha256(published, pretrained, tmp_path, capsys):
    repo, commit = published
    run = tmp_path / "run"
    assert main(["train", "--backbone", BACKBONE, "--dataset", "digits", "--epochs", "1", "--no-progress",
                 "--set", "backbone.image_size=32", "--set", f"backbone.weights={repo}@v1", "--out", str(run)]) == 0
    backbone = json.loads((run / "run.json").read_text())["backbone"]
    assert backbone["weights"]["kind"] == "hub" and backbone["weights"]["commit"] == commit
    assert backbone["weights"]["sha256"] == sha256_file(pretrained / "backbone.safetensors")
    assert backbone["base_model"] == repo
    # the export's model card says where the backbone's weights came from
    from hub.publish.card import render

    export = tmp_path / "export"
    export.mkdir()
    (export / "config.json").write_text(json.dumps({"backbone": backbone, "modality": "image"}))
    (export / "run.json").write_text((run / "run.json").read_text())
    text = render(export, ["config.json", "run.json", "onnx/model.onnx"], "alice/downstream")
    assert f"`{repo}@{commit}`" in text and backbone["weights"]["sha256"] in text
    assert f"base_model: {repo}" in text


@pytest.mark.parametrize("ref, message", [
    ("alice/no-such-repo@v1", "repository not found"),
    ("{repo}@v9", "revision not found"),
])
def test_missing_repo_or_revision_is_one_line(ref, message, published, capsys):
    repo, _ = published
    with pytest.raises(WeightsError, match=message) as err:
        resolve_pretrain_weights(ref.format(repo=repo), spec())
    assert "\n" not in str(err.value) and str(err.value).startswith("backbone.weights ")
    code = main(["train", "--backbone", BACKBONE, "--dataset", "digits", "--epochs", "1", "--no-progress",
                 "--set", f"backbone.weights={ref.format(repo=repo)}", "--out", "/nonexistent/never-made"])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert code == 1 and len(errors) == 1 and errors[0].startswith("error: backbone.weights") and message in errors[0]


def test_offline_without_a_cached_copy_is_one_line(published, monkeypatch):
    from huggingface_hub import constants

    repo, _ = published
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WeightsError, match="not in the cache and HF_HUB_OFFLINE=1"):
        resolve_pretrain_weights(f"{repo}@v1", spec())


def test_offline_with_a_cached_copy_works(published, monkeypatch):
    from huggingface_hub import constants

    repo, commit = published
    resolve_pretrain_weights(f"{repo}@v1", spec())  # online once: cached
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert resolve_pretrain_weights(f"{repo}@v1", spec()).record["commit"] == commit


def test_a_tampered_server_copy_is_refused(published, pretrained, server, monkeypatch, lfs_only):
    """The server's stored copy of backbone.safetensors is tampered with: the manifest check refuses it.

    Over LFS (``lfs_only``): a client without Xet, served the file rebuilt from the stored bytes."""
    from .conftest import stored_byte

    repo, _ = published
    digest = json.loads((pretrained / "pretrain.json").read_text())["weights"]["sha256"]
    blob, offset = stored_byte(server, digest)  # the one stored copy (an LFS object, or a chunk of a xorb)
    original = blob.read_bytes()
    bad = bytearray(original)
    bad[offset] ^= 0xFF  # same size: only the sha256 can tell
    os.chmod(blob, 0o644)
    try:
        blob.write_bytes(bytes(bad))
        with pytest.raises(WeightsError, match="sha256|corrupted"):
            resolve_pretrain_weights(f"{repo}@v1", spec())
    finally:
        blob.write_bytes(original)
