"""Errors of the export stage; every one is a :class:`hub.errors.HubError` (one line, exit 1)."""

from __future__ import annotations

from ..errors import HubError


class ExportError(HubError, RuntimeError):
    """The model could not be exported (opset, unsupported operator, disk, bad run dir)."""


class GateError(ExportError):
    """The validation gate failed: ONNX outputs or metrics differ from PyTorch beyond tolerance.

    Never a warning: a model that does not behave like the one that was trained
    is not published. ``report`` holds the full machine-readable result.
    """

    def __init__(self, message: str, report: dict | None = None) -> None:
        super().__init__(message)
        self.report = report or {}
