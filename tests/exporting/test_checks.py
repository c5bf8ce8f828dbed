"""Structural checks: a graph with onnxruntime contrib ops is relaxed only for the known error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hub.exporting.checks import _contrib_only, structural_checks


def _graph(path: Path, *, contrib: bool, bad_matmul: bool) -> Path:
    """x -> [com.microsoft Gelu -> y] and x @ W -> logits; W has the wrong shape when ``bad_matmul``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((5 if bad_matmul else 4, 3), np.float32), "W")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["logits"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])]
    opsets = [helper.make_opsetid("", 18)]
    if contrib:
        nodes.append(helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft"))
        outputs.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4]))
        opsets.append(helper.make_opsetid("com.microsoft", 1))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              outputs, [w])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def test_a_real_error_in_a_graph_with_contrib_ops_still_fails(tmp_path: Path) -> None:
    bad = _graph(tmp_path / "bad.onnx", contrib=True, bad_matmul=True)
    checks = structural_checks(bad)
    assert checks["ok"] is False
    assert checks["checker"].startswith("failed:") and "Incompatible dimensions" in checks["checker"]
    assert checks["shape_inference"].startswith("failed:")


def test_a_good_graph_with_contrib_ops_passes(tmp_path: Path) -> None:
    checks = structural_checks(_graph(tmp_path / "good.onnx", contrib=True, bad_matmul=False))
    assert checks["ok"] and checks["checker"].startswith("ok") and checks["shape_inference"] == "ok"


@pytest.mark.parametrize("message, downgraded", [
    ("No Op registered for Gelu with domain_version of 1\n\n==> Context: Bad node spec for node. OpType: Gelu", True),
    ("No Op registered for MatMul with domain_version of 18", False),  # a standard op: a real problem
    ("No Op registered for Gelu with domain_version of 1 ... No Op registered for Foo with domain_version of 1",
     False),  # Foo is no com.microsoft node of this graph
    ("[ShapeInferenceError] Incompatible dimensions for matrix multiplication", False),
    ("No opset import for domain 'com.microsoft'", False),  # a broken graph, not a missing schema
])
def test_only_the_no_schema_error_of_contrib_nodes_is_downgraded(tmp_path: Path, message: str,
                                                                 downgraded: bool) -> None:
    path = _graph(tmp_path / "m.onnx", contrib=True, bad_matmul=False)
    assert _contrib_only(path, ValueError(message), "checker") is downgraded
    plain = _graph(tmp_path / "plain.onnx", contrib=False, bad_matmul=False)
    assert _contrib_only(plain, ValueError(message), "checker") is False  # no contrib node, never relaxed
