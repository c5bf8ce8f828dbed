"""OpenVINO IR from the gated fp32 ONNX graph: fp32, bf16 (a runtime precision) and NNCF int8.

Why from the ONNX file and not from PyTorch: the ONNX graph has already passed the gate, and
OpenVINO's ONNX frontend reads it directly (``ov.convert_model``), so the IR starts from the
exact graph deployers of ONNX run. bf16 is not a second file: it is OpenVINO's CPU inference
precision (the default on CPUs with AVX512-BF16 or AMX), so the ``bf16`` variant reuses
``model.xml`` and records the precision; the gate runs it at that precision, because it moves
answers on some models (EfficientNet-Lite0 at 128 px: agreement 0.88 on noise inputs).
int8 is NNCF's post-training quantisation calibrated on real training batches, like the
onnxruntime int8-static variant.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import ExportError
from . import first_line

log = logging.getLogger(__name__)

FOLDER = "openvino"
FP32 = "model.xml"
INT8 = "model_int8.xml"

#: variant -> (IR file, CPU inference precision)
VARIANTS = {"fp32": (FP32, "f32"), "bf16": (FP32, "bf16"), "int8": (INT8, "f32")}


def files(xml: str) -> list[str]:
    """The files an IR consists of (the graph and its weights)."""
    return [xml, str(Path(xml).with_suffix(".bin"))]


def _quiet() -> None:
    """No usage telemetry from NNCF (its documented switch for CI machines; read at import).

    OpenVINO's converter asks its consent file (``opt_in_out --opt_out`` declines) and sends
    nothing on a machine without internet; the hub does not write into the user's home to decide.
    """
    import os

    os.environ.setdefault("NNCF_CI", "1")


def make(variant: str, folder: Path, context: Any) -> tuple[Path, str]:
    """Write ``variant``'s IR under ``folder`` (once per file); returns (xml path, inference precision)."""
    from ...runtime.backends import ov_supports

    _quiet()
    import openvino as ov

    xml_name, precision = VARIANTS[variant]
    xml = folder / xml_name
    if precision != "f32" and not ov_supports(precision):
        raise ExportError(f"this CPU has no native {precision} (OpenVINO CPU capabilities lack "
                          f"{precision.upper()}): not judged here")
    if xml.is_file():
        return xml, precision
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if variant == "int8":
            model = _nncf_int8(folder / FP32 if (folder / FP32).is_file() else context.fp32_onnx,
                               context.calibration, context.input_names)
        else:
            model = ov.convert_model(str(context.fp32_onnx))
        ov.save_model(model, str(xml), compress_to_fp16=False)  # fp16 weights would change the fp32 answers
    except ExportError:
        raise
    except Exception as exc:  # converters raise RuntimeError/OpConversionFailure with long texts
        raise ExportError(f"conversion failed: {first_line(exc)}") from exc
    return xml, precision


def _nncf_int8(source: Path, calibration: Sequence[dict[str, Any]] | None, input_names: Sequence[str]) -> Any:
    if not calibration:
        raise ExportError("int8 needs calibration batches from the training split; none were given")
    try:
        import nncf
    except ImportError:
        raise ExportError("NNCF is not installed (pip install 'zoohub[edge]')") from None
    import openvino as ov

    model = ov.Core().read_model(str(source)) if source.suffix == ".xml" else ov.convert_model(str(source))
    names = [i.any_name for i in model.inputs]
    dataset = nncf.Dataset(list(calibration), lambda feeds: {n: feeds[n] for n in names if n in feeds})
    preset = nncf.QuantizationPreset.MIXED if len(input_names) > 1 else nncf.QuantizationPreset.PERFORMANCE
    # transformers: NNCF's model type keeps LayerNorm/Softmax-adjacent ops in float (its documented setting)
    model_type = nncf.ModelType.TRANSFORMER if len(input_names) > 1 else None
    # subset_size counts dataset items, and ours are batches (of 16 samples): all of them
    return nncf.quantize(model, dataset, preset=preset, model_type=model_type, subset_size=len(calibration))

