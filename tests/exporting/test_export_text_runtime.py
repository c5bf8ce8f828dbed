"""MiniLM export (dynamic batch and sequence), the torch-free runtime, and the CLI verbs."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hub.exporting.pipeline import export_run
TORCH_FREE = """
import json, sys
for name in ("torch", "onnx", "transformers", "safetensors"):
    sys.modules[name] = None  # any import of them now raises ImportError
import hub.runtime as runtime
model = runtime.load(sys.argv[1])
inputs = sys.argv[2:]  # strings, or image files
print(json.dumps({"results": model.predict(inputs), "variant": model.variant,
                  "heavy": sorted(m for m in ("torch", "onnx", "transformers") if sys.modules.get(m) is not None)}))
"""


@pytest.fixture(scope="module")
def text_export(text_run: Path, small_gate, keep_any, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exports") / "rt"
    # the tests below need the int8 variant kept, on any CPU (64 samples: one flipped review is 0.016
    # agreement, and int8 kernels differ between CPUs); int8 MiniLM's quality is measured in bench/
    options = dataclasses.replace(small_gate, tolerances=keep_any("int8-dynamic"))
    report = export_run(text_run, out, quantize=["int8-dynamic"], gate_options=options)
    assert "int8-dynamic" in report["kept"], [r.get("failures") for r in report["variants"]]
    return out


def test_text_export_layout_and_gate(text_export: Path, onnx_test_runner) -> None:
    import onnx

    config = json.loads((text_export / "config.json").read_text())
    assert config["preprocessing"]["kind"] == "text" and config["preprocessing"]["max_length"] == 64
    assert config["input_names"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert {"tokenizer.json", "tokenizer_config.json"} <= set(config["preprocessing"]["tokenizer_files"])
    assert (text_export / "tokenizer.json").is_file() and set(config["variants"]) == {"fp32", "int8-dynamic"}
    int8_ops = {n.op_type for n in onnx.load(str(text_export / "onnx/model_int8_dynamic.onnx")).graph.node}
    # attention traced plain, fused and quantised (QAttention); embeddings stay float (int8 tables cost accuracy)
    assert {"QAttention", "EmbedLayerNormalization"} <= int8_ops and "QEmbedLayerNormalization" not in int8_ops
    graph = onnx.load(str(text_export / "onnx/model.onnx"), load_external_data=False).graph
    dims = {i.name: [d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert dims["input_ids"] == ["batch", "sequence"]
    report = json.loads((text_export / "report.json").read_text())
    fp32 = report["variants"][0]
    assert fp32["passed"] and fp32["max_abs_diff"] < 1e-3 and fp32["batch_sizes"] == [1, 8]
    assert len(fp32["sequence_lengths"]) >= 2 and 64 in fp32["sequence_lengths"]  # the padded pass
    # three int64 inputs in the graph's order, checked by ONNX's own runner against model.onnx
    assert sorted(p.name for p in (text_export / "onnx/test_data_set_0").iterdir()) == [
        "input_0.pb", "input_1.pb", "input_2.pb", "output_0.pb"]
    onnx_test_runner(text_export / "onnx")


def _same_predictions(subprocess_results: list[dict], in_process: list[dict]) -> None:
    assert [r["label"] for r in subprocess_results] == [r["label"] for r in in_process]
    for got, want in zip(subprocess_results, in_process):
        assert got["probabilities"].keys() == want["probabilities"].keys()
        np.testing.assert_allclose(list(got["probabilities"].values()), list(want["probabilities"].values()),
                                   atol=1e-6)


def test_runtime_without_torch(text_export: Path, image_run: Path, small_gate, tmp_path: Path) -> None:
    """The torch-free process gives the very predictions the in-process runtime (and PyTorch) gives."""
    import torch

    from hub import runtime
    from hub.plugins import get_hub
    from hub.training.rundir import load_run

    texts = ["a wonderful, moving film", "dull and far too long", "an unwatchable, witless mess"]
    out = subprocess.run([sys.executable, "-c", TORCH_FREE, str(text_export), *texts],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["heavy"] == [] and len(data["results"]) == 3
    loaded = runtime.load(text_export)
    _same_predictions(data["results"], loaded.predict(texts))
    _, _, model = load_run(text_export, get_hub().registry, weights="model.safetensors")
    feeds = loaded.encode(texts)
    with torch.no_grad():
        want = model(*(torch.from_numpy(feeds[n]) for n in loaded.config["input_names"])).argmax(-1)
    assert [r["label"] for r in data["results"]] == [loaded.config["label_names"][i] for i in want.tolist()]
    from PIL import Image

    from hub.exporting.samples import load_dataset

    info, comps, _ = load_run(image_run, get_hub().registry)
    files = []
    for i, array in enumerate(load_dataset(info, comps).split("test").inputs[:6]):  # real test digits as PNGs
        files.append(str(tmp_path / f"digit-{i}.png"))
        Image.fromarray(np.asarray(array, dtype=np.uint8)).save(files[-1])
    image = tmp_path / "img"
    export_run(image_run, image, gate_options=small_gate)
    out = subprocess.run([sys.executable, "-c", TORCH_FREE, str(image), *files], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    _same_predictions(json.loads(out.stdout)["results"], runtime.load(image).predict(files))


def test_runtime_text_matches_gate_batches(text_export: Path) -> None:
    from hub import runtime

    model = runtime.load(text_export, variant="fp32")
    single = [model.logits([t])[0] for t in ("great", "a long and tedious mess of a movie")]
    both = model.logits(["great", "a long and tedious mess of a movie"])
    np.testing.assert_allclose(np.stack(single), both, atol=1e-4)  # padding does not change answers


def test_repo_id_without_pull_module_is_a_clear_error(monkeypatch) -> None:
    from hub import runtime

    monkeypatch.setitem(sys.modules, "hub.publish.pull", None)
    with pytest.raises(runtime.RuntimeModelError, match="hub.publish.pull"):
        runtime.load("someone/some-model@v1")
    with pytest.raises(runtime.RuntimeModelError, match="not a hub repo id"):
        runtime.load("no/such/folder")


def test_cli_predict_validate_and_errors(text_export: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from hub.cli import main  # the verbs as hub/cli registers them: no fixture adds them here

    assert main(["predict", str(text_export), "--text", "--json", "what a great film"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed[0]["input"] == "what a great film" and printed[0]["label"] in ("rotten", "fresh")
    assert main(["predict", str(text_export), "--text", "--variant", "int8-dynamic", "meh"]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "not a run directory" in err and len(err.splitlines()) == 1
    assert main(["predict", str(tmp_path), "x.png"]) == 1
    assert "not a hub export" in capsys.readouterr().err
    assert main(["validate", str(text_export), "--max-samples", "16"]) == 1  # under the gate's floor of 50
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "only 16 held-out samples" in errors[0] and "--allow-few-samples" in errors[0]
    assert main(["validate", str(text_export), "--max-samples", "64"]) == 0
    out = capsys.readouterr().out
    assert "every variant passed" in out and "gate: 64 held-out samples of the test split" in out


@pytest.mark.slow
def test_minilm_edge_target_picks_fastest(text_run: Path, tmp_path: Path) -> None:
    from hub.exporting.pipeline import GateOptions
    report = export_run(text_run, tmp_path / "edge", target="edge", gate_options=GateOptions(max_samples=487))
    config = json.loads((tmp_path / "edge/config.json").read_text())
    assert config["preferred_variant"] in config["variants"]
    timings = config["latency_ms_p50"]
    assert set(timings) == set(report["kept"])  # every kept variant was timed, no rejected one was
    assert "fp32" in report["kept"] and config["preferred_variant"] in report["kept"]


def test_text_e2e_graph_takes_raw_strings_and_answers_like_the_runtime(text_export: Path) -> None:
    """MiniLM's WordPiece tokenizer inside the graph (onnxruntime-extensions' BertTokenizer op): same
    probabilities as hub.runtime (tokenizers + plain graph), accents, emoji and truncation included."""
    from hub.exporting import e2e_text
    from hub.runtime import load

    config = json.loads((text_export / "config.json").read_text())
    report = json.loads((text_export / "report.json").read_text())
    entry = config["e2e"]
    assert entry["input"] == {"name": "text", "dtype": "string", "shape": [1], "texts_per_call": 1}
    judged = next(r for r in report["variants"] if r["variant"] == "e2e")
    assert judged["passed"] and judged["inputs"] == "raw strings" and judged["top1_agreement"] >= 0.99
    texts = [(text_export / s["file"]).read_text() for s in config["samples"]]
    texts += ["Café crème, naïve résumé", "🎬 emoji and ünïcödé", "a long review " * 80, "  spaces  "]
    probabilities, ids = e2e_text.run_texts(e2e_text.session(text_export / entry["file"]), texts)
    runtime = load(text_export)
    want = runtime.predict(texts)
    reference = np.array([[w["probabilities"][n] for n in runtime.label_names] for w in want])
    np.testing.assert_allclose(probabilities, reference, atol=1e-4)
    assert [config["label_names"][i] for i in ids] == [w["label"] for w in want]


def test_text_e2e_refuses_two_texts_and_needs_the_extensions(text_export: Path) -> None:
    import onnxruntime as ort

    from hub.exporting import e2e_text

    path = text_export / "onnx" / "model_e2e.onnx"
    with pytest.raises(Exception, match="BertTokenizer"):  # no custom-op library registered
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="index: 0 Got: 2 Expected: 1"):
        e2e_text.session(path).run(None, {"text": np.array(["one", "two"], dtype=object)})


def test_a_tokenizer_the_op_cannot_express_is_a_clear_reason(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from hub.errors import ExportError
    from hub.exporting.e2e_text import tokenizer_graph

    bpe = Tokenizer(models.BPE(vocab={"a": 0, "b": 1, "ab": 2, "<unk>": 3}, merges=[("a", "b")], unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=bpe).save_pretrained(tmp_path)
    with pytest.raises(ExportError, match="BertTokenizer op cannot express a "):
        tokenizer_graph(tmp_path, 16)
