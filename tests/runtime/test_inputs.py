"""hub.runtime on tricky inputs: empty texts, already-encoded arrays, 16-bit PNGs (tiny real ONNX models)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hub.runtime import InputError, load


def _save(graph, path: Path) -> None:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def _config(folder: Path, modality: str, preprocessing: dict, inputs: list[str], labels: list[str]) -> None:
    (folder / "config.json").write_text(json.dumps({
        "format": 1, "modality": modality, "task": "classification", "label_names": labels,
        "preprocessing": preprocessing, "input_names": inputs, "preferred_variant": "fp32",
        "variants": {"fp32": {"file": "onnx/model.onnx"}}}))


@pytest.fixture
def image_model(tmp_path: Path):
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["pixel_values"], ["flat"]), helper.make_node("MatMul", ["flat", "W"], ["logits"])],
        "img", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])], [w])
    _save(graph, tmp_path / "img" / "onnx" / "model.onnx")
    _config(tmp_path / "img", "image", {"kind": "image", "size": [8, 8], "channels": 1, "mean": [0.5], "std": [0.5]},
            ["pixel_values"], ["a", "b", "c"])
    return load(tmp_path / "img")


@pytest.fixture
def text_model(tmp_path: Path):
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, "good": 2, "bad": 3, "film": 4}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    folder = tmp_path / "txt"
    folder.mkdir()
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"pad_token": "[PAD]"}))
    # logits = [sum(ids == 2), sum(ids == 3)] over unmasked tokens: counts "good" vs "bad"
    nodes = [helper.make_node("Cast", ["input_ids"], ["ids"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["ids", "mask"], ["kept"]),
             helper.make_node("Unsqueeze", ["kept", "axis"], ["col"]),
             helper.make_node("Sub", ["col", "targets"], ["delta"]),
             helper.make_node("Abs", ["delta"], ["dist"]),
             helper.make_node("Less", ["dist", "half"], ["hit"]),
             helper.make_node("Cast", ["hit"], ["hits"], to=TensorProto.FLOAT),
             helper.make_node("ReduceSum", ["hits", "seq_axis"], ["logits"], keepdims=0)]
    inits = [numpy_helper.from_array(np.array([2], np.int64), "axis"),
             numpy_helper.from_array(np.array([2.0, 3.0], np.float32), "targets"),
             numpy_helper.from_array(np.array(0.5, np.float32), "half"),
             numpy_helper.from_array(np.array([1], np.int64), "seq_axis")]
    graph = helper.make_graph(nodes, "txt", [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])], inits)
    _save(graph, folder / "onnx" / "model.onnx")
    _config(folder, "text", {"kind": "text", "max_length": 16, "input_names": ["input_ids", "attention_mask"]},
            ["input_ids", "attention_mask"], ["positive", "negative"])
    return load(folder)


def test_text_model_classifies_and_refuses_empty_strings(text_model):
    assert [r["label"] for r in text_model.predict(["good good film", "bad film"])] == ["positive", "negative"]
    for bad in ("", "   \n"):
        with pytest.raises(InputError, match="text 1 is empty"):
            text_model.predict(["good film", bad])
    with pytest.raises(InputError, match="not str"):
        text_model.predict(["good", 3])


def test_text_logits_on_already_encoded_arrays(text_model):
    raw = text_model.logits(["good good film", "bad film"])
    encoded = text_model.encode(["good good film", "bad film"])
    np.testing.assert_array_equal(text_model.logits(encoded), raw)
    as_int32 = {k: v.astype(np.int32) for k, v in encoded.items()}  # dtype converted, not misread
    np.testing.assert_array_equal(text_model.logits(as_int32), raw)
    assert text_model.predict(encoded)[0]["label"] == "positive"
    with pytest.raises(InputError, match="lack 'attention_mask'"):
        text_model.logits({"input_ids": encoded["input_ids"]})
    with pytest.raises(InputError, match="ambiguous"):
        text_model.logits(encoded["input_ids"])


def test_image_logits_on_already_encoded_arrays(image_model):
    pixels = np.random.default_rng(1).integers(0, 255, (4, 8, 8), dtype=np.uint8)
    raw = image_model.logits(pixels)
    batch = image_model.encode(pixels)["pixel_values"]
    np.testing.assert_allclose(image_model.logits(batch), raw, atol=1e-6)
    np.testing.assert_allclose(image_model.logits({"pixel_values": batch.astype(np.float64)}), raw, atol=1e-5)
    assert [r["label"] for r in image_model.predict(batch)] == [r["label"] for r in image_model.predict(pixels)]
    with pytest.raises(InputError, match=r"float32 batch \(N, 1, 8, 8\)"):
        image_model.logits(np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(InputError, match="must be float32"):
        image_model.logits({"pixel_values": pixels[:, None]})


def test_sixteen_bit_png_decodes_like_its_8_bit_twin(image_model, tmp_path):
    from PIL import Image

    pixels = np.random.default_rng(2).integers(0, 255, (8, 8), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "eight.png")
    Image.fromarray(pixels.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")
    assert Image.open(tmp_path / "sixteen.png").mode.startswith("I")
    np.testing.assert_array_equal(image_model.logits([tmp_path / "sixteen.png"]), image_model.logits([tmp_path / "eight.png"]))
