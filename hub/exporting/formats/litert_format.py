"""LiteRT (.tflite) from the PyTorch model: fp32 with litert-torch, full-integer int8 with AI Edge Quantizer.

Why litert-torch from PyTorch (not onnx2tf from the ONNX file): it needs no TensorFlow, and it
converted every vision backbone family we probed with logits within 4e-6 of PyTorch. The file
has the batch-1 shape it was traced with; :class:`hub.runtime.backends.LiteRTSession` resizes
it per call, or runs a batch one sample at a time where XNNPACK cannot re-plan a graph.

int8 is static full-integer quantisation (weights and activations, ``static_wi8_ai8``) of the
fp32 file, calibrated on real training samples: what microcontrollers and NPUs need, with int8
input and output tensors whose scale and zero point the session applies. AI Edge Quantizer did
it in ~1 s for ResNet-18 where PyTorch's PT2E route took ~50 s with the same agreement.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ExportError
from . import first_line

log = logging.getLogger(__name__)

FOLDER = "litert"
VARIANTS = {"fp32": "model.tflite", "int8": "model_int8.tflite"}
CALIBRATION_SAMPLES = 64


def files(relative: str) -> list[str]:
    return [relative]


def make(variant: str, folder: Path, context: Any) -> tuple[Path, None]:
    """Write ``variant``'s .tflite under ``folder``; returns (path, None: LiteRT has no precision knob)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / VARIANTS[variant]
    fp32 = folder / VARIANTS["fp32"]
    tmp = path.with_name(path.name + ".partial")
    try:
        if variant == "fp32":
            _convert(context, tmp)
        else:
            if not fp32.is_file():
                raise ExportError("int8 is quantised from the fp32 .tflite, which could not be made")
            _quantize(fp32, tmp, context.calibration, context.input_names)
        os.replace(tmp, path)
    except ExportError:
        raise
    except Exception as exc:  # converter errors: torch.export, MLIR lowering, flatbuffer writing
        raise ExportError(f"conversion failed: {first_line(exc)}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path, None


def _convert(context: Any, out: Path) -> None:
    """torch.export here, litert-torch in a child process (:mod:`.litert_worker`).

    Why a child: litert-torch imports JAX, whose threads make any later ``fork`` in this process
    unsafe (the trainer's data workers, test servers), and an MLIR crash must become this variant's
    verdict instead of ending the export. Why ``python -m`` and not multiprocessing: spawn re-runs
    the caller's main script, which a user's ``hub.export(...)`` script without a main guard would
    repeat. The program crosses as ``torch.export.save``'s archive, the example as a pickle-free .npz.
    """
    import subprocess
    import sys
    import tempfile

    import torch

    class Fixed(torch.nn.Module):
        """HubModel takes ``*inputs``; torch.export wants a forward of fixed arity."""

        def __init__(self, inner: torch.nn.Module, count: int) -> None:
            super().__init__()
            self.inner, self.count = inner, count

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.inner(*inputs[: self.count])

    example = [np.ascontiguousarray(context.example[n]) for n in context.input_names]
    with torch.no_grad():
        program = torch.export.export(Fixed(context.model.eval(), len(example)).eval(),
                                      tuple(torch.from_numpy(a) for a in example))
    with tempfile.TemporaryDirectory(prefix="hub-litert-") as work:
        torch.export.save(program, str(Path(work) / "model.pt2"))
        np.savez(Path(work) / "example.npz", *example)
        env = {**os.environ, "LITERT_TORCH_SHOW_PROGRESS": "n", "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, "-m", "hub.exporting.formats.litert_worker", work, str(out)],
                              capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if "Error" in line.split(":")[0] or "Exception" in line.split(":")[0]]
        why = (errors or lines or [f"exit code {done.returncode}"])[-1]
        raise ExportError(f"conversion failed: {why[:300]}")


def _fit(array: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """A calibration sample in the file's own shape and type (token inputs right-padded with 0)."""
    shape = tuple(int(x) for x in detail["shape"])
    if array.ndim == 2 and array.shape[1] < shape[1]:
        array = np.pad(array, ((0, 0), (0, shape[1] - array.shape[1])))
    return np.ascontiguousarray(array, dtype=detail["dtype"])


def _quantize(fp32: Path, out: Path, calibration: Sequence[dict[str, Any]] | None, input_names: Sequence[str]) -> None:
    if not calibration:
        raise ExportError("int8 needs calibration batches from the training split; none were given")
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    interp = Interpreter(model_path=str(fp32))
    signatures = interp.get_signature_list()
    key = next(iter(signatures))
    names = signatures[key]["inputs"]  # args_0, args_1...: the PyTorch inputs in order
    runner = interp.get_signature_runner(key).get_input_details()
    samples = []
    for feeds in calibration:
        for row in range(len(feeds[input_names[0]])):
            samples.append({arg: _fit(feeds[n][row:row + 1], runner[arg]) for arg, n in zip(names, input_names)})
            if len(samples) >= CALIBRATION_SAMPLES:
                break
        if len(samples) >= CALIBRATION_SAMPLES:
            break
    q = quantizer.Quantizer(str(fp32), recipe.static_wi8_ai8())
    result = q.quantize(q.calibrate({key: samples}, num_threads=os.cpu_count() or 1), enable_progress_report=False)
    result.export_model(str(out), overwrite=True)

