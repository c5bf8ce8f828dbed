"""Runtimes besides onnxruntime: OpenVINO IR and LiteRT (.tflite) behind one session shape.

Why one shape: :class:`hub.runtime.Model`, the export gate and the latency timer all talk to an
onnxruntime ``InferenceSession`` (``get_inputs()``, ``run(None, feeds)``, ``get_providers()``).
A session here answers the same three calls, so a format is judged by the same gate code and
predicts through the same preprocessing as ONNX, and adding a runtime means one class, not a
second code path through the package.

Each runtime is an optional extra that pulls no torch (``pip install 'zoohub[openvino]'``,
``'zoohub[litert]'``); its package is imported only when a session is opened, and a missing
package is one line naming the extra.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RuntimeModelError

log = logging.getLogger(__name__)

#: runtime name -> (module that must import, the zoohub extra that installs it)
RUNTIMES: dict[str, tuple[str, str]] = {
    "onnxruntime": ("onnxruntime", "runtime"),
    "openvino": ("openvino", "openvino"),
    "litert": ("ai_edge_litert", "litert"),
}

#: OpenVINO's CPU inference precisions a variant may ask for, and the CPU capability each needs.
OV_PRECISIONS = {"f32": "FP32", "bf16": "BF16"}


@dataclass(frozen=True)
class GraphInput:
    """What ``session.get_inputs()`` yields: the input's name, shape (None for dynamic) and type."""

    name: str
    shape: tuple[Any, ...]
    type: str


def available(runtime: str) -> bool:
    module, _ = RUNTIMES[runtime]
    return importlib.util.find_spec(module) is not None


def require(runtime: str, why: str = "") -> None:
    """Raise one line naming the extra to install when ``runtime``'s package is missing."""
    if runtime not in RUNTIMES:
        raise RuntimeModelError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    if not available(runtime):
        module, extra = RUNTIMES[runtime]
        raise RuntimeModelError(f"{why or runtime}: the Python package {module!r} is not installed; "
                                f"install it with: pip install 'zoohub[{extra}]'")


def ov_supports(precision: str) -> bool:
    """Whether this CPU runs OpenVINO at ``precision`` natively (bf16 needs AVX512-BF16 or AMX)."""
    if precision == "f32":
        return True
    import openvino as ov

    return OV_PRECISIONS[precision] in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVINOSession:
    """An OpenVINO IR (``model.xml`` + ``.bin``) compiled for the CPU at one inference precision."""

    def __init__(self, path: Path, precision: str = "f32", threads: int | None = None) -> None:
        require("openvino")
        import openvino as ov

        path = Path(path)
        if not path.is_file() or not path.with_suffix(".bin").is_file():
            raise RuntimeModelError(f"{path}: no OpenVINO IR here (model .xml and .bin); is the export complete?")
        if precision not in OV_PRECISIONS:
            raise RuntimeModelError(f"{path}: OpenVINO precision {precision!r} is not one of {', '.join(OV_PRECISIONS)}")
        properties: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision}
        if threads:
            properties["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            self._compiled = ov.Core().compile_model(str(path), "CPU", properties)
        except Exception as exc:  # OpenVINO raises RuntimeError with multi-line text
            raise RuntimeModelError(f"{path}: OpenVINO {ov.__version__} cannot load it: "
                                    f"{str(exc).strip().splitlines()[0]}") from exc
        self._request = self._compiled.create_infer_request()
        self.precision = precision
        self._inputs = [GraphInput(i.any_name, tuple(None if d.is_dynamic else d.get_length()
                                                     for d in i.get_partial_shape()), str(i.get_element_type()))
                        for i in self._compiled.inputs]

    def get_inputs(self) -> list[GraphInput]:
        return list(self._inputs)

    def get_providers(self) -> list[str]:
        return [f"OpenVINO CPU ({self.precision})"]

    def run(self, output_names: Sequence[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        result = self._request.infer({i.name: feeds[i.name] for i in self._inputs})
        # the request reuses its output buffers: copy, or the next call overwrites this answer
        return [np.array(result[out]) for out in self._compiled.outputs]


class LiteRTSession:
    """A ``.tflite`` flatbuffer in the LiteRT interpreter (XNNPACK on CPU).

    LiteRT files have fixed shapes; the batch (and, for text, the sequence) dimension is
    resized per call when it differs, which the interpreter does by re-planning its tensors.
    Inputs are matched to the export's input names by position: the converter names them
    ``args_0``, ``args_1``... in the order the PyTorch model takes them.
    """

    def __init__(self, path: Path, input_names: Sequence[str], threads: int | None = None) -> None:
        require("litert")
        from ai_edge_litert.interpreter import Interpreter

        path = Path(path)
        if not path.is_file():
            raise RuntimeModelError(f"{path}: no such LiteRT model; is the export complete?")
        try:
            self._interp = Interpreter(model_path=str(path), num_threads=int(threads) if threads else None)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise RuntimeModelError(f"{path}: the LiteRT interpreter cannot load it: "
                                    f"{str(exc).strip().splitlines()[0]}") from exc
        details = self._interp.get_input_details()
        if len(details) != len(input_names):
            raise RuntimeModelError(f"{path}: takes {len(details)} inputs, the export's contract names "
                                    f"{len(input_names)} ({', '.join(input_names)}); re-export it")
        self._details = list(zip(input_names, details))
        self._output = self._interp.get_output_details()[0]
        self._inputs = [GraphInput(name, (None, *map(int, d["shape"][1:])), str(np.dtype(d["dtype"])))
                        for name, d in self._details]

    def get_inputs(self) -> list[GraphInput]:
        return list(self._inputs)

    def get_providers(self) -> list[str]:
        return ["LiteRT CPU"]

    def run(self, output_names: Sequence[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        interp = self._interp
        current = interp.get_input_details()
        resized = False
        for position, (name, detail) in enumerate(self._details):
            want = tuple(np.shape(feeds[name]))
            if tuple(current[position]["shape"]) != want:
                interp.resize_tensor_input(detail["index"], want)
                resized = True
        if resized:
            interp.allocate_tensors()
        for name, detail in self._details:
            interp.set_tensor(detail["index"], _quantize(np.asarray(feeds[name]), detail))
        interp.invoke()
        return [_dequantize(interp.get_tensor(self._output["index"]), self._output)]


def _quantize(array: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Cast to the file's input type; an integer-quantised input gets its scale and zero point."""
    dtype = np.dtype(detail["dtype"])
    scale, zero = detail.get("quantization", (0.0, 0))
    if np.issubdtype(array.dtype, np.floating) and np.issubdtype(dtype, np.integer) and scale:
        info = np.iinfo(dtype)
        return np.clip(np.round(array / scale) + zero, info.min, info.max).astype(dtype)
    return np.ascontiguousarray(array, dtype=dtype)


def _dequantize(array: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero = detail.get("quantization", (0.0, 0))
    if np.issubdtype(array.dtype, np.integer) and scale:
        return (array.astype(np.float32) - zero) * scale
    return np.array(array, dtype=np.float32)


def open_session(runtime: str, path: Path, *, input_names: Sequence[str] = (), precision: str | None = None,
                 threads: int | None = None, providers: Sequence[str] | None = None) -> Any:
    """A session of ``runtime`` on ``path``: the one entry the gate, the timer and :func:`hub.runtime.load` use."""
    require(runtime)
    if runtime == "openvino":
        return OpenVINOSession(path, precision or "f32", threads)
    if runtime == "litert":
        return LiteRTSession(path, input_names, threads)
    from .session import make_session

    return make_session(path, providers=providers, threads=threads)
