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
