"""The gate cannot be fooled: each criterion fails a planted bad variant on its own, a tiny test split
is refused, a failed fp32 leaves nothing but its report, and report.json keeps one schema.

Bad variants are planted by damaging a real exported file (the class-0 bias of the head is raised,
so most samples change class); everything else is the real pipeline, onnxruntime and data.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hub.errors import GateError

from hub.exporting.pipeline import export_run, validate_export
from hub.exporting import build, gate, variants
from hub.exporting.gate import Tolerance


def plant(path: Path, shift: float = 8.0) -> None:
    """Raise the head's class-0 bias in the ONNX file at ``path``: a variant that disagrees with PyTorch."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    bias = next(t for t in model.graph.initializer if list(t.dims) == [10])
    array = numpy_helper.to_array(bias).copy()
    array[0] += np.asarray(shift, dtype=array.dtype)
    bias.CopyFrom(numpy_helper.from_array(array, bias.name))
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def planted_export(image_run: Path, small_gate, tmp_path_factory) -> Path:
    """An export whose fp16 variant was damaged right after it was made; only agreement can reject it."""
    real = variants.make_variant

    def damaged(name, src, dst, **kwargs):
        out = real(name, src, dst, **kwargs)
        if name == "fp16":
            plant(Path(dst))
        return out

    out = tmp_path_factory.mktemp("planted") / "export"
    # no element-wise check and a 100-point budget for fp16: the agreement floor is all that stands
    options = dataclasses.replace(small_gate, tolerances={"fp16": Tolerance(None, 0.0, 100.0)})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(variants, "make_variant", damaged)
        export_run(image_run, out, quantize=["fp16"], gate_options=options)
    return out


@pytest.fixture(scope="module")
def reference(image_run: Path, small_gate):
    from hub.exporting.samples import load_dataset, make_encoder
    from hub.plugins import get_hub
    from hub.training.rundir import load_run

    info, comps, model = load_run(image_run, get_hub().registry)
    encode = make_encoder(info.input, comps.backbone_spec.input_names, None)
    ref, facts = build.reference(info, comps, model, None, small_gate, encode, load_dataset(info, comps))
    return ref, facts


def test_planted_low_agreement_variant_is_rejected(planted_export: Path) -> None:
    report = json.loads((planted_export / "report.json").read_text())
    assert report["format"] == 1 and report["rejected"] == ["fp16"] and report["kept"] == ["fp32"]
    fp16 = next(r for r in report["variants"] if r["variant"] == "fp16")
    assert fp16["passed"] is False and fp16["top1_agreement"] < 0.98
    assert fp16["criteria"] == {"structural": "passed", "elementwise": "not judged", "metric_drop": "passed",
                                "top1_agreement": "failed"}
    assert any(f.startswith("top-1 agreement") and "below the floor 0.98" in f for f in fp16["failures"])
    assert fp16["tolerance"]["min_agreement"] == 0.98  # the default floor filled in, not dropped by --tolerance
    assert not (planted_export / "onnx" / variants.FILES["fp16"]).exists()
    assert list(json.loads((planted_export / "config.json").read_text())["variants"]) == ["fp32"]


@pytest.fixture
def planted_copy(planted_export: Path, tmp_path: Path) -> Path:
    """A copy of the export's fp32 graph with the class-0 bias planted (the model changes, the gate must see it)."""
    bad = tmp_path / "bad.onnx"
    shutil.copy2(planted_export / "onnx/model.onnx", bad)
    plant(bad)
    return bad


def test_metric_drop_alone_fails_a_variant(reference, planted_copy: Path) -> None:
    ref, _ = reference
    bad = planted_copy
    result = gate.check_variant("int8-dynamic", bad, ref, Tolerance(None, 0.0, 1.0, 0.0))
    assert result["passed"] is False and result["metric_drop_points"] > 1.0
    assert result["criteria"]["metric_drop"] == "failed" and result["criteria"]["top1_agreement"] == "passed"
    assert result["failures"] == [f"accuracy drops {result['metric_drop_points']:.2f} points "
                                  f"({result['metrics']['pytorch']['accuracy']:.4f} -> "
                                  f"{result['metrics']['onnx']['accuracy']:.4f}), budget 1"]
    generous = gate.check_variant("int8-dynamic", bad, ref, Tolerance(None, 0.0, 100.0, 0.0))
    assert generous["passed"] and generous["criteria"]["metric_drop"] == "passed"  # the budget is what decided


def test_agreement_alone_fails_a_variant(reference, planted_export: Path, planted_copy: Path) -> None:
    ref, _ = reference
    bad = planted_copy
    result = gate.check_variant("int8-dynamic", bad, ref, Tolerance(None, 0.0, 100.0, 0.95))
    assert result["passed"] is False and [c for c, v in result["criteria"].items() if v == "failed"] == \
        ["top1_agreement"]
    changed = int(round((1 - result["top1_agreement"]) * len(ref.labels)))
    assert result["failures"] == [f"top-1 agreement {result['top1_agreement']:.3f} is below the floor 0.95 "
                                  f"({changed} of {len(ref.labels)} samples changed class)"]
    good = gate.check_variant("fp32", planted_export / "onnx/model.onnx", ref, Tolerance(1e-4, 1e-3, 1.0, 0.99))
    assert good["passed"] and good["top1_agreement"] >= 0.99 and gate.passes_every_criterion(good)


def test_tiny_test_split_is_refused_unless_allowed(image_run: Path, small_gate, tmp_path: Path) -> None:
    tiny = dataclasses.replace(small_gate, max_samples=12)
    with pytest.raises(GateError, match=r"only 12 held-out samples .* floor of 50 .*--allow-few-samples"):
        export_run(image_run, tmp_path / "out", gate_options=tiny)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
    allowed = dataclasses.replace(tiny, allow_few_samples=True)
    report = export_run(image_run, tmp_path / "out", gate_options=allowed)
    facts = report["gate"]
    assert facts["samples"] == 12 and facts["criterion"].startswith("failed") and facts["allow_few_samples"]
    assert "only 12 held-out samples" in facts["warnings"][0]
    assert report["preferred_variant"] == "fp32"
    # validate honours the allowance the export recorded, and says the same in the same shape
    before = (tmp_path / "out/report.json").read_text()
    validate_export(tmp_path / "out", gate_options=tiny)
    assert (tmp_path / "out/report.json").read_text() == before


def test_failed_fp32_exports_nothing_and_writes_the_failed_report(image_run: Path, small_gate,
                                                                   tmp_path: Path) -> None:
    exact = dataclasses.replace(small_gate, tolerances={"fp32": Tolerance(0.0, 0.0, None)})
    with pytest.raises(GateError, match=r"nothing exported; details in .*out\.failed-report\.json"):
        export_run(image_run, tmp_path / "out", quantize=["int8-dynamic"], gate_options=exact)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.failed-report.json"]
    failed = json.loads((tmp_path / "out.failed-report.json").read_text())
    assert failed["format"] == 1 and failed["passed"] is False and failed["kept"] == []
    assert [r["variant"] for r in failed["variants"]] == ["fp32"]  # no variant was made from a failed fp32
    assert failed["variants"][0]["criteria"]["elementwise"] == "failed"
    assert failed["variants"][0]["file"] == "onnx/model.onnx" and failed["gate"]["samples"] == 64


def test_validate_keeps_the_schema_and_the_rejected_variants(planted_export: Path, small_gate,
                                                             tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(planted_export, copy)
    before = (copy / "report.json").read_text()
    report = validate_export(copy, gate_options=small_gate)
    assert (copy / "report.json").read_text() == before  # same machine, same model: the same bytes
    assert report["rejected"] == ["fp16"] and report["passed"] is True
    assert set(report) == set(json.loads(before))
    assert "seconds" not in before and str(copy.parent) not in before  # no timings, no absolute paths


def test_edge_prefers_only_variants_that_pass_every_criterion(reference, planted_export: Path,
                                                              tmp_path: Path) -> None:
    """A trivially fast planted graph wins on latency only when every criterion passed."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    ref, facts = reference
    fast = tmp_path / "fast.onnx"
    weights = numpy_helper.from_array(np.ones((3, 10), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["pixel_values"], ["pooled"], axes=[2, 3], keepdims=0),
         helper.make_node("MatMul", ["pooled", "W"], ["logits"])], "fast",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, 64, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(fast))
    kept = {"fp32": planted_export / "onnx/model.onnx", "int8-dynamic": fast}

    def pick(criteria: dict[str, str], sample_criterion: str) -> str:
        config: dict = {}
        results = [{"variant": "fp32", "passed": True, "criteria": {"top1_agreement": "passed"}},
                   {"variant": "int8-dynamic", "passed": True, "criteria": criteria}]
        report = {"machine": {"cpu": "test", "isa": [], "onnxruntime": "x"}}
        build.pick_fastest(config, dict(kept), ref, 1, 5, results, {**facts, "criterion": sample_criterion},
                               report)
        assert report["choice"]["preferred"] == config["preferred_variant"]
        assert set(config["latency_ms_p50"]) == {"fp32", "int8-dynamic"}  # both were timed
        return config["preferred_variant"]

    ok = {"structural": "passed", "elementwise": "not judged", "metric_drop": "passed", "top1_agreement": "passed"}
    assert pick(ok, "passed") == "int8-dynamic"  # it is faster, so the choice below is a real one
    assert pick({**ok, "top1_agreement": "failed"}, "passed") == "fp32"
    assert pick(ok, "failed (allowed by allow_few_samples)") == "fp32"


def _linear_onnx(weight: np.ndarray, path: Path) -> None:
    """A bias-free linear classifier as an ONNX file (samples are one-hot rows: column i = sample i's logits)."""
    import onnx
    from onnx import helper, numpy_helper

    w = numpy_helper.from_array(weight.T.astype(np.float32), "w")  # (features, classes)
    graph = helper.make_graph([helper.make_node("MatMul", ["pixel_values", "w"], ["logits"])], "linear",
                              [helper.make_tensor_value_info("pixel_values", onnx.TensorProto.FLOAT, ["batch", 100])],
                              [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["batch", 10])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


@pytest.fixture(scope="module")
def hundred_samples():
    """A reference over 100 samples whose classes a variant can change one by one."""
    import torch

    from hub.model import build_task
    from hub.plugins import get_hub

    rng = np.random.default_rng(0)
    weight = rng.normal(0, 1, (10, 100)).astype(np.float32)
    model = torch.nn.Linear(100, 10, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(weight))
    raw = np.eye(100, dtype=np.float32)
    labels = weight.argmax(0).astype(np.int64)  # PyTorch is right on every sample
    task_component = get_hub().registry.get("task", "image-classification")
    ref = gate.build_reference(model, raw, labels, lambda batch: {"pixel_values": np.asarray(batch)},
                               input_names=("pixel_values",), output_names=("logits",),
                               task=build_task(task_component, {}, 10), primary_metric="accuracy")
    return weight, ref


@pytest.mark.parametrize("changed, passes", [(4, True), (5, True), (6, False), (7, False)])
def test_agreement_floor_at_its_boundary(hundred_samples, tmp_path, changed, passes) -> None:
    """0.95 means 95 of 100 must agree: 5 changed answers pass, 6 and 7 fail (no rounding, no off-by-one)."""
    weight, ref = hundred_samples
    variant = weight.copy()
    for sample in range(changed):  # move each of the first `changed` samples to another class
        top = int(variant[:, sample].argmax())
        variant[(top + 1) % 10, sample] = variant[top, sample] + 1.0
    path = tmp_path / "variant.onnx"
    _linear_onnx(variant, path)
    result = gate.check_variant("int8-dynamic", path, ref, Tolerance(None, 0.0, 100.0, 0.95), structural=False)
    assert result["top1_agreement"] == pytest.approx(1 - changed / 100)
    assert result["passed"] is passes
    assert result["criteria"]["top1_agreement"] == ("passed" if passes else "failed")
