"""The whole product path with real parts: hub train -> export + gate -> push to hub serve ->
hub.runtime.load("repo@rev") -> the same labels as PyTorch on the test split."""

from __future__ import annotations

import dataclasses
import uuid

import numpy as np
import pytest
import torch

from hub.pipeline import run
from hub.plugins import load_hub
from hub.runtime.preprocess import preprocess_images
from hub.train.api import load_dataset
from hub.train.rundir import load_run
from hub.zoo import recipe_from_table


def _torch_labels(run_dir, registry, inputs, modality):
    info, _, model = load_run(run_dir, registry)
    if modality == "image":
        batch = (torch.from_numpy(preprocess_images(inputs, dataclasses.asdict(info.input))),)
    else:
        from hub.runtime.text import TextEncoder
        from hub.weights import resolve_weights

        encoder = TextEncoder(resolve_weights(model_spec(registry, info))[0], info.input.max_length,
                              info.input.input_names)
        arrays = encoder.encode(list(inputs))
        batch = tuple(torch.from_numpy(arrays[n]) for n in info.input.input_names)
    with torch.no_grad():
        return model(*batch).argmax(-1).numpy()


def model_spec(registry, info):
    return registry.get("backbone", info.recipe.backbone.name).spec


@pytest.mark.parametrize("table", [
    pytest.param({"backbone": {"name": "efficientnet-lite0", "image_size": 64}, "dataset": "digits",
                  "train": {"epochs": 3, "lr": 0.003}}, id="vision-digits"),
    pytest.param({"backbone": {"name": "minilm-l6", "max_length": 32}, "dataset": "rotten-tomatoes",
                  "train": {"epochs": 5, "lr": 0.01}}, id="text-rotten-tomatoes"),  # ~50 s: kept in CI on purpose
])
def test_train_export_push_load_predict(table, tmp_path, server, token, monkeypatch):
    registry = load_hub().registry
    recipe = recipe_from_table("e2e", table, registry, "test")
    repo = f"alice/e2e-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HF_TOKEN", token)
    outcome = run(recipe, registry, tmp_path / "job", repo=repo, endpoint=server.url, progress=False)
    assert outcome.summary["test"]["accuracy"] > 0.7
    fp32 = next(v for v in outcome.report["variants"] if v["variant"] == "fp32")
    assert fp32["passed"] and fp32["top1_agreement"] == 1.0
    assert outcome.push.created_commit and outcome.push.repo_id == repo

    from hub.runtime import load

    monkeypatch.setenv("HF_ENDPOINT", server.url)
    deployed = load(f"{repo}@{outcome.push.commit_sha}", variant="fp32")
    test = load_dataset(recipe, registry).split("test")
    inputs = test.inputs[:64] if hasattr(test.inputs, "shape") else list(test.inputs[:64])
    predicted = [deployed.config["label2id"][p["label"]] for p in deployed.predict(inputs)]
    assert np.array_equal(np.array(predicted), _torch_labels(outcome.run_dir, registry, inputs, recipe_modality(outcome)))


def recipe_modality(outcome):
    import json

    return json.loads((outcome.export_dir / "config.json").read_text())["modality"]
