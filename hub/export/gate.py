"""The validation gate: an exported file must behave like the PyTorch model on real data.

For every variant: the ONNX checker (path-based, so external data is read
from disk and its locations are checked) and strict shape inference; then
onnxruntime against PyTorch on held-out examples of the run's dataset at
several batch sizes (and, for text, several sequence lengths, including a
batch padded to ``max_length``). Element-wise differences are judged with
``|onnx - torch| <= atol + rtol * |torch|``; the task's primary metric is
computed on both and the drop judged against ``max_metric_drop`` (points).

A breach is a :class:`GateError`, never a warning: the report names the
worst outputs (pass, sample, class, both values) so the cause can be found.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..runtime.session import check_external_data, make_session, run
from .errors import GateError
from .samples import Encoder, batches, pad_to

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tolerance:
    """What a variant must meet; ``atol=None`` reports element-wise differences without judging them."""

    atol: float | None
    rtol: float
    max_metric_drop: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_tolerances(atol: float, rtol: float, max_metric_drop: float) -> dict[str, Tolerance]:
    """Per-variant defaults: fp32 graphs as configured, fp16 looser, int8 judged by the metric alone."""
    return {
        "fp32": Tolerance(atol, rtol, max_metric_drop),
        "optimized": Tolerance(max(atol, 1e-3), max(rtol, 1e-3), max_metric_drop),
        # fp16 keeps ~3 significant digits and the error grows with depth (EfficientNet-Lite0 logits:
        # max 0.15 off with 100 % top-1 agreement); top-1 and the metric budget are what decide.
        "fp16": Tolerance(max(atol, 0.25), max(rtol, 5e-2), max_metric_drop),
        "int8-dynamic": Tolerance(None, rtol, max_metric_drop),
        "int8-static": Tolerance(None, rtol, max_metric_drop),
    }


@dataclass
class Pass:
    """One way of batching the samples: the encoded batches and PyTorch's outputs for them."""

    name: str
    batches: list[tuple[dict[str, np.ndarray], np.ndarray]]
    reference: list[np.ndarray]


@dataclass
class Reference:
    """PyTorch outputs on real samples, computed once and shared by every variant."""

    passes: list[Pass]
    labels: np.ndarray
    full: int  # index of the pass that covers every sample (metrics are computed on it)
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    task: Any
    primary_metric: str
    seconds: float


def build_reference(model: Any, raw: Any, labels: np.ndarray, encode: Encoder, *, input_names: Sequence[str],
                    output_names: Sequence[str], task: Any, primary_metric: str,
                    batch_sizes: Sequence[int] = (1, 8), single_limit: int = 16,
                    text_pad: tuple[int, int] | None = None) -> Reference:
    """Encode the samples for each pass and run PyTorch on them.

    ``text_pad = (max_length, pad_id)`` adds a pass with batches padded to
    ``max_length``: padding must not change a text model's answer.
    """
    import torch

    started = time.perf_counter()
    sizes = sorted(set(int(b) for b in batch_sizes))
    if len(sizes) < 2:
        raise ValueError(f"the gate needs at least two batch sizes, got {sizes}")
    plan = [(f"batch{b}", batches(raw, labels, encode, b, limit=single_limit if b == 1 else None)) for b in sizes]
    if text_pad is not None:
        length, pad_id = text_pad
        padded = [(pad_to(f, length, pad_id), y) for f, y in batches(raw, labels, encode, sizes[-1], limit=2 * sizes[-1])]
        plan.append((f"batch{sizes[-1]}-padded{length}", padded))
    passes = []
    model = model.eval()
    with torch.no_grad():
        for name, encoded in plan:
            outputs = []
            for feeds, _ in encoded:
                out = model(*(torch.from_numpy(feeds[n]) for n in input_names))
                outputs.append(out.float().numpy())
            passes.append(Pass(name, encoded, outputs))
    return Reference(passes, labels, full=len(sizes) - 1, input_names=tuple(input_names),
                     output_names=tuple(output_names), task=task, primary_metric=primary_metric,
                     seconds=time.perf_counter() - started)


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
        if _contrib_only(path, exc):  # onnxruntime-only fused ops have no ONNX schema to check against
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
            if _contrib_only(path, exc):
                result["shape_inference"] = "skipped (onnxruntime contrib ops)"
            else:
                result["shape_inference"] = f"failed: {_one_line(exc)}"
    result["ok"] = all(not str(v).startswith("failed") for v in result.values())
    return result


def _one_line(exc: Exception, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _contrib_only(path: Path, exc: Exception) -> bool:
    """Whether the failure comes from onnxruntime-only ops (``com.microsoft`` domain)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return any(node.domain == "com.microsoft" for node in model.graph.node)


def check_variant(variant: str, path: Path, ref: Reference, tolerance: Tolerance, threads: int | None = 2,
                  structural: bool = True) -> dict[str, Any]:
    """Judge one exported file against the reference; returns its report entry (``passed`` says it all)."""
    started = time.perf_counter()
    result: dict[str, Any] = {"variant": variant, "file": str(path), "tolerance": tolerance.as_dict(),
                              "samples": int(len(ref.labels)), "failures": []}
    failures: list[str] = result["failures"]
    if structural:
        checks = structural_checks(path)
        result["checks"] = checks
        failures += [f"{k}: {v}" for k, v in checks.items() if str(v).startswith("failed")]
    if failures:
        result["passed"] = False
        return result
    try:
        session = make_session(path, providers=["CPUExecutionProvider"], threads=threads)
        outputs = [[np.asarray(run(session, feeds)[0], dtype=np.float32) for feeds, _ in p.batches] for p in ref.passes]
    except Exception as exc:
        result.update(passed=False, failures=[f"onnxruntime: {exc}"])
        return result
    _compare(result, ref, outputs, tolerance)
    result["seconds"] = round(time.perf_counter() - started, 3)
    result["passed"] = not failures
    return result


def _compare(result: dict[str, Any], ref: Reference, outputs: list[list[np.ndarray]], tol: Tolerance) -> None:
    import torch

    worst: list[tuple[float, dict[str, Any]]] = []
    max_abs = max_rel = 0.0
    breaches = 0
    lengths: set[int] = set()
    for p, got_batches in zip(ref.passes, outputs):
        offset = 0
        for (feeds, _), want, got in zip(p.batches, p.reference, got_batches):
            if "input_ids" in feeds:
                lengths.add(int(feeds["input_ids"].shape[1]))
            if got.shape != want.shape:
                result["failures"].append(f"{p.name}: output shape {list(got.shape)} != PyTorch {list(want.shape)}")
                return
            diff = np.abs(got.astype(np.float64) - want)
            max_abs = max(max_abs, float(diff.max(initial=0.0)))
            max_rel = max(max_rel, float((diff / np.maximum(np.abs(want), 1e-6)).max(initial=0.0)))
            excess = diff - ((tol.atol or 0.0) + tol.rtol * np.abs(want))
            if tol.atol is not None:
                breaches += int((excess > 0).sum())
            for flat in np.argsort(excess, axis=None)[-3:]:
                row, col = np.unravel_index(flat, diff.shape)
                worst.append((float(excess[row, col]), {
                    "pass": p.name, "sample": int(offset + row), "output": f"{ref.output_names[0]}[{int(col)}]",
                    "onnx": float(got[row, col]), "pytorch": float(want[row, col]), "abs_diff": float(diff[row, col])}))
            offset += len(want)
    worst.sort(key=lambda item: -item[0])
    result["worst"] = [w for _, w in worst[:5]]
    result.update(max_abs_diff=max_abs, max_rel_diff=max_rel, batch_sizes=sorted(
        {len(y) for p in ref.passes for _, y in p.batches}), sequence_lengths=sorted(lengths))
    full = ref.passes[ref.full]
    want = np.concatenate(full.reference)
    got = np.concatenate(outputs[ref.full])
    labels = torch.from_numpy(ref.labels[: len(want)])
    metrics_torch = ref.task.metrics(torch.from_numpy(want), labels)
    metrics_onnx = ref.task.metrics(torch.from_numpy(got), labels)
    drop = (metrics_torch[ref.primary_metric] - metrics_onnx[ref.primary_metric]) * 100.0
    result.update(top1_agreement=float((want.argmax(-1) == got.argmax(-1)).mean()),
                  metrics={"pytorch": metrics_torch, "onnx": metrics_onnx}, primary_metric=ref.primary_metric,
                  metric_resolution_points=round(100.0 / max(len(want), 1), 4),  # one changed answer
                  metric_drop_points=round(drop, 4))
    if breaches:
        w = result["worst"][0]
        result["failures"].append(
            f"{breaches} output values differ by more than atol {tol.atol:g} + rtol {tol.rtol:g}*|ref| "
            f"(max abs diff {max_abs:.3g}; worst: {w['pass']} sample {w['sample']} {w['output']} "
            f"onnx {w['onnx']:.6g} vs pytorch {w['pytorch']:.6g})")
    if drop > tol.max_metric_drop:
        result["failures"].append(
            f"{ref.primary_metric} drops {drop:.2f} points ({metrics_torch[ref.primary_metric]:.4f} -> "
            f"{metrics_onnx[ref.primary_metric]:.4f}), budget {tol.max_metric_drop:g}")


def summary_line(result: Mapping[str, Any]) -> str:
    """One human line per variant for CLI output and error messages."""
    if "metrics" not in result:
        return f"{result['variant']}: {'; '.join(result['failures'])}"
    m = result["primary_metric"]
    line = (f"{result['variant']}: max abs diff {result['max_abs_diff']:.2e}, top-1 agreement "
            f"{result['top1_agreement']:.3f}, {m} {result['metrics']['onnx'][m]:.4f} "
            f"(pytorch {result['metrics']['pytorch'][m]:.4f}, drop {result['metric_drop_points']:.2f} pt)")
    return line + ("" if result.get("passed") else f" FAILED: {'; '.join(result['failures'])}")


def raise_for(results: Sequence[Mapping[str, Any]], report: dict[str, Any], where: str) -> None:
    failed = [r for r in results if not r.get("passed")]
    if failed:
        raise GateError(f"validation gate failed for {where}: " + " | ".join(summary_line(r) for r in failed), report)


def write_test_data(folder: Path, ref: Reference, graph_inputs: Sequence[str]) -> None:
    """ONNX Model Zoo style ``test_data_set_0/{input,output}_N.pb`` from the first real batch."""
    from onnx import numpy_helper

    full = ref.passes[ref.full]
    feeds, _ = full.batches[0]
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(graph_inputs):
        (folder / f"input_{i}.pb").write_bytes(numpy_helper.from_array(feeds[name], name).SerializeToString())
    out = full.reference[0].astype(np.float32)
    (folder / "output_0.pb").write_bytes(numpy_helper.from_array(out, ref.output_names[0]).SerializeToString())
