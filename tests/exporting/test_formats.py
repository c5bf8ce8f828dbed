"""Edge formats (issue 24): OpenVINO and LiteRT made from the same trained run, each judged by the gate
in its own runtime, loaded by ``hub.runtime.load(runtime=...)`` with the ONNX model's answers.

Real parts throughout: OpenVINO's ONNX frontend, NNCF, litert-torch, AI Edge Quantizer, OpenVINO's CPU
plugin and the LiteRT interpreter. No int8 verdict is assumed: integer kernels differ between CPUs.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import hub.runtime as runtime
from hub.errors import ExportError, RuntimeModelError
from hub.exporting import gate

FORMAT_VARIANTS = ("openvino:fp32", "openvino:bf16", "openvino:int8", "litert:fp32", "litert:int8")


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _digits(count: int = 64) -> np.ndarray:
    """Held-out-like digits as a deployer passes them: uint8 grey images (N, 8, 8)."""
    from sklearn.datasets import load_digits

    images = load_digits().images[-count:]
    return np.clip(images * 16, 0, 255).astype(np.uint8)


def test_each_format_is_gated_in_its_own_runtime_and_only_what_passed_is_kept(image_export):
    report, config = _json(image_export / "report.json"), _json(image_export / "config.json")
    entries = {r["variant"]: r for r in report["variants"]}
    assert set(FORMAT_VARIANTS) <= set(entries)
    for name in FORMAT_VARIANTS:
        assert entries[name]["runtime"] == name.split(":")[0]
    for name in ("openvino:fp32", "litert:fp32"):  # fp32 is judged element-wise, like ONNX fp32
        entry = entries[name]
        assert entry["passed"], entry["failures"]
        assert entry["criteria"]["elementwise"] == "passed" and entry["max_abs_diff"] < 1e-3
        assert entry["samples"] == 64 and entry["batch_sizes"] == [1, 8]
    import openvino as ov

    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        assert entries["openvino:bf16"]["criteria"]["elementwise"] == "not judged"  # judged by metric + agreement
        assert "top1_agreement" in entries["openvino:bf16"]
    else:
        assert "no native bf16" in entries["openvino:bf16"]["failures"][0]
    kept = {f"{fmt}:{v}" for fmt, e in config["formats"].items() for v in e["variants"]}
    assert kept == {n for n in FORMAT_VARIANTS if entries[n]["passed"]}
    # config.json lists exactly what the folders hold: no failed variant, no converter leftover
    listed = {f for e in config["formats"].values() for v in e["variants"].values() for f in v["files"]}
    on_disk = {p.relative_to(image_export).as_posix() for d in ("openvino", "litert")
               for p in (image_export / d).rglob("*") if p.is_file()}
    assert listed == on_disk and not any(".partial" in f for f in on_disk)
    fp32 = config["formats"]["litert"]["variants"]["fp32"]
    assert fp32["file"] == "litert/model.tflite" and fp32["size_bytes"] == (image_export / fp32["file"]).stat().st_size


@pytest.mark.parametrize("which", ["openvino", "litert"])
def test_runtime_load_predicts_the_onnx_models_labels(image_export, which):
    images = _digits()
    want = [r["label"] for r in runtime.load(image_export, variant="fp32").predict(images)]
    model = runtime.load(image_export, runtime=which, variant="fp32", threads=2)
    assert model.variant == f"{which}:fp32"
    got = model.predict(images, batch_size=8)
    assert [r["label"] for r in got] == want
    assert abs(sum(got[0]["probabilities"].values()) - 1) < 1e-4
    one = model.predict(images[0])  # one image, batch 1: the file's own shape
    assert one[0]["label"] == want[0]


def test_runtime_load_errors_are_one_line(image_export, image_run, monkeypatch):
    with pytest.raises(RuntimeModelError, match="unknown runtime 'tvm'; choose from onnxruntime, openvino, litert"):
        runtime.load(image_export, runtime="tvm")
    with pytest.raises(RuntimeModelError, match="no litert variant 'bf16'; this export has fp32"):
        runtime.load(image_export, runtime="litert", variant="bf16")
    monkeypatch.setitem(sys.modules, "openvino", None)  # Python's own way to make a package unimportable
    with pytest.raises(RuntimeModelError, match=r"pip install 'zoohub\[openvino\]'"):
        runtime.load(image_export, runtime="openvino")


def test_an_export_without_formats_says_how_to_make_them(tmp_path, image_export):
    plain = tmp_path / "plain"
    shutil.copytree(image_export, plain, ignore=shutil.ignore_patterns("openvino", "litert"))
    config = _json(plain / "config.json")
    del config["formats"]
    (plain / "config.json").write_text(json.dumps(config))
    with pytest.raises(RuntimeModelError, match="has no openvino files .*export with --format onnx,openvino"):
        runtime.load(plain, runtime="openvino")


def test_validate_regates_every_format_and_leaves_a_missing_runtime_unjudged(tmp_path, image_export, monkeypatch):
    from hub.cli import main

    folder = tmp_path / "export"
    shutil.copytree(image_export, folder)
    before = _json(folder / "report.json")
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # the deployer's machine has OpenVINO, not LiteRT
    assert main(["validate", str(folder), "--max-samples", "64"]) == 0
    report = _json(folder / "report.json")
    litert_kept = [f"litert:{v}" for v in _json(folder / "config.json")["formats"]["litert"]["variants"]]
    assert set(report["not_judged"]) == set(litert_kept)
    assert all("pip install 'zoohub[litert]'" in why for why in report["not_judged"].values())
    entries = {r["variant"]: r for r in report["variants"]}
    old = {r["variant"]: r for r in before["variants"]}
    assert entries["openvino:fp32"]["passed"] and entries["openvino:fp32"]["runtime"] == "openvino"
    for name in litert_kept:  # not judged here: the export's verdict stays as recorded
        assert entries[name] == old[name]


def test_bad_format_requests_are_one_line_before_any_work(tmp_path, image_run, monkeypatch, capsys):
    from hub.cli import main

    out = tmp_path / "out"
    assert main(["export", str(image_run), "--out", str(out), "--format", "onnx,tensorrt"]) == 1
    err = capsys.readouterr().err
    assert "unknown export format(s) 'tensorrt'; choose from onnx, openvino, litert" in err
    assert "Traceback" not in err and not out.exists()
    monkeypatch.setitem(sys.modules, "litert_torch", None)  # as if the edge extra were not installed
    assert main(["export", str(image_run), "--out", str(out), "--format", "litert"]) == 1
    err = capsys.readouterr().err
    assert "needs the Python package(s) litert_torch" in err and "pip install 'zoohub[edge]'" in err
    assert "Traceback" not in err and not out.exists()


def test_a_converter_failure_is_a_verdict_and_the_other_formats_still_export(tmp_path):
    import torch

    from hub.exporting.formats.make import Context, export_formats
    from hub.model import build_task
    from hub.plugins import get_hub
    from hub.progress import Steps

    # The model litert-torch gets cannot be traced on the example (a Linear over 12 features fed
    # (1, 3, 2, 2): torch.export fails inside the converter's own process); the ONNX file OpenVINO
    # converts from is the working graph. Both are importable torch.nn modules, as the spawned
    # converter process needs.
    torch.manual_seed(0)
    working = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3)).eval()
    broken = working[1]
    raw = np.random.default_rng(0).standard_normal((64, 3, 2, 2)).astype(np.float32)
    onnx_path = tmp_path / "model.onnx"
    torch.onnx.export(working, (torch.from_numpy(raw[:2]),), str(onnx_path), input_names=["pixel_values"],
                      output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("batch")},))
    with torch.no_grad():
        labels = working(torch.from_numpy(raw)).argmax(-1).numpy()
    task = build_task(get_hub().registry.get("task", "image-classification"), {}, 3)
    ref = gate.build_reference(working, raw, labels, lambda items: {"pixel_values": np.asarray(items, np.float32)},
                               input_names=("pixel_values",), output_names=("logits",), task=task,
                               primary_metric="accuracy", batch_sizes=(1, 8))
    context = Context(model=broken, fp32_onnx=onnx_path, input_names=("pixel_values",),
                      example={"pixel_values": raw[:1]}, calibration=[{"pixel_values": raw[:16]}])
    results: list[dict] = []
    tolerances = gate.default_tolerances(1e-4, 1e-3, 1.0)
    with Steps(10, "formats") as step:
        kept = export_formats(step, tmp_path, ["onnx", "openvino", "litert"], context, tolerances, ref, 2, results)
    by_name = {r["variant"]: r for r in results}
    assert by_name["litert:fp32"]["passed"] is False
    assert by_name["litert:fp32"]["failures"][0].startswith("litert: conversion failed: ")
    assert "could not be made" in by_name["litert:int8"]["failures"][0]
    assert "openvino:fp32" in {k.name for k in kept} and by_name["openvino:fp32"]["max_abs_diff"] < 1e-4
    assert not (tmp_path / "litert").exists()  # nothing half-written stays


def test_the_edge_choice_takes_the_fastest_pair_that_passed_and_trusts_reduced_precision_only_on_enough_samples():
    from hub.exporting.choice import decide_runtime

    results = [{"variant": "openvino:bf16", "passed": True, "criteria": {"top1_agreement": "passed"}},
               {"variant": "litert:int8", "passed": True, "criteria": {"top1_agreement": "failed"}},
               {"variant": "openvino:fp32", "passed": True, "criteria": {"elementwise": "passed"}}]
    timings = {"openvino:bf16": 2.0, "litert:int8": 1.0, "openvino:fp32": 4.0}
    pick = decide_runtime("fp32", 8.0, timings, results, {"criterion": "passed"})
    assert (pick["runtime"], pick["variant"]) == ("openvino", "bf16")  # litert:int8 failed a criterion
    assert "openvino:fp32 4.00 ms" in pick["why"] and "onnxruntime:fp32 8.00 ms" in pick["why"]
    few = decide_runtime("fp32", 8.0, timings, results, {"criterion": "failed (allowed by allow_few_samples)"})
    assert (few["runtime"], few["variant"]) == ("openvino", "fp32")  # fp32 needs no trust in the sample count
    slow = decide_runtime("int8-dynamic", 0.5, timings, results, {"criterion": "passed"})
    assert (slow["runtime"], slow["variant"]) == ("onnxruntime", "int8-dynamic")


def test_unknown_formats_and_tools_are_refused_by_the_api_too():
    from hub.exporting.formats import check_tools, parse

    assert parse("litert, OpenVINO,onnx") == ["onnx", "litert", "openvino"]
    assert parse(None) == ["onnx"]
    with pytest.raises(ExportError, match="unknown export format"):
        parse(["onnx", "ncnn"])
    check_tools(["onnx", "openvino", "litert"])  # installed here by the edge extra


def test_the_formats_files_are_publishable_and_look_alikes_are_not(tmp_path, image_export):
    from hub.publish.files import check_files, content_problem, type_problem

    listed = [p.relative_to(image_export).as_posix() for p in image_export.rglob("*") if p.is_file()]
    # IR pairs, .tflite, and --target ort-mobile's .ort + operator list pass, by name and content
    assert {"openvino/model.xml", "litert/model.tflite", "onnx/model.ort", "onnx/required_operators.config"} <= set(listed)
    check_files(image_export, listed, where="the export")
    assert str(image_export.parent) not in (image_export / "onnx" / "required_operators.config").read_text()
    assert type_problem("openvino/model.bin", ["openvino/model.bin"]) is not None  # a lone .bin: pickle suffix
    assert type_problem("weights.bin", ["weights.bin", "other.xml"]) is not None   # not the weights of an IR
    assert type_problem("openvino/model.bin", ["openvino/model.bin", "openvino/model.xml"]) is None
    fake = tmp_path / "model.tflite"
    fake.write_bytes(b"\x80\x04\x95" + bytes(32))  # a pickle renamed .tflite
    assert "TFL3" in content_problem(fake)
    fake.rename(tmp_path / "model.ort")
    assert "ORTM" in content_problem(tmp_path / "model.ort")
    xml = tmp_path / "model.xml"
    xml.write_text("<html><body>not a graph</body></html>")
    assert "OpenVINO IR" in content_problem(xml)
    zipped = tmp_path / "model.bin"
    zipped.write_bytes(b"PK\x03\x04" + bytes(32))  # torch.save's zip renamed to an IR's weights
    assert "zip" in content_problem(zipped)


def test_the_recipe_key_takes_the_formats_and_refuses_others():
    from hub import api
    from hub.errors import HubError

    assert api.recipe("digits-lite0", overrides=['export.formats=["onnx","litert"]']).export.formats == ["onnx", "litert"]
    assert api.recipe("digits-lite0").export.formats == ["onnx"]  # ONNX only unless asked
    with pytest.raises(HubError, match="'ncnn' is not one of 'onnx', 'openvino', 'litert'"):
        api.recipe("digits-lite0", overrides=['export.formats=["onnx","ncnn"]'])


def test_hub_predict_runs_each_runtime_and_names_a_missing_format(tmp_path, image_export, capsys):
    from PIL import Image

    from hub.cli import main

    path = tmp_path / "seven.png"
    Image.fromarray(_digits(1)[0]).save(path)
    labels = {}
    for which in ("onnxruntime", "openvino", "litert"):
        assert main(["predict", str(image_export), str(path), "--runtime", which, "--variant", "fp32"]) == 0
        labels[which] = capsys.readouterr().out.split("\t")[0]
    assert len(set(labels.values())) == 1, labels
    plain = tmp_path / "plain"
    shutil.copytree(image_export, plain, ignore=shutil.ignore_patterns("litert"))
    config = _json(plain / "config.json")
    config["formats"].pop("litert")
    (plain / "config.json").write_text(json.dumps(config))
    assert main(["predict", str(plain), str(path), "--runtime", "litert"]) == 1
    assert "has no litert files" in capsys.readouterr().err


@pytest.mark.parametrize("which, damaged", [("litert", "litert/model.tflite"), ("openvino", "openvino/model.xml")])
def test_a_damaged_format_file_is_one_line_naming_it(tmp_path, image_export, which, damaged):
    folder = tmp_path / "export"
    shutil.copytree(image_export, folder)
    (folder / damaged).write_bytes((folder / damaged).read_bytes()[:200])  # a truncated download
    with pytest.raises(RuntimeModelError, match=rf"{damaged.split('/')[1]}: .*cannot load it: \S") as caught:
        runtime.load(folder, runtime=which, variant="fp32")
    assert "\n" not in str(caught.value)
