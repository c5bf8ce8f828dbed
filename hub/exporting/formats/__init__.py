"""Formats besides ONNX, each made from the same trained model and judged in its own runtime.

``--format onnx,openvino,litert`` (recipe ``export.formats``): ONNX is always made, because it
is the graph every deployer's baseline runs and the one OpenVINO converts from; each further
format writes its files beside it (``openvino/``, ``litert/``) and each of its precisions goes
through the gate of :mod:`hub.exporting.gate` run by that format's runtime
(:mod:`hub.runtime.backends`). A variant that cannot be made or fails is a verdict in
report.json, never a crash, and its files are not kept.

This module imports nothing heavy: the CLI checks names and installed tools before any work.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...errors import ExportError
from ...runtime.backends import first_line, installed  # noqa: F401 (first_line: the format modules' one-line errors)

FORMATS = ("onnx", "openvino", "litert")

#: format -> the Python modules its conversion and its runtime need (all in the ``edge`` extra)
TOOLS = {"openvino": ("openvino", "nncf"), "litert": ("litert_torch", "ai_edge_litert")}
EXTRA = "edge"


def parse(values: str | Iterable[str] | None, default: Iterable[str] = ("onnx",)) -> list[str]:
    """Format names from ``"onnx,openvino"`` or a list, checked; ONNX first and always present."""
    if values is None:
        values = list(default)
    items = values.split(",") if isinstance(values, str) else [p for v in values for p in str(v).split(",")]
    names = [item.strip().lower() for item in items if item.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise ExportError(f"unknown export format(s) {', '.join(map(repr, unknown))}; "
                          f"choose from {', '.join(FORMATS)} (comma-separated, e.g. --format onnx,openvino)")
    return ["onnx"] + [n for n in dict.fromkeys(names) if n != "onnx"]


def check_tools(formats: Iterable[str]) -> None:
    """Refuse, before any work, a format whose converter or runtime is not installed."""
    for name in formats:
        missing = [m for m in TOOLS.get(name, ()) if not installed(m)]
        if missing:
            raise ExportError(f"export format {name!r} needs the Python package(s) {', '.join(missing)}, "
                              f"not installed; install them with: pip install 'zoohub[{EXTRA}]'")
