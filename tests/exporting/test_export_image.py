"""Export, gate, variants and faults on a small real image run (MobileNetV3-small 64 px, digits)."""

from __future__ import annotations

import dataclasses
import errno
import json
import re
from pathlib import Path

import numpy as np
import pytest

from hub.errors import ExportError, GateError

from hub.exporting.pipeline import export_run, validate_export
def test_layout_config_and_metadata(image_export: Path, image_run: Path) -> None:
    import onnx

    for name in ("onnx/model.onnx", "config.json", "report.json", "model.safetensors", "run.json", "summary.json",
                 "onnx/test_data_set_0/input_0.pb", "onnx/test_data_set_0/output_0.pb", "onnx/model.ort",
                 "onnx/required_operators.config"):
        assert (image_export / name).is_file(), name
    config = json.loads((image_export / "config.json").read_text())
    assert config["task"] == "image-classification" and config["pipeline_tag"] == "image-classification"
    assert config["label_names"] == [str(d) for d in range(10)] and config["id2label"]["3"] == "3"
    prep = config["preprocessing"]
    assert prep["size"] == [64, 64] and prep["kind"] == "image" and len(prep["mean"]) == 3
    assert config["input_names"] == ["pixel_values"] and config["output_names"] == ["logits"]
    assert config["opset"] == 18 and config["backbone"]["name"] == "mobilenet-v3-small"
    assert "fp32" in config["variants"] and config["ort_mobile"]["file"] == "onnx/model.ort"
    model = onnx.load(str(image_export / "onnx/model.onnx"))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["hub.task"] == "image-classification" and json.loads(props["hub.label_names"])[0] == "0"
    assert [i.name for i in model.graph.input] == ["pixel_values"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    report = json.loads((image_export / "report.json").read_text())
    fp32 = next(r for r in report["variants"] if r["variant"] == "fp32")
    assert fp32["passed"] and fp32["max_abs_diff"] < 1e-3 and fp32["batch_sizes"] == [1, 8]
    assert fp32["metrics"]["pytorch"]["accuracy"] > 0.3  # real samples, a fitted head: not chance
    leftovers = [p.name for p in image_export.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_test_data_set_passes_onnx_test_runner(image_export: Path, onnx_test_runner) -> None:
    import onnx
    from onnx import TensorProto, numpy_helper

    from hub import __version__

    data = image_export / "onnx/test_data_set_0"
    assert sorted(p.name for p in data.iterdir()) == ["input_0.pb", "output_0.pb"]
    tensor = TensorProto()
    tensor.ParseFromString((data / "input_0.pb").read_bytes())
    assert tensor.name == "pixel_values" and numpy_helper.to_array(tensor).shape == (8, 3, 64, 64)  # a real batch
    onnx_test_runner(image_export / "onnx")
    for name in ("model.onnx", "model_int8_dynamic.onnx"):
        model = onnx.load(str(image_export / "onnx" / name), load_external_data=False)
        assert (model.producer_name, model.producer_version, model.model_version) == ("hub", __version__, 1), name


def test_runtime_predicts_like_torch(image_export: Path, image_run: Path) -> None:
    import torch

    from hub import runtime
    from hub.exporting.samples import load_dataset
    from hub.plugins import get_hub
    from hub.training.rundir import load_run

    info, comps, model = load_run(image_run, get_hub().registry)
    images = load_dataset(info, comps).split("test").inputs[:10]
    loaded = runtime.load(image_export)
    results = loaded.predict(images)
    assert len(results) == 10 and set(results[0]) == {"label", "score", "probabilities"}
    assert abs(sum(results[0]["probabilities"].values()) - 1) < 1e-5
    from hub.runtime.preprocess import preprocess_images

    with torch.no_grad():
        want = model(torch.from_numpy(preprocess_images(images, loaded.config["preprocessing"]))).argmax(-1)
    assert [r["label"] for r in results] == [info.label_names[i] for i in want.tolist()]
    assert runtime.load(image_export, variant="int8-dynamic").variant == "int8-dynamic"
    with pytest.raises(runtime.RuntimeModelError, match="no variant 'fp16'"):
        runtime.load(image_export, variant="fp16")


def test_perturbed_weights_fail_the_gate(image_export: Path, tmp_path: Path, small_gate) -> None:
    import shutil

    import onnx
    from onnx import numpy_helper

    broken = tmp_path / "broken"
    shutil.copytree(image_export, broken)
    model = onnx.load(str(broken / "onnx/model.onnx"))
    init = max(model.graph.initializer, key=lambda t: numpy_helper.to_array(t).size if t.dims[:1] == [10] else 0)
    array = numpy_helper.to_array(init).copy()
    array += np.random.default_rng(0).normal(0, 0.05, array.shape).astype(array.dtype)
    init.CopyFrom(numpy_helper.from_array(array, init.name))
    onnx.save(model, str(broken / "onnx/model.onnx"))
    with pytest.raises(GateError, match=r"fp32: .*FAILED.*differ by more than atol.*worst: batch\d+ sample \d+ logits"):
        validate_export(broken, gate_options=small_gate)
    report = json.loads((broken / "report.json").read_text())
    assert report["passed"] is False and report["variants"][0]["worst"][0]["output"].startswith("logits[")


def test_validate_passes_on_a_good_export(image_export: Path, small_gate, keep_any) -> None:
    # the int8 variant's verdict under the default floor depends on the CPU: keep it as the export did
    report = validate_export(image_export, gate_options=dataclasses.replace(small_gate,
                                                                            tolerances=keep_any("int8-dynamic")))
    assert report["passed"] and {r["variant"] for r in report["variants"]} >= {"fp32", "int8-dynamic", "ort:fp32"}


def test_validate_applies_a_per_variant_tolerance(image_export: Path, small_gate, tmp_path: Path) -> None:
    import shutil

    from hub.errors import GateError
    from hub.exporting.gate import Tolerance

    copy = tmp_path / "copy"
    shutil.copytree(image_export, copy)  # validate rewrites report.json: keep the shared fixture intact
    strict = dataclasses.replace(small_gate, tolerances={"fp32": Tolerance(1e-12, 0.0, None)})
    with pytest.raises(GateError, match="fp32"):
        validate_export(copy, gate_options=strict)


@pytest.mark.parametrize("quantize, message", [(["fp32"], r"unknown variant\(s\) \['fp32'\]"), (["int4"], "int4")])
def test_unknown_or_fp32_variant_is_refused_before_anything_is_written(image_run: Path, tmp_path: Path,
                                                                         small_gate, quantize, message) -> None:
    with pytest.raises(ExportError, match=message):
        export_run(image_run, tmp_path / "out", quantize=quantize, gate_options=small_gate)
    assert not (tmp_path / "out").exists()


def test_external_data_and_unsafe_locations(image_run: Path, tmp_path: Path, small_gate) -> None:
    import onnx

    from hub import runtime

    out = tmp_path / "ext"
    export_run(image_run, out, gate_options=small_gate, external_data_threshold=0)
    assert (out / "onnx/model.onnx.data").is_file()
    assert runtime.load(out).predict([np.zeros((8, 8), np.uint8)])[0]["label"] in [str(d) for d in range(10)]
    path = out / "onnx/model.onnx"
    for location in ("../../etc/passwd", "/etc/passwd"):
        model = onnx.load(str(path), load_external_data=False)
        for tensor in model.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
        onnx.save(model, str(path))
        with pytest.raises(runtime.UnsafeModelError, match="outside the model's folder"):
            runtime.load(out)
        with pytest.raises(GateError, match="outside the model's folder"):
            validate_export(out, gate_options=small_gate)


def test_opset_errors_name_the_range(image_run: Path, tmp_path: Path, small_gate) -> None:
    with pytest.raises(ExportError, match=r"opset 25 is out of range.*7-20"):
        export_run(image_run, tmp_path / "a", opset=25, gate_options=small_gate)
    assert list(tmp_path.iterdir()) == []


def test_unsupported_operator_names_op_and_opset(tmp_path: Path) -> None:
    import torch

    from hub.exporting.onnx_export import export_onnx

    class Unfold(torch.nn.Module):  # aten::im2col exists from opset 11 on
        def forward(self, x):
            return torch.nn.functional.unfold(x, 2).mean(-1)

    with pytest.raises(ExportError, match=r"backbone t: operator aten::im2col cannot be exported at opset 9.*7-20"):
        export_onnx(Unfold(), ["pixel_values"], ["logits"], {"size": (8, 8)}, tmp_path / "m.onnx", 9, where="backbone t")
    assert list(tmp_path.iterdir()) == []


def test_bad_run_dirs(tmp_path: Path, image_run: Path) -> None:
    import shutil

    from hub.training.rundir import RunDirError

    with pytest.raises(RunDirError, match="not a run directory"):
        export_run(tmp_path, tmp_path / "out")
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    shutil.copy2(image_run / "run.json", incomplete / "run.json")
    with pytest.raises(RunDirError, match="no weights.safetensors"):
        export_run(incomplete, tmp_path / "out")
    old = tmp_path / "old"
    old.mkdir()
    data = json.loads((image_run / "run.json").read_text())
    data["hub_version"] = "0.0.1" if not data["hub_version"].startswith("0.") else "9.0.0"
    (old / "run.json").write_text(json.dumps(data))
    with pytest.raises(RunDirError, match="hub"):
        export_run(old, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["drop-head-key", "extra-key"])
def test_weights_missing_or_extra_keys_are_refused(image_run: Path, tmp_path: Path, small_gate, damage) -> None:
    """A run whose weights lack a key (or hold a foreign one) is refused, never exported half-random."""
    import shutil

    import safetensors.torch
    import torch

    from hub.training.rundir import RunDirError

    run = tmp_path / "run"
    shutil.copytree(image_run, run)
    state = safetensors.torch.load_file(str(run / "weights.safetensors"))
    if damage == "drop-head-key":
        key = next(k for k in state if k.startswith("head.") and k.endswith("bias"))
        del state[key]
        expected = rf"missing \['{re.escape(key)}'\]"
    else:
        state["head.stray.weight"] = torch.zeros(2)
        expected = r"unexpected \['head.stray.weight'\]"
    safetensors.torch.save_file(state, str(run / "weights.safetensors"))
    with pytest.raises(RunDirError, match=expected):
        export_run(run, tmp_path / "out", gate_options=small_gate)
    assert not (tmp_path / "out").exists()


def test_disk_full_leaves_nothing(image_run: Path, tmp_path: Path, small_gate, monkeypatch) -> None:
    from hub.exporting import pipeline
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline.gate, "write_test_data", full)
    with pytest.raises(ExportError, match="disk full"):
        export_run(image_run, tmp_path / "out", gate_options=small_gate)
    assert list(tmp_path.iterdir()) == []


def test_failing_variant_is_reported_not_kept(image_run: Path, tmp_path: Path, small_gate) -> None:
    from hub.exporting.gate import Tolerance

    strict = dataclasses.replace(small_gate, tolerances={"fp16": Tolerance(1e-9, 0.0, 1.0)})
    report = export_run(image_run, tmp_path / "out", quantize=["fp16"], gate_options=strict)
    assert report["rejected"] == ["fp16"] and report["kept"] == ["fp32"]
    assert not (tmp_path / "out/onnx/model_fp16.onnx").exists()
    config = json.loads((tmp_path / "out/config.json").read_text())
    assert list(config["variants"]) == ["fp32"]


def test_samples_ship_real_test_examples(image_export: Path) -> None:
    """samples/ holds test-split examples (distinct classes first) with their true labels, pixel-exact."""
    from PIL import Image

    from hub_vision.data.embedded import digits

    config = json.loads((image_export / "config.json").read_text())
    entries = config["samples"]
    assert [e["file"] for e in entries] == ["samples/0.png", "samples/1.png", "samples/2.png"]
    assert len({e["label"] for e in entries}) == 3
    test = digits().split("test")
    for entry in entries:
        pixels = np.asarray(Image.open(image_export / entry["file"]))
        matches = [i for i, x in enumerate(test.inputs) if x.shape == pixels.shape and np.array_equal(x, pixels)]
        assert matches and any(config["label_names"][test.labels[i]] == entry["label"] for i in matches)


def test_quantize_none_is_the_fp32_model_alone_whatever_the_recipe_asks(int8_recipe_run: Path, tmp_path: Path,
                                                                         capsys) -> None:
    from hub.cli import main

    def variants(out: Path) -> list[str]:
        return [v["variant"] for v in json.loads((out / "report.json").read_text())["variants"]]

    common = ["--max-samples", "64", "--no-progress"]
    assert main(["export", str(int8_recipe_run), "--out", str(tmp_path / "recipe"), *common]) == 0
    assert "int8-dynamic" in variants(tmp_path / "recipe")  # the recipe's list (kept or not: CPU-dependent)
    assert main(["export", str(int8_recipe_run), "--out", str(tmp_path / "none"), "--quantize", "none", *common]) == 0
    assert "int8-dynamic" not in variants(tmp_path / "none") and "fp32" in variants(tmp_path / "none")
    assert list(json.loads((tmp_path / "none" / "config.json").read_text())["variants"]) == ["fp32"]
    capsys.readouterr()
    for extra in (["--quantize", "none", "--quantize", "fp16"], ["--quantize", "none", "--target", "edge"]):
        assert main(["export", str(int8_recipe_run), "--out", str(tmp_path / "bad"), *extra, *common]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: --quantize none") and err.count("\n") == 1 and "Traceback" not in err
        assert not (tmp_path / "bad").exists()
