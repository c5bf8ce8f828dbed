"""The last stage of `hub run` judges what was published: pulled from a real `hub serve`, run by
hub.runtime on the whole test split, and compared with the accuracy PyTorch reported."""

from __future__ import annotations

import uuid

import pytest

from hub.exporting.pipeline import GateOptions, export_run
from hub.plugins import load_hub
from hub.publish import push
from hub.job import plan
from hub.training.api import train
from hub.verify import VerificationError, verify_published
from hub.zoo import recipe_from_table


@pytest.fixture(scope="module")
def published(server, token, tmp_path_factory):
    registry = load_hub().registry
    recipe = recipe_from_table("verify", {"backbone": {"name": "efficientnet-lite0", "image_size": 32},
                                          "dataset": "digits", "train": {"epochs": 1, "lr": 0.003}}, registry, "test")
    root = tmp_path_factory.mktemp("verify")
    result = train(recipe, root / "run", registry, progress=False)
    export_run(root / "run", root / "export", registry=registry, gate_options=GateOptions(batch_sizes=(1, 8)))
    repo = f"alice/verify-{uuid.uuid4().hex[:8]}"
    pushed = push(root / "export", repo, endpoint=server.url, token=token)
    return {"repo": repo, "commit": pushed.commit_sha, "accuracy": result.summary["test"]["accuracy"],
            "test": plan(recipe, registry).dataset.split("test")}


def test_the_published_model_scores_what_pytorch_scored(published, server, tmp_path):
    verified = verify_published(published["repo"], published["commit"], tmp_path / "pulled", published["test"],
                                endpoint=server.url, pytorch_accuracy=published["accuracy"])
    assert verified["samples"] == len(published["test"].labels)
    assert abs(verified["variants"]["fp32"]["accuracy"] - published["accuracy"]) * 100 <= 1.0
    assert verified["fp32_drop_points"] <= 1.0 and verified["files_verified"] > 0


def test_a_published_model_below_pytorch_beyond_the_budget_fails_with_one_line(published, server, tmp_path):
    claimed = published["accuracy"] + 0.05  # the run claims 5 points more than the repo delivers
    with pytest.raises(VerificationError) as err:
        verify_published(published["repo"], published["commit"], tmp_path / "pulled", published["test"],
                         endpoint=server.url, pytorch_accuracy=claimed, max_drop_points=1.0)
    message = str(err.value)
    assert "\n" not in message and published["repo"] in message and "points below PyTorch" in message
