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
from hub.job import plan
from hub.training.rundir import load_run
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
                  "train": {"epochs": 5, "lr": 0.01}}, id="text-rotten-tomatoes",
                 # ~50 s. The default suite still takes a MiniLM through train -> export -> push -> pull ->
                 # hub.runtime on the test split: tests/deploy/test_transformersjs.py's `hub run` (with verify)
                 marks=pytest.mark.slow),
])
def test_train_export_push_load_predict(table, tmp_path, server, token, monkeypatch):
    registry = load_hub().registry
    recipe = recipe_from_table("e2e", table, registry, "test")
    repo = f"alice/e2e-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HF_TOKEN", token)
    outcome = run(recipe, registry, tmp_path / "job", repo=repo, endpoint=server.url, progress=False)
    assert outcome.summary["test"]["accuracy"] > 0.7
    fp32 = next(v for v in outcome.report["variants"] if v["variant"] == "fp32")
    # ONNX fp32 vs PyTorch may flip a near-tie (summation order differs by CPU): the gate's floor, not 1.0
    assert fp32["passed"] and fp32["top1_agreement"] >= fp32["tolerance"]["min_agreement"] == 0.99
    assert outcome.push.created_commit and outcome.push.repo_id == repo
    # The last stage pulled the pushed commit and ran it with hub.runtime on the whole test split.
    verified = outcome.verified
    assert verified["commit_sha"] == outcome.push.commit_sha and verified["files_verified"] > 0
    assert verified["samples"] == len(plan(recipe, registry).dataset.split("test"))
    drop = 100 * (outcome.summary["test"]["accuracy"] - verified["variants"]["fp32"]["accuracy"])
    assert abs(drop) <= recipe.export.max_metric_drop  # the gate's metric budget, in points
    assert verified["variants"]["fp32"]["top1_agreement_vs_fp32"] == 1.0
    assert (tmp_path / "job" / "pulled" / "hub_manifest.json").is_file()

    from hub.runtime import load

    monkeypatch.setenv("HF_ENDPOINT", server.url)
    deployed = load(f"{repo}@{outcome.push.commit_sha}", variant="fp32")
    test = plan(recipe, registry).dataset.split("test")
    inputs = test.inputs[:64] if hasattr(test.inputs, "shape") else list(test.inputs[:64])
    predicted = [deployed.config["label2id"][p["label"]] for p in deployed.predict(inputs)]
    assert np.array_equal(np.array(predicted), _torch_labels(outcome.run_dir, registry, inputs, recipe_modality(outcome)))


def recipe_modality(outcome):
    import json

    return json.loads((outcome.export_dir / "config.json").read_text())["modality"]


def test_hub_run_cli_prints_the_verified_summary_as_json(tmp_path, server, token, monkeypatch, capsys):
    import json

    from hub.cli import main

    monkeypatch.setenv("HF_TOKEN", token)
    repo = f"alice/run-{uuid.uuid4().hex[:8]}"
    args = ["run", "--backbone", "efficientnet-lite0", "--dataset", "digits", "--epochs", "2",
            "--set", "backbone.image_size=32", "--no-progress", "--repo", repo, "--endpoint", server.url,
            "--out", str(tmp_path / "job"), "--json"]
    code = main(args)
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    data = json.loads(captured.out)
    assert data["published"]["repo_id"] == repo
    assert data["verified"]["commit_sha"] == data["published"]["commit_sha"]
    fp32 = data["verified"]["variants"]["fp32"]
    assert abs(data["train"]["test"]["accuracy"] - fp32["accuracy"]) * 100 <= 1.0
    assert data["gate"]["fp32"]["passed"] is True
    import httpx  # the URL it prints opens: hub serve's page of the repo at the pushed commit

    page = httpx.get(data["published"]["url"], timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert data["published"]["commit_sha"][:12] in page.text and repo in page.text
    # The same command again: train, export and verification are reused; the push finds nothing new.
    code = main(args)
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    again = json.loads(captured.out)
    stages = [line for line in captured.err.splitlines() if line.startswith("== ")]
    assert [s.split(":")[0] for s in stages if "reused" in s] == ["== train", "== export + validation gate",
                                                                   "== pull + verify"], stages
    assert again["published"]["commit_sha"] == data["published"]["commit_sha"]
    assert again["published"]["created_commit"] is False
    assert again["verified"] == data["verified"]
