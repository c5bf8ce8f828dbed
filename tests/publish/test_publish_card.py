"""The generated model card, rendered offline: metadata, runnable snippets, determinism."""

from __future__ import annotations

import ast
import json
import re

from huggingface_hub import ModelCard

from hub.publish.card import base_model, render
from hub.publish.files import collect_export


def _card(export):
    files = sorted([*collect_export(export), "README.md", "hub_manifest.json"])
    return render(export, files, "alice/sentiment", "main")


def test_text_card_metadata_and_snippets_parse(tmp_path, make_export_dir):
    export = make_export_dir(tmp_path / "text", text=True)
    text = _card(export)
    card = ModelCard(text)
    assert card.data.pipeline_tag == "text-classification" and "text" in card.data.tags
    assert "Tokenizer.from_file" in card.text and '"input_ids": np.array([enc.ids]' in card.text
    for block in re.findall(r"```python\n(.*?)```", card.text, re.S):
        ast.parse(block)  # every snippet is valid Python
    assert text == _card(export)  # deterministic: same export, same bytes (no dates)


def test_image_snippet_uses_config_preprocessing(export_dir):
    text = _card(export_dir)
    assert ".resize((32, 24)" in text and "np.array([0.5, 0.5, 0.5], np.float32)" in text
    assert 'InferenceSession(f"{folder}/onnx/model.int8-dynamic.onnx")' in text  # the preferred variant
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        ast.parse(block)


def test_card_without_optional_files(export_dir):
    for name in ("report.json", "summary.json", "run.json", "curves.png", "confusion.png"):
        (export_dir / name).unlink()
    config = json.loads((export_dir / "config.json").read_text())
    config["backbone"] = {"name": "tiny"}
    del config["license"]
    (export_dir / "config.json").write_text(json.dumps(config))
    card = ModelCard(_card(export_dir))
    assert card.data.license == "unknown" and card.data.base_model is None
    assert not card.data.eval_results and "![curves]" not in card.text


def test_base_model_shapes():
    assert base_model({"weights": [{"kind": "package", "location": "x:y"},
                                   {"kind": "hf", "location": "sentence-transformers/all-MiniLM-L6-v2"}]}) \
        == "sentence-transformers/all-MiniLM-L6-v2"
    assert base_model({"weights_source": "hf:timm/resnet18.a1_in1k@abc"}) == "timm/resnet18.a1_in1k"
    assert base_model({"base_model": "google/vit-base"}) == "google/vit-base"
    assert base_model({"weights": {"kind": "path", "location": "/x"}}) is None


def test_card_says_how_many_samples_the_gate_used(export_dir):
    text = _card(export_dir)
    assert "Gate samples: **269** held-out examples of the `test` split (one changed answer = 0.37 points)." in text
    assert "weak evidence" not in text
    report = json.loads((export_dir / "report.json").read_text())
    report["gate"].update(samples=12, criterion="failed (allowed by allow_few_samples)")
    (export_dir / "report.json").write_text(json.dumps(report))
    assert "**12** held-out examples" in _card(export_dir) and "weak evidence" in _card(export_dir)

