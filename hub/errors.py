"""One error hierarchy for the whole hub.

Every error the user can cause is a :class:`HubError`, so the CLI can turn it
into one clean line and exit code 1. Subclasses also derive from the matching
builtin, so callers that already catch ``KeyError`` or ``ValueError`` keep
working (the pattern of ``huggingface_hub.errors``).
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose.

    Messages say what was wrong, where (file:line, plugin, component) and what
    to do about it.
    """


class SpecError(HubError, ValueError):
    """A component spec is invalid (raised while a plugin registers it)."""


class PluginError(HubError, RuntimeError):
    """A plugin could not be loaded, or is refused (strict mode, contract)."""


class ComponentNotFound(HubError, KeyError):
    """No installed plugin provides the requested component."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class AmbiguousComponent(HubError, LookupError):
    """An unqualified name is provided by more than one plugin."""


class ZooError(HubError, ValueError):
    """zoo.toml (or a recipe) is malformed or names unknown components."""


class WeightsError(HubError, OSError):
    """Pretrained weights are unavailable, or failed verification."""


class DataError(HubError, ValueError):
    """A dataset is missing, unreadable or malformed."""


class OutputDirError(HubError, FileExistsError):
    """An output folder holds something a command would destroy (see :func:`hub.fsutil.check_output_dir`)."""


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


class EnsembleError(ExportError, ValueError):
    """Members that cannot form one ensemble, bad weights, or an --out that must not be replaced."""


class PretrainError(HubError, ValueError):
    """A pre-training job cannot run as asked (output folder, data, modality)."""


class VerificationError(HubError, RuntimeError):
    """The published model does not behave like the model that was trained."""


class LoraError(HubError, ValueError):
    """A LoRA recipe that cannot act on this backbone."""


class RunDirError(HubError, ValueError):
    """A run directory is missing, incomplete, or from an incompatible hub."""


class PublishError(HubError, RuntimeError):
    """Publishing to, or pulling from, a hub failed; the message says where and what to do."""


class RefusedFile(PublishError, ValueError):
    """A file is of a type the hub never publishes or pulls (pickles, unknown formats)."""


class IntegrityError(PublishError, OSError):
    """Downloaded bytes do not match the manifest, or the manifest is missing or malformed."""


class InputError(HubError, ValueError):
    """An input a deployed model cannot classify as given; the message says what it wants."""


class RuntimeModelError(HubError, ValueError):
    """An exported model folder or ONNX file cannot be used as it is."""


class UnsafeModelError(RuntimeModelError):
    """An ONNX file points at data outside its own folder; it is refused, not opened."""
