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
    assert "Tokenizer.from_file" in card.text and "tokenizer.enable_truncation(64)" in card.text
    assert "for i in session.get_inputs()" in card.text  # only the inputs the graph declares
    for block in re.findall(r"```python\n(.*?)```", card.text, re.S):
        ast.parse(block)  # every snippet is valid Python
    assert text == _card(export)  # deterministic: same export, same bytes (no dates)
    assert "End to end" not in text


def test_text_card_with_an_e2e_graph_leads_with_raw_strings(tmp_path, make_export_dir):
    export = make_export_dir(tmp_path / "text", text=True)
    (export / "onnx" / "model_e2e.onnx").write_bytes((export / "onnx" / "model.onnx").read_bytes())
    config = json.loads((export / "config.json").read_text())
    config["e2e"] = {"file": "onnx/model_e2e.onnx", "input": {"name": "text", "dtype": "string", "shape": [1]}}
    (export / "config.json").write_text(json.dumps(config))
    text = _card(export)
    assert "### End to end: a raw string in" in text and "register_custom_ops_library" in text
    assert "```javascript" not in text  # no Node block: onnxruntime-node has no extensions
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        ast.parse(block)


def test_image_snippet_uses_config_preprocessing(export_dir):
    text = _card(export_dir)
    assert ".resize((32, 24)" in text and "np.array([0.5, 0.5, 0.5], np.float32)" in text
    assert 'InferenceSession(f"{folder}/onnx/model.int8-dynamic.onnx"' in text  # the preferred variant
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


def _with_recipe(export, **train):
    run = json.loads((export / "run.json").read_text())
    run["recipe"]["train"].update(train)
    (export / "run.json").write_text(json.dumps(run))


def test_fine_tuned_only_when_the_backbone_trained(export_dir):
    text = ModelCard(_card(export_dir)).text
    assert "fine-tuned" not in text and "frozen features of **resnet18**" in text
    _with_recipe(export_dir, strategy="partial", trainable_groups=2)
    text = ModelCard(_card(export_dir)).text
    assert "fine-tuned from **resnet18** (the last 2 layer groups trained" in text
    _with_recipe(export_dir, strategy="fine-tune")
    assert "fine-tuned from **resnet18** (every layer trained)" in _card(export_dir)


def test_recipe_table_lists_only_keys_that_differ_and_acted(export_dir):
    from hub.recipes import TrainConfig

    defaults = {k: v for k, v in TrainConfig().__dict__.items()}
    _with_recipe(export_dir, **{**defaults, "strategy": "feature-extraction", "epochs": 3, "lr": 0.001,
                                "momentum": 0.5, "trainable_groups": 3, "weight_decay": 0.05, "device": "cpu",
                                "early_stopping": {"metric": "val_accuracy", "patience": 2, "mode": "auto",
                                                   "min_delta": 0.0}})
    text = _card(export_dir)
    table = text.split("## Training recipe")[1].split("##")[0]
    assert "| train.weight_decay | 0.05 |" in table and "train.early_stopping" in table
    for hidden in ("momentum", "trainable_groups", "train.device", "train.scheduler", "train.seed", "train.mixup"):
        assert hidden not in table, hidden  # defaults, or no effect with adamw / feature extraction
    assert "| train.strategy | feature-extraction |" in table and "| train.epochs | 3 |" in table


def test_model_index_dataset_is_not_posing_as_a_hub_id(export_dir):
    card = ModelCard(_card(export_dir))
    result = card.data.eval_results[0]
    assert result.dataset_type == "zoohub:cifar3" and "not a Hugging Face Hub dataset" in result.dataset_name
    assert card.data.datasets is None
    config = json.loads((export_dir / "config.json").read_text())
    config["dataset"]["source"] = "hf:rotten_tomatoes/rotten_tomatoes"
    (export_dir / "config.json").write_text(json.dumps(config))
    card = ModelCard(_card(export_dir))
    assert card.data.eval_results[0].dataset_type == "rotten_tomatoes/rotten_tomatoes"
    assert card.data.datasets == ["rotten_tomatoes/rotten_tomatoes"]


def test_use_limitations_and_data_license_sections(export_dir):
    config = json.loads((export_dir / "config.json").read_text())
    config["preprocessing"].update(crop_pct=0.875, interpolation="bicubic")
    config["gate"] = {"split": "test", "samples": 180}
    (export_dir / "config.json").write_text(json.dumps(config))
    text = _card(export_dir)
    assert "## Intended use" in text and "`cat`, `dog`, `bird`" in text
    limits = text.split("## Limitations")[1].split("##")[0]
    assert "180 examples of the test split" in limits and "centre crop drops about 6%" in limits
    assert "licensed `MIT`" in text.split("## Training data license")[1]
    del config["dataset"]["license"]
    (export_dir / "config.json").write_text(json.dumps(config))
    assert "is not recorded" in _card(export_dir).split("## Training data license")[1]


def test_install_line_endpoint_note_and_shipped_sample(export_dir):
    from PIL import Image

    (export_dir / "samples").mkdir()
    Image.new("L", (8, 8), 3).save(export_dir / "samples" / "0.png")
    config = json.loads((export_dir / "config.json").read_text())
    config["samples"] = [{"file": "samples/0.png", "label": "dog"}, {"file": "samples/missing.png", "label": "x"}]
    (export_dir / "config.json").write_text(json.dumps(config))
    text = _card(export_dir)
    assert "pip install onnxruntime numpy pillow huggingface_hub" in text and "HF_ENDPOINT" in text
    assert 'model.predict(f"{model.folder}/samples/0.png")' in text
    assert 'print(predict(f"{folder}/samples/0.png"))' in text and "true label 'dog'" in text
    assert "missing.png" not in text
    assert "End to end" not in text  # no e2e graph in this export: the card does not offer one


def test_samples_show_the_true_label_and_the_models_answer_and_e2e_leads(export_dir):
    """A sample the model gets wrong reads as one of its test errors; the e2e graph comes first."""
    from PIL import Image

    (export_dir / "samples").mkdir()
    Image.new("L", (8, 8), 3).save(export_dir / "samples" / "0.png")
    (export_dir / "onnx" / "model_e2e.onnx").write_bytes((export_dir / "onnx" / "model.onnx").read_bytes())
    config = json.loads((export_dir / "config.json").read_text())
    config["samples"] = [{"file": "samples/0.png", "label": "5", "predicted": "3"}]
    config["e2e"] = {"file": "onnx/model_e2e.onnx", "top1_agreement": 0.996,
                     "variants": {"fp16": {"file": "onnx/model_e2e_fp16.onnx", "top1_agreement": 1.0}}}
    (export_dir / "config.json").write_text(json.dumps(config))
    text = _card(export_dir)
    assert text.count("(true label '5'; this model answers '3')") == 4  # e2e Python, hub.runtime, plain + Node
    assert text.index("### End to end") < text.index("### With the hub runtime") < text.index("### With plain")
    assert "on 99.6% of them" in text and 'session.run(None, {"image": pixels[None]})' in text
    assert "also gated: `onnx/model_e2e_fp16.onnx` (fp16, top-1 agreement 100.0%)" in text
    assert 'ort.InferenceSession.create(await get("onnx/model_e2e.onnx"))' in text
    assert "transformers.js" not in ModelCard(text).data.tags  # the export has no transformers.js files
    config["transformers.js_config"] = {"dtype": "fp32"}
    (export_dir / "config.json").write_text(json.dumps(config))
    assert "transformers.js" in ModelCard(_card(export_dir)).data.tags  # findable as one on a hub


def test_hub_card_previews_exactly_what_push_publishes(export_dir, server, token, cli_main, capsys, tmp_path,
                                                       monkeypatch):
    from huggingface_hub import hf_hub_download

    from hub.publish import push

    repo = "alice/card-preview"
    assert cli_main(["card", str(export_dir), "--repo-id", repo]) == 0
    preview = capsys.readouterr().out
    push(export_dir, repo, endpoint=server.url, token=token)
    published = hf_hub_download(repo, "README.md", endpoint=server.url, cache_dir=tmp_path / "c")
    assert preview == open(published, encoding="utf-8").read()
    assert cli_main(["card", str(export_dir), "--repo-id", repo, "--out", str(tmp_path / "card.md")]) == 0
    assert (tmp_path / "card.md").read_text(encoding="utf-8") == preview
    (export_dir / "weights.pt").write_bytes(b"x")
    assert cli_main(["card", str(export_dir)]) == 1
    assert "pickle" in capsys.readouterr().err
def test_card_says_how_many_samples_the_gate_used(export_dir):
    text = _card(export_dir)
    assert "Gate samples: **269** held-out examples of the `test` split (one changed answer = 0.37 points)." in text
    assert "weak evidence" not in text
    report = json.loads((export_dir / "report.json").read_text())
    report["gate"].update(samples=12, criterion="failed (allowed by allow_few_samples)")
    (export_dir / "report.json").write_text(json.dumps(report))
    assert "**12** held-out examples" in _card(export_dir) and "weak evidence" in _card(export_dir)

