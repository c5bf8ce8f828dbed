"""Variants that run as fast kernels, the edge choice rule, and ``hub validate --rebench`` (issue 13).

No timing is asserted: the tests check the graphs onnxruntime will run (integer Conv kernels, a
fused quantised attention) and that the recorded choice follows the rule from the recorded
numbers, whatever they are on the machine running the suite.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hub.exporting.pipeline import export_run
def _ops_after_onnxruntime(path: Path, tmp: Path) -> collections.Counter:
    """The op types of the graph onnxruntime actually runs (portable EXTENDED level, saved)."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp / "optimized.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return collections.Counter(n.op_type for n in onnx.load(str(tmp / "optimized.onnx")).graph.node)


def test_int8_static_cnn_runs_every_conv_as_an_integer_kernel(tmp_path: Path, capsys) -> None:
    """A random-init ResNet-18 exports equal (zero) BN biases shared through Identity nodes; quantised
    as exported, those Convs kept float biases, were not fused into QLinearConv and int8 ran slower
    than fp32. After pre-processing every Conv must be an integer kernel."""
    from hub.exporting import variants
    from hub.exporting.onnx_export import export_onnx
    from hub.model import HubModel, build_backbone, build_head
    from hub.plugins import get_hub

    registry = get_hub().registry
    spec = registry.get("backbone", "resnet18").spec
    model = HubModel(build_backbone(spec, {}, False), build_head(registry.get("head", "linear"), {}, 512, 3),
                     spec.input_names).eval()
    fp32 = tmp_path / "model.onnx"
    export_onnx(model, spec.input_names, ["logits"], {"size": (32, 32), "channels": 3}, fp32, 18)
    rng = np.random.default_rng(0)
    calibration = [{"pixel_values": rng.random((4, 3, 32, 32), dtype=np.float32)} for _ in range(4)]
    out = variants.make_variant("int8-static", fp32, tmp_path / "int8.onnx", calibration=calibration)
    assert capsys.readouterr().out == ""  # the percentile calibrator print()s: it must not reach `--json` output
    ops = _ops_after_onnxruntime(out, tmp_path)
    assert ops["QLinearConv"] == 20 and ops["Conv"] == 0, ops


def test_tracing_switches_transformers_attention_and_restores_it() -> None:
    import torch
    from transformers import BertConfig, BertModel

    from hub.exporting.onnx_export import traceable_attention

    bert = BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                vocab_size=100), add_pooling_layer=False)
    bert.set_attn_implementation("sdpa")
    wrapper = torch.nn.Sequential()
    wrapper.add_module("bert", bert)
    with traceable_attention(wrapper):
        assert bert.config._attn_implementation == "eager"
    assert bert.config._attn_implementation == "sdpa"
    with pytest.raises(RuntimeError, match="boom"), traceable_attention(wrapper):
        raise RuntimeError("boom")
    assert bert.config._attn_implementation == "sdpa"  # restored on the error path too


def test_decide_keeps_int8_only_when_faster_and_says_why() -> None:
    from hub.exporting.choice import decide

    machine = {"cpu": "Test CPU", "isa": ["avx2"], "onnxruntime": "9.9"}
    passed = {"passed": True, "failures": [], "metric_drop_points": 0.1}
    results = [{"variant": v, **passed} for v in ("fp32", "int8-static", "int8-dynamic", "optimized")]
    timings = {"fp32": 10.0, "int8-static": 12.0, "int8-dynamic": 4.0, "optimized": 9.0}
    decision = decide(timings, results, {"criterion": "passed"}, machine)
    assert decision["preferred"] == "int8-dynamic" and list(decision["slower_int8"]) == ["int8-static"]
    assert "int8-static 12.00 ms vs fp32 10.00 ms" in decision["why"] and "Test CPU" in decision["why"]
    assert "no int8 dot-product unit" in decision["why"]  # avx2 only: the reader is warned
    slow = decide({"fp32": 10.0, "int8-static": 11.0}, results, {"criterion": "passed"}, machine)
    assert slow["preferred"] == "fp32" and "no variant that passed the gate was faster" in slow["why"]
    few = decide(timings, results, {"criterion": "allowed"}, machine)
    assert few["preferred"] == "fp32" and "sample count did not pass" in few["why"]


def test_unknown_calibration_method_is_one_clear_error(tmp_path: Path) -> None:
    from hub.errors import ExportError
    from hub.exporting import variants
    with pytest.raises(ExportError, match=r"unknown calibration method 'kl'; choose from percentile, minmax, entropy"):
        variants.make_variant("int8-static", tmp_path / "model.onnx", tmp_path / "int8.onnx",
                              calibration=[{"pixel_values": np.zeros((1, 3, 8, 8), np.float32)}],
                              calibration_method="kl")


def test_machine_is_described() -> None:
    from hub.runtime.machine import ISA_FLAGS, describe, int8_units

    machine = describe()
    assert machine["cpu"] and machine["cores"] >= 1 and set(machine["isa"]) <= set(ISA_FLAGS)
    assert int8_units({"isa": ["avx2", "avx512_vnni"]}) == "AVX-512 VNNI"
    assert int8_units({"isa": ["amx_int8", "avx512_vnni"]}) == "AMX int8"


@pytest.fixture(scope="module")
def edge_export(image_run: Path, small_gate, keep_any, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("edge") / "digits"
    # the edge rule needs int8 variants that passed the gate, on any CPU: keep them whatever they answer
    options = dataclasses.replace(small_gate, tolerances=keep_any("int8-static", "int8-dynamic"))
    # with OpenVINO too (cheap: no separate converter process), so the edge choice spans runtimes
    return out, export_run(image_run, out, target="edge", gate_options=options, formats="onnx,openvino")


def test_edge_export_prefers_the_fastest_runtime_pair_that_passed_every_criterion(edge_export) -> None:
    from hub import runtime
    from hub.exporting.gate import passes_every_criterion

    out, report = edge_export
    config = json.loads((out / "config.json").read_text())
    entries = {r["variant"]: r for r in report["variants"]}
    pick = config["preferred_runtime"]
    onnx = config["preferred_variant"]
    # every kept pair was timed on this machine; the pick is the fastest eligible one of them
    timed = {f"onnxruntime:{onnx}": entries[onnx]["latency_ms_p50"]}
    timed.update({name: e["latency_ms_p50"] for name, e in entries.items()
                  if e.get("runtime") == "openvino" and e["passed"] and passes_every_criterion(e)})
    assert set(timed) >= {"onnxruntime:" + onnx, "openvino:fp32"}
    best = min(timed, key=timed.get)
    assert f"{pick['runtime']}:{pick['variant']}" == best and pick["latency_ms_p50"] == timed[best]
    assert report["choice"]["runtime"]["why"].startswith(best)
    model = runtime.load(out, runtime=pick["runtime"])  # the pick loads, at its variant by default
    assert model.variant == (pick["variant"] if pick["runtime"] == "onnxruntime" else best)


def test_edge_export_follows_the_int8_rule_it_records(edge_export) -> None:
    out, report = edge_export
    config = json.loads((out / "config.json").read_text())
    timings = {r["variant"]: r["latency_ms_p50"] for r in report["variants"] if "latency_ms_p50" in r}
    passed_int8 = [r["variant"] for r in report["variants"] if r["variant"].startswith("int8") and r["passed"]]
    assert passed_int8 and set(passed_int8) <= set(timings)  # the rule had int8 variants to judge
    for entry in report["variants"]:
        name = entry["variant"]
        if name.startswith("int8") and name in report["kept"]:
            assert timings[name] < timings["fp32"], (name, timings)
        if entry.get("dropped"):
            assert name.startswith("int8") and timings[name] >= timings["fp32"]
            assert name in report["rejected"] and not (out / "onnx" / Path(entry["file"]).name).exists()
    assert set(config["latency_ms_p50"]) == set(report["kept"]) == set(config["variants"])
    assert report["choice"]["preferred"] == config["preferred_variant"]
    assert report["machine"]["cpu"] and report["machine"]["onnxruntime"] in report["choice"]["why"]


def test_card_names_the_machine_and_the_choice(edge_export) -> None:
    from hub.publish.card import render

    out, report = edge_export
    files = [str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()]
    card = render(out, files, "me/digits")
    assert f"Judged on {report['machine']['cpu']}" in card and "--rebench" in card
    assert f"Preferred variant: {report['choice']['why']}" in card


def test_validate_rebench_rechooses_on_this_machine(edge_export, tmp_path: Path, capsys) -> None:
    from hub.cli import main

    copy = tmp_path / "copy"
    shutil.copytree(edge_export[0], copy)
    config = json.loads((copy / "config.json").read_text())
    config["preferred_variant"] = "fp32"
    config["latency_ms_p50"] = {k: 999.0 for k in config["latency_ms_p50"]}  # as if timed on another machine
    (copy / "config.json").write_text(json.dumps(config))
    # no tolerance given: validate judges by the tolerances the export recorded (loose for int8 here)
    assert main(["validate", str(copy), "--max-samples", "64", "--rebench"]) == 0, capsys.readouterr().err
    assert "preferred:" in capsys.readouterr().out
    after = json.loads((copy / "config.json").read_text())
    report = json.loads((copy / "report.json").read_text())
    timings = after["latency_ms_p50"]
    assert set(timings) == set(after["variants"]) and all(v != 999.0 for v in timings.values())
    assert after["preferred_variant"] == report["choice"]["preferred"]
    assert {r["variant"]: r.get("latency_ms_p50") for r in report["variants"] if r["variant"] in timings} == timings


def test_validate_rebench_on_a_failing_folder_changes_nothing(edge_export, tmp_path: Path, capsys) -> None:
    import onnx
    from onnx import numpy_helper

    from hub.cli import main

    broken = tmp_path / "broken"
    shutil.copytree(edge_export[0], broken)
    model = onnx.load(str(broken / "onnx/model.onnx"))
    init = max(model.graph.initializer, key=lambda t: numpy_helper.to_array(t).size if t.dims[:1] == [10] else 0)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 1.0, init.name))
    onnx.save(model, str(broken / "onnx/model.onnx"))
    before = (broken / "config.json").read_bytes()
    assert main(["validate", str(broken), "--max-samples", "64", "--rebench"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "fp32" in errors[0]
    assert (broken / "config.json").read_bytes() == before


def test_quantising_a_text_graph_writes_nothing_outside_its_folder_and_is_made(tmp_path: Path, monkeypatch) -> None:
    """onnxruntime's symbolic shape inference saves a debug model into the current directory when it
    fails (it does on transformer graphs with dynamic axes): 90 MB files in the user's folder."""
    import torch
    from transformers import BertConfig, BertModel

    from hub.exporting import variants
    from hub.exporting.onnx_export import export_onnx

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                             intermediate_size=64, vocab_size=1000), add_pooling_layer=False)

        def forward(self, input_ids, attention_mask):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0]

    work, cwd = tmp_path / "work", tmp_path / "cwd"
    work.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    names = ("input_ids", "attention_mask")
    export_onnx(Encoder().eval(), names, ["logits"], {}, work / "model.onnx", 18)
    rng = np.random.default_rng(0)
    # batches of different lengths, as text calibrates: the percentile calibrator cannot stack them
    # (ValueError inside onnxruntime), so the variant must still be made, by min-max
    calibration = [{"input_ids": rng.integers(5, 1000, (2, n)), "attention_mask": np.ones((2, n), np.int64)}
                   for n in (9, 7, 5)]
    variants.make_variant("int8-static", work / "model.onnx", work / "int8.onnx", calibration=calibration)
    assert (work / "int8.onnx").is_file() and list(cwd.iterdir()) == []
    assert sorted(p.name for p in work.iterdir()) == ["int8.onnx", "model.onnx"]  # no temp folder left
