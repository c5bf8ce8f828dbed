"""Structural checks of an exported file: external data, the ONNX checker, strict shape inference.

Kept apart from the numeric gate (:mod:`hub.exporting.gate`) because its one subtle rule needs room
to be explained: graphs fused by onnxruntime's transformer optimizer hold ``com.microsoft`` ops
that ONNX may have no schema for, and only that known complaint may relax the check.
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path
from typing import Any

from ..runtime.session import check_external_data

log = logging.getLogger(__name__)


def structural_checks(path: Path) -> dict[str, Any]:
    """Checker (full, path-based) and strict shape inference; raises nothing, reports everything."""
    import onnx

    result: dict[str, Any] = {}
    path = Path(path)
    try:
        result["external_data"] = check_external_data(path)
    except Exception as exc:
        return {"external_data": f"failed: {exc}", "ok": False}
    try:
        onnx.checker.check_model(str(path), full_check=True)
        result["checker"] = "ok"
    except Exception as exc:
        if _contrib_only(path, exc, "checker"):  # onnxruntime-only fused ops have no ONNX schema to check against
            try:
                onnx.checker.check_model(str(path), full_check=False)
                result["checker"] = "ok (onnxruntime contrib ops not checked)"
            except Exception as inner:
                result["checker"] = f"failed: {_one_line(inner)}"
        else:
            result["checker"] = f"failed: {_one_line(exc)}"
    with tempfile.TemporaryDirectory(prefix=".shape-", dir=path.parent) as tmp:
        try:
            inferred = Path(tmp) / "inferred.onnx"
            onnx.shape_inference.infer_shapes_path(str(path), str(inferred), check_type=True, strict_mode=True)
            result["shape_inference"] = "ok"
        except Exception as exc:
            if _contrib_only(path, exc, "shape inference"):
                result["shape_inference"] = "skipped (onnxruntime contrib ops)"
            else:
                result["shape_inference"] = f"failed: {_one_line(exc)}"
    result["ok"] = all(not str(v).startswith("failed") for v in result.values())
    return result


def _one_line(exc: Exception, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "..."


#: What the ONNX checker and strict shape inference say about an op they have no schema for
#: (onnx < 1.16 for ``com.microsoft`` ops; newer releases skip unknown domains themselves).
_NO_SCHEMA = (re.compile(r"No Op registered for (\w+) with domain_version of \d+"),
              re.compile(r"Cannot infer type and shape for node name [^.]*\. No schema registered for (\w+)"))


def _contrib_only(path: Path, exc: Exception, stage: str) -> bool:
    """Whether ``exc`` is only the known "no schema" complaint about onnxruntime contrib ops.

    Fused graphs (``optimized`` BERT) hold ``com.microsoft`` ops that ONNX may have no schema
    for; then the full check cannot pass and the relaxed one is used instead. Only that known
    error is downgraded, and only when every op it names is a ``com.microsoft`` node of this graph
    (and no standard node of the same type exists): any other failure in such a graph (a type
    mismatch, a dangling input, a missing opset import) still fails the gate.
    """
    import onnx

    named = {m.group(1) for pattern in _NO_SCHEMA for m in pattern.finditer(str(exc))}
    if not named:
        return False
    model = onnx.load(str(path), load_external_data=False)
    contrib = {n.op_type for n in model.graph.node if n.domain == "com.microsoft"}
    standard = {n.op_type for n in model.graph.node if n.domain != "com.microsoft"}
    if named <= contrib and not named & standard:
        return True
    log.info("%s: the %s failure names ops %s that are not only com.microsoft nodes; not downgraded", path,
             stage, sorted(named))
    return False
