"""Feature extraction computes a frozen backbone's features once across runs: the second run on the
same backbone and data reads them from the on-disk cache, trains to the same result, and anything
that changes the features (weights, data, input contract) misses."""

from __future__ import annotations

import json

import pytest

from hub.cli import main
from hub.training import feature_cache
from hub.training.api import train
from hub.zoo import recipe_from_table


def _recipe(tiny_hub, **train_keys):
    table = {"backbone": "tiny-cnn", "dataset": "digits", "train": {"epochs": 2, "batch_size": 128, **train_keys}}
    return recipe_from_table("fc", table, tiny_hub.registry, "test")


def test_the_second_run_reads_the_features_and_trains_the_same(tiny_hub, tmp_path, monkeypatch):
    import hub.training.api as api

    first = train(_recipe(tiny_hub), tmp_path / "a", tiny_hub.registry, progress=False).summary
    assert first["feature_cache"]["misses"] == ["train", "validation", "test"] and first["feature_cache"]["hits"] == []
    assert feature_cache.usage()[0] == 3

    def no_backbone_pass(*a, **k):
        raise AssertionError("the backbone ran although every split was cached")

    monkeypatch.setattr(api, "compute_features", no_backbone_pass)
    second = train(_recipe(tiny_hub), tmp_path / "b", tiny_hub.registry, progress=False).summary
    assert second["feature_cache"]["hits"] == ["train", "validation", "test"]
    assert second["test"] == first["test"] and second["validation"] == first["validation"]


def test_other_data_or_another_input_size_misses(tiny_hub, tmp_path):
    train(_recipe(tiny_hub), tmp_path / "a", tiny_hub.registry, progress=False)
    other_split = recipe_from_table("fc", {"backbone": "tiny-cnn", "dataset": {"name": "digits", "seed": 1},
                                           "train": {"epochs": 1}}, tiny_hub.registry, "test")
    summary = train(other_split, tmp_path / "b", tiny_hub.registry, progress=False).summary
    assert summary["feature_cache"]["hits"] == []  # every split holds other images
    bigger = recipe_from_table("fc", {"backbone": {"name": "tiny-cnn", "image_size": 24}, "dataset": "digits",
                                      "train": {"epochs": 1}}, tiny_hub.registry, "test")
    summary = train(bigger, tmp_path / "c", tiny_hub.registry, progress=False).summary
    assert summary["feature_cache"]["hits"] == []


def test_other_weights_miss(tiny_hub, tmp_path):
    import torch

    from hub.model import build_backbone, components

    recipe = _recipe(tiny_hub)
    spec = components(recipe, tiny_hub.registry).backbone_spec
    torch.manual_seed(0)
    a = feature_cache.weights_digest(build_backbone(spec, {}, False))
    torch.manual_seed(1)
    assert feature_cache.weights_digest(build_backbone(spec, {}, False)) != a


def test_a_damaged_cache_file_is_recomputed(tiny_hub, tmp_path):
    first = train(_recipe(tiny_hub), tmp_path / "a", tiny_hub.registry, progress=False).summary
    for path in feature_cache.cache_dir().glob("*.safetensors"):
        path.write_bytes(b"not safetensors")
    second = train(_recipe(tiny_hub), tmp_path / "b", tiny_hub.registry, progress=False).summary
    assert second["feature_cache"]["hits"] == [] and second["test"] == first["test"]
    third = train(_recipe(tiny_hub), tmp_path / "c", tiny_hub.registry, progress=False).summary
    assert third["feature_cache"]["hits"] == ["train", "validation", "test"]  # rewritten by the second run


def test_off_switch_and_size_limit(tiny_hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_FEATURE_CACHE", "off")
    summary = train(_recipe(tiny_hub), tmp_path / "a", tiny_hub.registry, progress=False).summary
    assert "feature_cache" not in summary and feature_cache.usage()[0] == 0
    monkeypatch.setenv("HUB_FEATURE_CACHE", "on")
    monkeypatch.setenv("HUB_FEATURE_CACHE_MAX_BYTES", "1")  # every file is over the limit: nothing is kept
    train(_recipe(tiny_hub), tmp_path / "b", tiny_hub.registry, progress=False)
    assert feature_cache.usage()[0] <= 1


def test_hub_cache_clear_and_info(tiny_hub, tmp_path, capsys):
    train(_recipe(tiny_hub), tmp_path / "a", tiny_hub.registry, progress=False)
    assert main(["cache", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["files"] == 3 and info["bytes"] > 0
    assert main(["cache", "clear"]) == 0
    assert "removed 3 files" in capsys.readouterr().out
    assert feature_cache.usage()[0] == 0


@pytest.mark.parametrize("value", ["0", "off", "false"])
def test_cache_switch_values(monkeypatch, value):
    monkeypatch.setenv("HUB_FEATURE_CACHE", value)
    assert not feature_cache.enabled()
