"""transformers.js (Node, tests/js) loads repos pushed by `hub run` from `hub serve` unchanged.

Real parts end to end: `hub run` trains, exports through the gate and pushes to a `hub serve` on
loopback; Node runs transformers.js's `pipeline(task, repo)` with `env.remoteHost` set to the server
and nothing else on disk; its labels are compared with `hub.runtime` on the shipped samples and on
the test split. Where the two may still differ is written down in hub/exporting/transformersjs.py.
"""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from hub.exporting import transformersjs

from . import tjs_node


def push(server, tmp_path: Path, backbone: str, dataset: str, overrides: list[str]):
    """`hub run` into the server; returns its outcome and the test split's raw examples."""
    from hub import api
    from hub.exporting.samples import split_samples
    from hub.job import plan
    from hub.plugins import get_hub

    repo = f"alice/tjs-{uuid.uuid4().hex[:8]}"
    outcome = api.run(backbone=backbone, dataset=dataset, out=tmp_path / "job", repo=repo, endpoint=server.url,
                      progress=False, overrides=overrides)
    recipe = api.recipe(backbone=backbone, dataset=dataset, overrides=overrides)
    raw, _ = split_samples(plan(recipe, get_hub().registry).dataset, "test", None)
    return outcome, raw


def pulled(server, outcome) -> tuple[Path, dict]:
    """The pushed commit as a deployer downloads it, and its config.json."""
    from huggingface_hub import snapshot_download

    folder = Path(snapshot_download(outcome.push.repo_id, revision=outcome.push.commit_sha, endpoint=server.url))
    return folder, json.loads((folder / "config.json").read_text())


def both(server, outcome, folder: Path, inputs: list[str], work: Path) -> tuple[list[str], list[str], dict]:
    js = tjs_node.pipeline(server.url, outcome.push.repo_id, outcome.push.commit_sha,
                           json.loads((folder / "config.json").read_text())["pipeline_tag"], inputs, work)
    return [p["label"] for p in js["predictions"]], tjs_node.runtime_labels(folder, inputs), js


@pytest.fixture(scope="module")
def image_job(server, client_env, tmp_path_factory):
    """small-cnn on digits at 16 px (8 px images upscaled), 10 epochs: ~10 s, confident enough to compare."""
    return push(server, tmp_path_factory.mktemp("tjs-image"), backbone="small-cnn", dataset="digits",
                overrides=["backbone.pretrained=false", "backbone.image_size=16", "train.epochs=10",
                           "export.quantize=[]"])


@pytest.fixture(scope="module")
def text_job(server, client_env, tmp_path_factory):
    """Frozen MiniLM + linear head on 600 Rotten Tomatoes rows (a text-file dataset), max_length 32."""
    from hub_text.data import rotten_tomatoes

    folder = tmp_path_factory.mktemp("tjs-text")
    data = rotten_tomatoes(None)
    path = folder / "rt.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for text, label in list(zip(data.texts, data.labels))[:600]:
            writer.writerow([text, data.label_names[label]])
    return push(server, folder, backbone="minilm-l6", dataset="text-file",
                overrides=[f"dataset.path='{path}'", "backbone.max_length=32", "train.epochs=3", "train.lr=0.01",
                           "export.quantize=[]"])


def test_image_pipeline_from_hub_serve_gives_runtime_labels(server, image_job, tmp_path: Path) -> None:
    image_job, raw = image_job
    folder, config = pulled(server, image_job)
    assert (config["model_type"], config["architectures"]) == ("vit", ["ViTForImageClassification"])
    samples = [str(folder / s["file"]) for s in config["samples"]]
    assert len(samples) == 3
    theirs, ours, js = both(server, image_job, folder, samples, tmp_path / "node-samples")
    assert (js["version"], js["dtype"]) == (transformersjs.VERSION, "fp32")  # onnx/model.onnx, the gated graph
    assert theirs == ours, (theirs, ours)
    assert all(0 < p["score"] <= 1 for p in js["predictions"])
    assert config["gate"]["split"] == "test"
    inputs = tjs_node.write_inputs(raw, "image", tmp_path / "test-split")
    theirs, ours, _ = both(server, image_job, folder, inputs, tmp_path / "node-split")
    # measured 0.993 (2 of 269): transformers.js resizes with sharp, not Pillow (transformersjs.RESAMPLE)
    share = tjs_node.agreement(theirs, ours)
    print(f"transformers.js vs hub.runtime: {share:.4f} of {len(inputs)} test images")
    assert share >= 0.98


def test_text_pipeline_from_hub_serve_gives_runtime_labels(server, text_job, tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    text_job, raw = text_job
    folder, config = pulled(server, text_job)
    assert (config["model_type"], config["architectures"]) == ("bert", ["BertForSequenceClassification"])
    tok_config = json.loads((folder / "tokenizer_config.json").read_text())
    assert (tok_config["model_max_length"], tok_config["pad_token"]) == (32, "[PAD]")
    samples = [(folder / s["file"]).read_text(encoding="utf-8") for s in config["samples"]]
    texts = samples + [str(t) for t in raw]
    theirs, ours, js = both(server, text_job, folder, texts, tmp_path / "node")
    assert js["dtype"] == "fp32"
    assert theirs[:len(samples)] == ours[:len(samples)]
    # Within max_length the token ids are the same, so the labels are; a longer text loses its [SEP]
    # in transformers.js's truncation (the tokenizers library keeps it), which may flip a near-tie.
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    fits = [len(tokenizer.encode(t).ids) <= 32 for t in texts]
    assert sum(fits) >= 20 and len(fits) - sum(fits) >= 5  # both kinds are in the comparison
    assert [a for a, f in zip(theirs, fits) if f] == [b for b, f in zip(ours, fits) if f]
    share = tjs_node.agreement(theirs, ours)
    print(f"transformers.js vs hub.runtime: {share:.4f} of {len(texts)} texts ({len(texts) - sum(fits)} truncated)")
    assert share >= 0.9


def test_processor_fields_reproduce_the_contract_for_bgr_crop_and_grey(tmp_path: Path) -> None:
    """Pixels without resampling (image already at the cover size): exact, so the mapping is right."""
    from PIL import Image

    from hub.runtime.preprocess import preprocess_images

    rng = np.random.default_rng(0)
    rgb = tmp_path / "rgb.png"
    Image.fromarray(rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)).save(rgb)  # short side 16 = 8 / 0.5
    grey = tmp_path / "grey.png"
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(grey)
    cases = {
        "bgr-crop": ({"size": [8, 8], "mean": [0.2, 0.4, 0.6], "std": [0.1, 0.2, 0.3], "color_order": "BGR",
                      "crop_pct": 0.5, "interpolation": "bicubic", "channels": 3}, rgb),
        "grey": ({"size": [8, 8], "mean": [0.5], "std": [0.25], "channels": 1}, grey),
    }
    for name, (contract, image) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / transformersjs.PREPROCESSOR).write_text(json.dumps(transformersjs.preprocessor(contract)))
        theirs = tjs_node.pixel_values(folder, [str(image)])[0]
        ours = preprocess_images([str(image)], contract)
        assert theirs.shape == ours.shape, name
        np.testing.assert_allclose(theirs, ours, atol=1e-5, err_msg=name)


def test_unsupported_exports_get_no_files_and_say_why(tmp_path: Path, caplog) -> None:
    config = {"modality": "image", "pipeline_tag": "image-classification", "output_names": ["logits"],
              "external_data": True, "preprocessing": {"size": [8, 8], "mean": [0.5], "std": [0.5]}}
    assert transformersjs.write_files(tmp_path, config) == []
    assert "model_type" not in config and list(tmp_path.iterdir()) == []
    assert "model.onnx_data" in caplog.text


def test_a_missing_node_install_fails_with_the_setup_command(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tjs_node, "JS", tmp_path)  # an npm project folder with nothing installed
    with pytest.raises(RuntimeError, match=r"make setup"):
        tjs_node.require_node()
