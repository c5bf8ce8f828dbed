"""The validation gate: an exported file must behave like the PyTorch model on real data.

For every variant: the ONNX checker (path-based, so external data is read
from disk and its locations are checked) and strict shape inference; then
onnxruntime against PyTorch on held-out examples of the run's dataset at
several batch sizes (and, for text, several sequence lengths, including a
batch padded to ``max_length``). Element-wise differences are judged with
``|onnx - torch| <= atol + rtol * |torch|``; the task's primary metric is
computed on both and the drop judged against ``max_metric_drop`` (points);
top-1 agreement (the share of samples where both pick the same class) must
reach ``min_agreement``. Each criterion is recorded under ``criteria``.

Two numbers guard against a gate fooled by a small sample: a variant whose
agreement is 0.833 on 6 samples could pass a lenient metric budget, so the
agreement floor is judged on its own, and the sample count itself is a
criterion (:func:`sample_criterion`): below :data:`MIN_SAMPLES` the gate
refuses unless told explicitly, below :data:`WARN_SAMPLES` it warns, and the
count is written into the report (and from there into the model card).

A breach is a :class:`GateError`, never a warning: the report names the
worst outputs (pass, sample, class, both values) so the cause can be found.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..runtime.backends import first_line, open_session
from ..runtime.session import make_session, run
from .checks import structural_checks
from ..errors import GateError
from .samples import Encoder, batches, pad_to

log = logging.getLogger(__name__)


#: Below this many held-out samples the gate refuses (unless explicitly allowed): one changed answer
#: would be worth more than 2 points, and an agreement of 5/6 looks like 0.83.
MIN_SAMPLES = 50
#: Below this many the gate passes but warns: the metric cannot resolve less than 100/N points.
WARN_SAMPLES = 200

#: Default top-1 agreement floor per variant kind. fp32 graphs only flip near-ties; fp16 keeps ~3 digits;
#: int8 moves logits most (MiniLM int8-dynamic: 0.965 on 487 reviews).
MIN_AGREEMENT = {"fp32": 0.99, "optimized": 0.99, "fp16": 0.98, "bf16": 0.98, "int8-dynamic": 0.95,
                 "int8-static": 0.95}

#: The kind of tolerance a variant of another format is judged by: ``openvino:bf16`` -> ``bf16``; full-integer
#: int8 (NNCF, LiteRT) is static, calibrated quantisation like onnxruntime's int8-static.
FORMAT_KINDS = {"fp32": "fp32", "bf16": "bf16", "int8": "int8-static"}


def kind(variant: str) -> str:
    """The tolerance-table key of a variant name (``fp16``, ``e2e:fp16``, ``openvino:int8``...)."""
    name = variant.rsplit(":", 1)[-1]
    return FORMAT_KINDS.get(name, name) if ":" in variant and not variant.startswith(("e2e:", "ort:")) else name


@dataclass(frozen=True)
class Tolerance:
    """What a variant must meet; ``atol=None`` reports element-wise differences without judging them.

    ``max_metric_drop`` or ``min_agreement`` of ``None`` means "the variant's default" and is filled
    in by :func:`fill` before judging.
    """

    atol: float | None
    rtol: float
    max_metric_drop: float | None
    min_agreement: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_tolerances(atol: float, rtol: float, max_metric_drop: float,
                       min_agreement: float | None = None) -> dict[str, Tolerance]:
    """Per-variant defaults: fp32 graphs as configured, fp16 looser, int8 judged by metric and agreement.

    ``min_agreement`` given applies to every variant (like the metric budget); otherwise each
    kind gets its floor from :data:`MIN_AGREEMENT`.
    """
    def floor(name: str) -> float:
        return MIN_AGREEMENT[name] if min_agreement is None else float(min_agreement)

    return {
        "fp32": Tolerance(atol, rtol, max_metric_drop, floor("fp32")),
        "optimized": Tolerance(max(atol, 1e-3), max(rtol, 1e-3), max_metric_drop, floor("optimized")),
        # fp16 keeps ~3 significant digits and the error grows with depth (EfficientNet-Lite0 logits:
        # max 0.15 off with 100 % top-1 agreement); top-1 and the metric budget are what decide.
        "fp16": Tolerance(max(atol, 0.25), max(rtol, 5e-2), max_metric_drop, floor("fp16")),
        # bf16 keeps 8 mantissa bits (fp16: 11): judged, like int8, by the metric and top-1 agreement
        "bf16": Tolerance(None, rtol, max_metric_drop, floor("bf16")),
        "int8-dynamic": Tolerance(None, rtol, max_metric_drop, floor("int8-dynamic")),
        "int8-static": Tolerance(None, rtol, max_metric_drop, floor("int8-static")),
    }


def fill(tol: Tolerance, base: Tolerance) -> Tolerance:
    """``tol`` with its ``None`` budget and floor taken from ``base`` (the variant's default)."""
    return dataclasses.replace(
        tol, max_metric_drop=base.max_metric_drop if tol.max_metric_drop is None else tol.max_metric_drop,
        min_agreement=base.min_agreement if tol.min_agreement is None else tol.min_agreement)


def sample_criterion(count: int, *, allow_few: bool, where: str) -> dict[str, Any]:
    """Judge the number of held-out samples; returns the report's ``gate`` facts about it.

    Raises :class:`GateError` below :data:`MIN_SAMPLES` unless ``allow_few``; then the export
    goes on, but the criterion is recorded as failed, so no variant but fp32 can be preferred.
    """
    facts: dict[str, Any] = {"samples": int(count), "min_samples": MIN_SAMPLES, "warn_below": WARN_SAMPLES,
                             "allow_few_samples": bool(allow_few),
                             "metric_resolution_points": round(100.0 / max(count, 1), 4), "warnings": []}
    if count < MIN_SAMPLES:
        if not allow_few:
            raise GateError(
                f"{where}: only {count} held-out samples to validate the export on, fewer than the gate's floor of "
                f"{MIN_SAMPLES} (one changed answer would be {100.0 / max(count, 1):.1f} points); give the dataset a "
                "larger test split or raise --max-samples, or accept a weak check with --allow-few-samples "
                "(recipe: export.allow_few_samples = true)", {"gate": facts, "passed": False})
        facts["criterion"] = "failed (allowed by allow_few_samples)"
        facts["warnings"].append(f"only {count} held-out samples (floor {MIN_SAMPLES}, allowed explicitly): the gate "
                                 "cannot resolve less than one changed answer; only fp32 can be preferred")
    else:
        facts["criterion"] = "passed"
        if count < WARN_SAMPLES:
            facts["warnings"].append(f"only {count} held-out samples (fewer than {WARN_SAMPLES}): one changed answer "
                                     f"is {100.0 / count:.2f} points of the metric")
    for line in facts["warnings"]:
        log.warning("%s: %s", where, line)
    return facts


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


def check_variant(variant: str, path: Path, ref: Reference, tolerance: Tolerance, threads: int | None = 2,
                  structural: bool = True, runtime: str = "onnxruntime", precision: str | None = None) -> dict[str, Any]:
    """Judge one exported file against the reference; returns its report entry (``passed`` says it all).

    ``criteria`` names each judgement (``structural``, ``elementwise``, ``metric_drop``,
    ``top1_agreement``) as ``passed``, ``failed`` or ``not judged``. The entry holds no timings, so
    re-judging an unchanged file on the same machine gives the same bytes in report.json.

    ``runtime`` other than onnxruntime (``openvino`` at ``precision``, ``litert``) runs the file in
    that runtime (:mod:`hub.runtime.backends`); the ONNX structural checks do not apply to it.
    """
    result: dict[str, Any] = {"variant": variant, "file": str(path), "tolerance": tolerance.as_dict(),
                              "samples": int(len(ref.labels)), "failures": [], "criteria": {}}
    failures: list[str] = result["failures"]
    criteria: dict[str, str] = result["criteria"]
    if runtime != "onnxruntime":
        result["runtime"] = runtime
        structural = False
    if structural:
        checks = structural_checks(path)
        result["checks"] = checks
        failures += [f"{k}: {v}" for k, v in checks.items() if str(v).startswith("failed")]
        criteria["structural"] = "failed" if failures else "passed"
    else:
        criteria["structural"] = "not judged"
    if failures:
        result["passed"] = False
        return result
    try:
        session = open_session(runtime, path, input_names=ref.input_names, precision=precision, threads=threads,
                               providers=["CPUExecutionProvider"])
        outputs = [[np.asarray(run(session, feeds)[0], dtype=np.float32) for feeds, _ in p.batches] for p in ref.passes]
    except Exception as exc:
        result.update(passed=False, failures=[f"{runtime}: {first_line(exc)}"])
        criteria[runtime] = "failed"
        return result
    _compare(result, ref, outputs, tolerance)
    result["passed"] = not failures
    return result


def passes_every_criterion(result: Mapping[str, Any]) -> bool:
    """Passed, and no criterion failed (``not judged`` is not a failure: int8 has no element-wise check)."""
    return bool(result.get("passed")) and all(v in ("passed", "not judged")
                                              for v in (result.get("criteria") or {}).values())


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
                result["criteria"]["output_shape"] = "failed"
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
    same = want.argmax(-1) == got.argmax(-1)
    agreement = float(same.mean())
    result.update(top1_agreement=agreement,
                  metrics={"pytorch": metrics_torch, "onnx": metrics_onnx}, primary_metric=ref.primary_metric,
                  metric_resolution_points=round(100.0 / max(len(want), 1), 4),  # one changed answer
                  metric_drop_points=round(drop, 4))
    criteria = result["criteria"]
    criteria["elementwise"] = "not judged" if tol.atol is None else ("failed" if breaches else "passed")
    if breaches:
        w = result["worst"][0]
        result["failures"].append(
            f"{breaches} output values differ by more than atol {tol.atol:g} + rtol {tol.rtol:g}*|ref| "
            f"(max abs diff {max_abs:.3g}; worst: {w['pass']} sample {w['sample']} {w['output']} "
            f"onnx {w['onnx']:.6g} vs pytorch {w['pytorch']:.6g})")
    budget = tol.max_metric_drop
    criteria["metric_drop"] = "failed" if budget is not None and drop > budget else "passed"
    if criteria["metric_drop"] == "failed":
        result["failures"].append(
            f"{ref.primary_metric} drops {drop:.2f} points ({metrics_torch[ref.primary_metric]:.4f} -> "
            f"{metrics_onnx[ref.primary_metric]:.4f}), budget {budget:g}")
    floor = tol.min_agreement
    criteria["top1_agreement"] = "not judged" if floor is None else ("failed" if agreement < floor else "passed")
    if criteria["top1_agreement"] == "failed":
        result["failures"].append(
            f"top-1 agreement {agreement:.3f} is below the floor {floor:g} ({int((~same).sum())} of {len(same)} "
            "samples changed class)")


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


def write_test_data(folder: Path, ref: Reference, graph_inputs: Sequence[str], model: Path,
                    threads: int | None = 2) -> None:
    """``test_data_set_0/{input,output}_N.pb`` from the first real batch, beside ``model`` (ONNX's layout).

    ONNX's backend test runner (``onnx.backend.test.runner``) and onnxruntime's
    ``onnx_test_runner`` read a folder holding ``model.onnx`` and ``test_data_set_*/``:
    ``input_i.pb`` in the order of the graph's inputs, ``output_i.pb`` the expected outputs,
    compared with ``rtol=1e-3, atol=1e-7``. So the expected logits are the ones *this* model
    computes (it passed the gate, so they match PyTorch within tolerance); PyTorch's own values
    could miss that ``atol`` on logits near zero.
    """
    from onnx import numpy_helper

    full = ref.passes[ref.full]
    feeds, _ = full.batches[0]
    session = make_session(model, providers=["CPUExecutionProvider"], threads=threads)
    out = np.asarray(run(session, {n: feeds[n] for n in graph_inputs})[0], dtype=np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(graph_inputs):
        (folder / f"input_{i}.pb").write_bytes(numpy_helper.from_array(feeds[name], name).SerializeToString())
    (folder / "output_0.pb").write_bytes(numpy_helper.from_array(out, ref.output_names[0]).SerializeToString())
