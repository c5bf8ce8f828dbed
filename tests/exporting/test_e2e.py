"""The e2e graph (decoded uint8 RGB image in, probabilities out): the in-graph preprocessing against
``hub.runtime``'s Pillow pipeline pixel for pixel, its gate on image files, its contract and its errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hub.errors import GateError

BASE = {"size": [64, 64], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "crop_pct": 0.875,
        "interpolation": "bicubic"}


def _photo_like(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth colour image with some edges: gradients plus a few flat blocks, uint8 RGB."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack([127 + 100 * np.sin(x / (7 + c) + y / (11 + 3 * c) + c) for c in range(3)], axis=-1)
    for _ in range(4):
        top, left = rng.integers(0, height), rng.integers(0, width)
        image[top:top + height // 5, left:left + width // 5] = rng.integers(0, 256, 3)
    return np.clip(image, 0, 255).astype(np.uint8)


def _session(contract: dict):
    import onnxruntime as ort

    from hub.exporting.e2e import preprocessing_model

    return ort.InferenceSession(preprocessing_model(contract).SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("change", [{}, {"crop_pct": 1.0}, {"interpolation": "bilinear"}, {"size": [48, 80]},
                                    {"color_order": "BGR"}, {"channels": 1, "mean": [0.5], "std": [0.25]}],
                         ids=["bicubic-crop", "stretch", "bilinear", "non-square", "bgr", "grey"])
def test_in_graph_preprocessing_matches_the_runtime(change: dict) -> None:
    """Same shapes; the same values but for one uint8 step on a few pixels in ten thousand (Pillow's
    double vs onnxruntime's float32 filter coefficients; measured: at most 0.8%, bilinear 8 px -> 64). A wrong crop offset, cover size, edge rule
    (exclude_outside), mean or channel order breaks this."""
    from hub.runtime.preprocess import check_contract, preprocess_images

    contract = {**BASE, **change}
    session = _session(contract)
    step = float(check_contract(contract).affine()[0].max())  # one uint8 step, normalised
    for seed, (height, width) in enumerate([(8, 8), (480, 640), (333, 500), (64, 64), (600, 401), (73, 72)]):
        image = _photo_like(height, width, seed)
        want = preprocess_images([image], contract)
        got = session.run(None, {"image": image[None]})[0]
        assert got.shape == want.shape
        steps = np.abs(got - want) / step
        assert steps.max() <= 1.01 and (steps > 0.5).mean() < 0.01, (height, width, steps.max())


def test_nearest_matches_exactly_on_exact_scales() -> None:
    from hub.runtime.preprocess import preprocess_images

    contract = {**BASE, "interpolation": "nearest", "crop_pct": 1.0}
    image = _photo_like(256, 192, 0)
    got = _session(contract).run(None, {"image": image[None]})[0]
    np.testing.assert_array_equal(got, preprocess_images([image], contract))


def test_export_ships_a_gated_e2e_graph(image_export: Path) -> None:
    import onnx

    config = json.loads((image_export / "config.json").read_text())
    report = json.loads((image_export / "report.json").read_text())
    entry = config["e2e"]
    assert entry["file"] == "onnx/model_e2e.onnx" and (image_export / entry["file"]).is_file()
    assert entry["input"] == {"name": "image", "dtype": "uint8", "shape": ["batch", "height", "width", 3],
                              "layout": "NHWC", "color_order": "RGB"}
    assert "e2e" not in config["variants"]  # not interchangeable with the plain graphs: its own contract
    judged = next(r for r in report["variants"] if r["variant"] == "e2e")
    floor = config["gate"]["tolerances"]["fp32"]["min_agreement"]
    assert judged["passed"] and judged["inputs"] == "image files"
    assert judged["top1_agreement"] >= floor and entry["top1_agreement"] == judged["top1_agreement"]
    assert judged["criteria"]["top1_agreement"] == "passed" and judged["criteria"]["outputs"] == "passed"
    assert judged["batch_sizes"][0] == 1 and len(judged["batch_sizes"]) == 2  # digits: one size, so a batch too
    model = onnx.load(str(image_export / entry["file"]))
    props = {p.key: p.value for p in model.metadata_props}
    assert props["hub.variant"] == "e2e" and json.loads(props["hub.input_names"]) == ["image"]
    assert [o.name for o in model.graph.output] == ["probabilities", "label_id"]


def test_e2e_labels_the_shipped_samples_as_the_runtime_does(image_export: Path) -> None:
    import onnxruntime as ort

    import hub.runtime
    from hub.runtime.preprocess import decode_rgb

    config = json.loads((image_export / "config.json").read_text())
    model = hub.runtime.load(image_export)
    files = [image_export / s["file"] for s in config["samples"]]
    want = [answer["label"] for answer in model.predict(files)]
    session = ort.InferenceSession(str(image_export / config["e2e"]["file"]), providers=["CPUExecutionProvider"])
    got = []
    for path in files:
        probabilities, label_id = session.run(None, {"image": decode_rgb(path)[None]})
        assert probabilities.shape == (1, len(config["label_names"])) and label_id.dtype == np.int64
        got.append(config["label_names"][int(label_id[0])])
    assert got == want


def test_each_kept_variant_gets_its_own_gated_e2e_graph(image_export: Path) -> None:
    """int8-dynamic is kept in this export, so an int8 e2e graph is made from it, gated with int8's
    tolerance, and answers the shipped samples as the int8 plain graph does under hub.runtime."""
    import onnxruntime as ort

    import hub.runtime
    from hub.runtime.preprocess import decode_rgb

    config = json.loads((image_export / "config.json").read_text())
    report = json.loads((image_export / "report.json").read_text())
    extra = config["e2e"]["variants"]["int8-dynamic"]
    assert extra["file"] == "onnx/model_e2e_int8_dynamic.onnx" and extra["size_bytes"] > 0
    assert extra["size_bytes"] < config["e2e"].get("size_bytes", float("inf"))  # int8 weights: smaller
    judged = next(r for r in report["variants"] if r["variant"] == "e2e:int8-dynamic")
    assert judged["passed"] and judged["tolerance"] == config["gate"]["tolerances"]["int8-dynamic"]
    files = [image_export / s["file"] for s in config["samples"]]
    int8 = hub.runtime.load(image_export, variant="int8-dynamic")
    want = [int8.predict(f)[0]["label"] for f in files]  # one at a time: int8-dynamic scales per batch
    session = ort.InferenceSession(str(image_export / extra["file"]), providers=["CPUExecutionProvider"])
    got = [config["label_names"][int(session.run(None, {"image": decode_rgb(f)[None]})[1][0])] for f in files]
    assert got == want


@pytest.mark.parametrize("feed, message", [
    (np.zeros((1, 8, 8, 3), np.float32), r"Actual: \(tensor\(float\)\) , expected: \(tensor\(uint8\)\)"),
    (np.zeros((8, 8, 3), np.uint8), "Invalid rank for input: image Got: 3 Expected: 4"),  # no batch axis
    (np.zeros((1, 8, 8, 4), np.uint8), "input: image .*\n index: 3 Got: 4 Expected: 3"),  # RGBA: convert to RGB
], ids=["float", "no-batch-axis", "rgba"])
def test_bad_input_gets_onnxruntimes_own_clear_error(image_export: Path, feed, message) -> None:
    """The errors docs/deploy.md quotes: wrong dtype, rank or channel count, each named by onnxruntime."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(image_export / "onnx/model_e2e.onnx"), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match=message):
        session.run(None, {"image": feed})


def test_validate_rejudges_the_e2e_graph_and_refuses_a_wrong_one(image_export: Path, tmp_path: Path,
                                                                  small_gate) -> None:
    """A graph whose in-graph preprocessing is off (here: the crop skipped) fails ``hub validate``."""
    from hub.exporting.e2e import build_e2e
    from hub.exporting.pipeline import validate_export

    copy = tmp_path / "export"
    shutil.copytree(image_export, copy)
    report = validate_export(copy, gate_options=small_gate)
    assert next(r for r in report["variants"] if r["variant"] == "e2e")["passed"]
    config = json.loads((copy / "config.json").read_text())
    wrong = {**config["preprocessing"], "crop_pct": 0.25, "mean": [0.9, 0.1, 0.9]}
    wrong.pop("kind")
    build_e2e(copy / "onnx/model.onnx", copy / "onnx/model_e2e.onnx", wrong)
    with pytest.raises(GateError, match="e2e"):
        validate_export(copy, gate_options=small_gate)


def test_an_e2e_graph_that_fails_the_gate_is_not_kept_and_the_export_says_why(image_run: Path, tmp_path: Path,
                                                                                small_gate, monkeypatch) -> None:
    """A fault injected at the hub's own seam: the builder gets a wrong crop and mean (what a broken
    in-graph preprocessing looks like). The gate rejects the graph; the rest of the export stands."""
    from hub.exporting import e2e
    from hub.exporting.pipeline import export_run

    build = e2e.build_e2e

    def broken(plain, dest, contract, **kwargs):
        wrong = {k: v for k, v in contract.items() if k != "kind"} | {"crop_pct": 0.25, "mean": [0.9, 0.1, 0.9]}
        return build(plain, dest, wrong, **kwargs)

    monkeypatch.setattr(e2e, "build_e2e", broken)
    report = export_run(image_run, tmp_path / "out", quantize=[], gate_options=small_gate)
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert "e2e" not in config and config["e2e_missing"].startswith("the e2e graph failed the validation gate: ")
    assert not (tmp_path / "out" / "onnx" / "model_e2e.onnx").exists()
    judged = next(r for r in report["variants"] if r["variant"] == "e2e")
    assert not judged["passed"] and judged["criteria"]["top1_agreement"] == "failed"
    assert report["passed"] and "e2e" in report["rejected"] and report["kept"] == ["fp32"]


def test_which_exports_get_an_e2e_graph() -> None:
    from hub.exporting.e2e import supported

    assert supported("image", "cross-entropy") is None and supported("text", "cross-entropy") is None
    assert "softmax" in supported("image", "mse")
