"""Make every variant of every extra format, gate each in its own runtime, keep what passed.

One loop for all formats: a format module (:mod:`.openvino_format`, :mod:`.litert_format`)
only knows how to write a variant's file; judging, recording and cleaning up are here, so a
format behaves like the ONNX variants do (same gate, same report entries, same rule that a
file which failed is not kept).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ExportError
from .. import gate
from . import litert_format, openvino_format

log = logging.getLogger(__name__)

MODULES = {"openvino": openvino_format, "litert": litert_format}


@dataclass
class Context:
    """What a format's converter may use: the PyTorch model, the gated fp32 ONNX file, real batches."""

    model: Any
    fp32_onnx: Path
    input_names: Sequence[str]
    example: Mapping[str, Any]  # one real batch-1 feed: shapes and dtypes for tracing converters
    calibration: Sequence[dict[str, Any]] | None  # encoded training batches (int8)


@dataclass
class Kept:
    """A format variant that passed: where it is and how its runtime opens it."""

    runtime: str
    variant: str
    path: Path
    precision: str | None
    files: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.runtime}:{self.variant}"


def variant_names(formats: Sequence[str]) -> list[str]:
    return [f"{fmt}:{v}" for fmt in formats if fmt in MODULES for v in MODULES[fmt].VARIANTS]


def export_formats(step: Any, root: Path, formats: Sequence[str], context: Context,
                   tolerances: Mapping[str, gate.Tolerance], ref: gate.Reference, threads: int,
                   results: list[dict[str, Any]]) -> list[Kept]:
    """Every (format, variant) made under ``root`` and gated; the kept ones, in order."""
    kept: list[Kept] = []
    for fmt in formats:
        if fmt not in MODULES:
            continue
        module = MODULES[fmt]
        folder = root / module.FOLDER
        ours: list[Kept] = []
        for variant in module.VARIANTS:
            name = f"{fmt}:{variant}"
            try:
                with step(f"make {name}"):
                    path, precision = module.make(variant, folder, context)
            except ExportError as exc:
                log.warning("%s could not be made and is not kept: %s", name, exc)
                results.append({"variant": name, "runtime": fmt, "passed": False, "failures": [f"{fmt}: {exc}"],
                                "criteria": {"made": "failed"}})
                continue
            with step(f"gate {name}"):
                result = gate.check_variant(name, path, ref, tolerances[gate.kind(name)], threads=threads,
                                            runtime=fmt, precision=precision)
            results.append(result)
            if result["passed"]:
                ours.append(Kept(fmt, variant, path, precision, module.files(path.relative_to(root).as_posix())))
            else:
                log.warning("%s failed the gate and is not kept: %s", name, "; ".join(result["failures"]))
        prune(root, folder, ours)
        kept += ours
    return kept


def prune(root: Path, folder: Path, kept: Sequence[Kept]) -> None:
    """Delete every file of ``folder`` no kept variant names (failed ones, converters' leftovers)."""
    if not folder.is_dir():
        return
    wanted = {f for k in kept for f in k.files}
    for path in sorted(folder.rglob("*"), reverse=True):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and relative not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def record(config: dict[str, Any], kept: Sequence[Kept], results: Sequence[dict[str, Any]]) -> None:
    """config.json's ``formats``: per runtime, each kept variant's files, precision and gate numbers."""
    from ..bench import size_bytes

    by_name = {r["variant"]: r for r in results}
    formats: dict[str, Any] = {}
    for k in kept:
        result = by_name[k.name]
        entry = {"file": k.files[0], "files": k.files, "metrics": result["metrics"]["onnx"],
                 "max_abs_diff": result["max_abs_diff"], "top1_agreement": result["top1_agreement"],
                 "metric_drop_points": result["metric_drop_points"],
                 "size_bytes": sum(size_bytes(k.path.parent / Path(f).name) for f in k.files)}
        result["size_bytes"] = entry["size_bytes"]  # the card and the repo page read it from report.json
        if k.precision:
            entry["precision"] = k.precision
        if "latency_ms_p50" in result:
            entry["latency_ms_p50"] = result["latency_ms_p50"]
        formats.setdefault(k.runtime, {"runtime": k.runtime, "variants": {}})["variants"][k.variant] = entry
    if formats:
        config["formats"] = formats
