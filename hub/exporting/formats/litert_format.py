"""LiteRT (.tflite) from the PyTorch model with litert-torch: fp32, and full-integer int8.

Draft: replaced once the converter probe reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import ExportError

FOLDER = "litert"
VARIANTS = {"fp32": "model.tflite", "int8": "model_int8.tflite"}


def files(relative: str) -> list[str]:
    return [relative]


def make(variant: str, folder: Path, context: Any) -> tuple[Path, None]:
    raise ExportError("not yet")
