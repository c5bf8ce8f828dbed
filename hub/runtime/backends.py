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
import os
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


def first_line(exc: BaseException) -> str:
    """A runtime's or converter's exception as one line (they raise pages of C++/MLIR context, or nothing)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


def available(runtime: str) -> bool:
    module, _ = RUNTIMES[runtime]
    return installed(module)


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (``sys.modules[name] = None`` blocks it, as Python's import does)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a blocked or half-installed package
        return False


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
                                    f"{first_line(exc)}") from exc
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
        path = Path(path)
        if not path.is_file():
            raise RuntimeModelError(f"{path}: no such LiteRT model; is the export complete?")
        self._path, self._threads, self._names = path, threads, list(input_names)
        self._interp = self._open()
        details = self._interp.get_input_details()
        if len(details) != len(input_names):
            raise RuntimeModelError(f"{path}: takes {len(details)} inputs, the export's contract names "
                                    f"{len(input_names)} ({', '.join(input_names)}); re-export it")
        self._shapes = [tuple(int(x) for x in d["shape"]) for d in details]
        self._one_by_one = False  # set when XNNPACK cannot re-plan the graph for another batch size
        self._inputs = [GraphInput(name, (None, *shape[1:]), str(np.dtype(d["dtype"])))
                        for name, shape, d in zip(input_names, self._shapes, details)]

    def _open(self) -> Any:
        from ai_edge_litert.interpreter import Interpreter

        try:
            # num_threads=None means 1 thread in LiteRT (onnxruntime and OpenVINO default to all cores)
            threads = int(self._threads) if self._threads else (os.cpu_count() or 1)
            interp = Interpreter(model_path=str(self._path), num_threads=threads)
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise RuntimeModelError(f"{self._path}: the LiteRT interpreter cannot load it: "
                                    f"{first_line(exc)}") from exc
        return interp

    def get_inputs(self) -> list[GraphInput]:
        return list(self._inputs)

    def get_providers(self) -> list[str]:
        return ["LiteRT CPU"]

    def run(self, output_names: Sequence[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        arrays = [np.asarray(feeds[n]) for n in self._names]
        if self._one_by_one:
            return [self._each(arrays)]
        try:
            return [self._invoke(arrays)]
        except (RuntimeError, ValueError) as exc:  # "XNNPack delegate failed to reshape": a traced RESHAPE
            log.info("%s: cannot resize to %s (%s); running one sample at a time", self._path,
                     [a.shape for a in arrays], first_line(exc))
            self._one_by_one = True
            self._interp = self._open()
            return [self._each(arrays)]

    def _each(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """One sample at a time at the file's own shape; token inputs shorter than the traced length are
        right-padded with 0 (pad id, attention mask 0), which the gate's padded pass proves harmless."""
        rows = []
        for i in range(len(arrays[0])):
            sample = []
            for a, shape in zip(arrays, self._shapes):
                row = a[i:i + 1]
                if row.ndim == 2 and np.issubdtype(row.dtype, np.integer) and row.shape[1] < shape[1]:
                    row = np.pad(row, ((0, 0), (0, shape[1] - row.shape[1])))
                sample.append(row)
            rows.append(self._invoke(sample))
        return np.concatenate(rows)

    def _invoke(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        interp = self._interp
        details = interp.get_input_details()
        if any(tuple(d["shape"]) != a.shape for d, a in zip(details, arrays)):
            for d, a in zip(details, arrays):
                interp.resize_tensor_input(d["index"], a.shape)
            interp.allocate_tensors()
            details = interp.get_input_details()
        for d, a in zip(details, arrays):
            interp.set_tensor(d["index"], _quantize(a, d))
        interp.invoke()
        out = interp.get_output_details()[0]
        return _dequantize(interp.get_tensor(out["index"]), out)


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
