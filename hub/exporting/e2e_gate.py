"""The gate's judgement of the e2e graph: real test images, as files, against PyTorch.

Why files: the e2e graph's promise is "decode the file the way every platform does, feed the
pixels". So each held-out example is written as a lossless PNG (or used as the JPEG/PNG file the
dataset already has, at its own size), decoded to uint8 RGB as a deployer's decoder would
(:func:`hub.runtime.preprocess.decode_rgb`), and fed one image at a time; one extra pass feeds a
batch of same-sized images, so the dynamic batch axis is exercised too. The reference is what
PyTorch answered for the same examples after ``hub.runtime``'s own Python preprocessing (the
gate's shared :class:`~hub.exporting.gate.Reference`), so the verdict covers the in-graph resize,
crop and normalisation as well as the model.

Criteria are the fp32 variant's top-1 agreement floor and metric budget. Element-wise closeness is
not judged: Pillow and onnxruntime may round a resampled pixel differently (by one step of 255 on
a few pixels in ten thousand), which moves probabilities a little without changing answers; the
largest difference is recorded all the same.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import gate
from .e2e import INPUT
from .samples import split_samples

_BATCH = 8


def as_files(raw: Any, folder: Path) -> list[Path]:
    """Each example as an image file: dataset files as they are, arrays/PIL images as PNG."""
    from .package import _png

    paths = []
    for i, item in enumerate(raw):
        if isinstance(item, (str, Path)):
            paths.append(Path(item))
            continue
        path = folder / f"{i}.png"
        _png(item).save(path, format="PNG")
        paths.append(path)
    return paths


def entry_name(variant: str) -> str:
    """report.json's name for the e2e graph built on ``variant``: ``e2e``, ``e2e:int8-dynamic``..."""
    return "e2e" if variant == "fp32" else f"e2e:{variant}"


def recorded(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(variant, file)`` of every e2e graph config.json lists, fp32's first (``hub validate``)."""
    e2e = config.get("e2e") or {}
    if not e2e:
        return []
    return [("fp32", e2e["file"]), *sorted((name, v["file"]) for name, v in (e2e.get("variants") or {}).items())]


def check_e2e(path: Path, dataset: Any, split: str, max_samples: int | None, ref: gate.Reference,
              tolerance: gate.Tolerance, threads: int | None = 2, modality: str = "image",
              variant: str = "fp32") -> dict[str, Any]:
    """Judge ``path`` (the e2e graph built on ``variant``) on the gate's held-out examples; an entry
    shaped like ``gate.check_variant``'s.

    Images go in as files decoded to RGB (one at a time, then one batch of equal sizes); texts as
    the raw strings, one per call (the text graph's contract).
    """
    raw, labels = split_samples(dataset, split, max_samples)
    result: dict[str, Any] = {"variant": entry_name(variant), "file": str(path), "tolerance": tolerance.as_dict(),
                              "samples": int(len(labels)), "failures": [], "criteria": {},
                              "inputs": "raw strings" if modality == "text" else "image files"}
    checks = gate.structural_checks(path)
    result["checks"] = checks
    result["failures"] += [f"{k}: {v}" for k, v in checks.items() if str(v).startswith("failed")]
    result["criteria"]["structural"] = "failed" if result["failures"] else "passed"
    if result["failures"]:
        result["passed"] = False
        return result
    try:
        probs, ids, batched = (_run_text if modality == "text" else _run_images)(path, raw, threads)
    except Exception as exc:  # onnxruntime's own error types
        result.update(passed=False, failures=[f"onnxruntime: {exc}"])
        result["criteria"]["onnxruntime"] = "failed"
        return result
    _judge(result, ref, labels, probs, ids, batched, tolerance)
    result["passed"] = not result["failures"]
    return result


def _run_images(path: Path, raw: Any, threads: int | None) -> tuple[np.ndarray, np.ndarray, Any]:
    from ..runtime.preprocess import decode_rgb
    from ..runtime.session import make_session

    with tempfile.TemporaryDirectory(prefix="hub-e2e-") as tmp:
        images = [decode_rgb(p) for p in as_files(raw, Path(tmp))]
    session = make_session(path, providers=["CPUExecutionProvider"], threads=threads)
    return (*_run_each(session, images), _run_batch(session, images))


def _run_text(path: Path, raw: Any, threads: int | None) -> tuple[np.ndarray, np.ndarray, None]:
    from . import e2e_text

    return (*e2e_text.run_texts(e2e_text.session(path, threads), list(raw)), None)


def _run_each(session: Any, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    outs = [session.run(None, {INPUT: image[None]}) for image in images]
    return np.concatenate([o[0] for o in outs]).astype(np.float64), np.concatenate([o[1] for o in outs])


def _run_batch(session: Any, images: list[np.ndarray]) -> tuple[list[int], np.ndarray] | None:
    """One batch of up to ``_BATCH`` images of the most common size, or ``None`` when all sizes differ."""
    sizes: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        sizes.setdefault(image.shape, []).append(i)
    index = max(sizes.values(), key=len)[:_BATCH]
    if len(index) < 2:
        return None
    return index, np.asarray(session.run(None, {INPUT: np.stack([images[i] for i in index])})[0], dtype=np.float64)


def _judge(result: dict[str, Any], ref: gate.Reference, labels: np.ndarray, probs: np.ndarray, ids: np.ndarray,
           batched: tuple[list[int], np.ndarray] | None, tol: gate.Tolerance) -> None:
    import torch

    logits = np.concatenate(ref.passes[ref.full].reference).astype(np.float64)
    if logits.shape != probs.shape:
        result["failures"].append(f"probabilities of shape {list(probs.shape)} != PyTorch {list(logits.shape)}")
        result["criteria"]["output_shape"] = "failed"
        return
    want = np.exp(logits - logits.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    criteria, failures = result["criteria"], result["failures"]
    consistent = bool((ids == probs.argmax(-1)).all() and np.allclose(probs.sum(-1), 1.0, atol=1e-4))
    if batched is not None:
        index, batch = batched
        # int8-dynamic scales activations per batch, so only its answers must match one-by-one
        consistent = consistent and (bool(np.allclose(batch, probs[index], atol=1e-5)) if tol.atol is not None
                                     else bool((batch.argmax(-1) == probs[index].argmax(-1)).all()))
    criteria["outputs"] = "passed" if consistent else "failed"
    if not consistent:
        failures.append("label_id is not the argmax of probabilities, probabilities do not sum to 1, "
                        "or a batch answers differently from the same images one by one")
    target = torch.from_numpy(labels[: len(want)])
    metrics_torch = ref.task.metrics(torch.from_numpy(logits), target)
    metrics_onnx = ref.task.metrics(torch.from_numpy(np.log(np.maximum(probs, 1e-30))), target)
    metric = ref.primary_metric
    drop = (metrics_torch[metric] - metrics_onnx[metric]) * 100.0
    same = want.argmax(-1) == probs.argmax(-1)
    agreement = float(same.mean())
    result.update(max_abs_diff=float(np.abs(probs - want).max(initial=0.0)), top1_agreement=agreement,
                  changed_samples=[int(i) for i in np.flatnonzero(~same)][:20],
                  metrics={"pytorch": metrics_torch, "onnx": metrics_onnx}, primary_metric=metric,
                  metric_resolution_points=round(100.0 / max(len(want), 1), 4), metric_drop_points=round(drop, 4),
                  batch_sizes=[1] + ([len(batched[0])] if batched else []))
    criteria["elementwise"] = "not judged"
    budget = tol.max_metric_drop
    criteria["metric_drop"] = "failed" if budget is not None and drop > budget else "passed"
    if criteria["metric_drop"] == "failed":
        failures.append(f"{metric} drops {drop:.2f} points ({metrics_torch[metric]:.4f} -> "
                        f"{metrics_onnx[metric]:.4f}), budget {budget:g}")
    floor = tol.min_agreement
    criteria["top1_agreement"] = "not judged" if floor is None else ("failed" if agreement < floor else "passed")
    if criteria["top1_agreement"] == "failed":
        failures.append(f"top-1 agreement {agreement:.3f} is below the floor {floor:g} "
                        f"({int((~same).sum())} of {len(same)} image files changed class)")


def export_e2e(plan: Any, onnx_dir: Path, config: dict[str, Any], ref: gate.Reference,
               kept: Mapping[str, Path]) -> list[dict[str, Any]]:
    """Make, stamp and judge ``onnx/model_e2e.onnx`` (from fp32), then one e2e graph per other kept
    variant (``model_e2e_fp16.onnx``, ``model_e2e_int8_dynamic.onnx``...); record them in config.json.

    Returns the gate entries for report.json (``e2e``, ``e2e:VARIANT``). No fp32 e2e graph means
    none at all, and ``config["e2e_missing"]`` says why (for the card and the repo page). Each graph
    that cannot be made or fails the gate (with the tolerance of its variant) is not kept, like a
    variant; the rest of the export is unaffected.
    """
    from . import e2e

    why = e2e.supported(plan.info.modality, plan.comps.task.spec.loss)
    if why is not None:
        config["e2e_missing"] = why
        return []
    first, entry = _make_one(plan, onnx_dir, config, ref, "fp32", kept["fp32"])
    if entry is None:
        config["e2e_missing"] = "the e2e graph " + ("failed the validation gate: " if "metrics" in first else
                                                    "could not be made: ") + "; ".join(first["failures"])
        return [first]
    config["e2e"] = {**entry, "variants": {}}
    results = [first]
    for name, source in kept.items():
        if name == "fp32":
            continue
        result, extra = _make_one(plan, onnx_dir, config, ref, name, source)
        results.append(result)
        if extra is not None:
            config["e2e"]["variants"][name] = {k: extra[k] for k in ("file", "top1_agreement", "metrics",
                                                                     "metric_drop_points", "size_bytes")}
    return results


def variant_file(variant: str) -> str:
    """``model_e2e.onnx`` for fp32, ``model_e2e_<suffix>.onnx`` for the others (``model_fp16`` -> ``model_e2e_fp16``)."""
    from . import e2e, variants

    return e2e.FILE if variant == "fp32" else "model_e2e" + variants.FILES[variant][len("model"):]


def _make_one(plan: Any, onnx_dir: Path, config: dict[str, Any], ref: gate.Reference, variant: str,
              source: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(gate entry, config entry or ``None`` when not kept) for the e2e graph built on ``source``."""
    import json
    import logging

    from ..errors import ExportError
    from . import e2e, e2e_text, variants
    from .bench import size_bytes
    from .onnx_export import set_metadata
    from .package import metadata_props

    log = logging.getLogger(__name__)
    name = entry_name(variant)
    path = onnx_dir / variant_file(variant)
    text = plan.info.modality == "text"
    external = bool(config.get("external_data"))
    try:
        if text:
            e2e_text.build_text_e2e(source, path, plan.tokenizer, config["preprocessing"]["max_length"],
                                    external=external)
        else:
            e2e.build_e2e(source, path, config["preprocessing"], external=external)
    except ExportError as exc:
        log.warning("the %s graph could not be made and is not kept: %s", name, exc)
        variants.remove(path)
        return {"variant": name, "file": str(path), "passed": False, "failures": [str(exc)]}, None
    props = metadata_props(config, name)
    props.update({"hub.input_names": json.dumps(["text" if text else e2e.INPUT]),
                  "hub.output_names": json.dumps(list(e2e.OUTPUTS))})
    set_metadata(path, props)
    result = check_e2e(path, plan.dataset, plan.options.split, plan.options.max_samples, ref,
                       plan.tolerances[variant], threads=plan.options.threads, modality=plan.info.modality,
                       variant=variant)
    if not result["passed"]:
        log.warning("the %s graph failed the gate and is not kept: %s", name, "; ".join(result["failures"]))
        variants.remove(path)
        return result, None
    entry = (e2e_text if text else e2e).contract_entry(len(config["label_names"]))
    return result, {**entry, "file": f"onnx/{path.name}", "top1_agreement": result["top1_agreement"],
                    "metrics": result["metrics"]["onnx"], "metric_drop_points": result["metric_drop_points"],
                    "max_abs_diff": result["max_abs_diff"], "gate_inputs": f"test-split {result['inputs']}",
                    "size_bytes": size_bytes(path)}
