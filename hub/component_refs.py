"""Component references in recipes: ``"name"`` or ``{ name = "...", option = ... }``, checked against the
registry with the key path, so a typo names where it is (``adapt.method.candidates``) and what was meant."""

from __future__ import annotations

from typing import Any

from .errors import HubError
from .recipes import ComponentRef, FieldError, unknown_key_message
from .registry import Registry


def component_ref(value: Any, path: tuple[str, ...]) -> ComponentRef:
    if isinstance(value, str) and value:
        return ComponentRef(value)
    if isinstance(value, dict):
        if not isinstance(value.get("name"), str) or not value["name"]:
            raise FieldError(path, "a component table needs name = \"...\"")
        return ComponentRef(value["name"], {k: v for k, v in value.items() if k != "name"})
    raise FieldError(path, f"must be a component name or a table with name = \"...\", got {value!r}")


def lookup(registry: Registry, kind: str, ref: ComponentRef, path: tuple[str, ...]) -> Any:
    try:
        component = registry.get(kind, ref.name)
    except HubError as exc:
        raise FieldError(path, str(exc)) from None
    allowed = component.spec.options
    for key, value in ref.options.items():
        if key not in allowed:
            raise FieldError(path + (key,), f"{kind} {ref.name!r} has no option {key!r}: " + unknown_key_message(key, allowed).split("; ", 1)[1])
        default = allowed[key]
        if default is not None and not same_kind(default, value):
            raise FieldError(path + (key,), f"must be {type(default).__name__} like the default {default!r}, got {value!r}")
    return component


def qualified(registry: Registry, kind: str, value: Any, path: tuple[str, ...], modality: str) -> dict[str, Any]:
    """``value`` (a name or a table) as ``{"name": qualified name, **options}``, its component checked to hold
    or read ``modality`` data (augmentations, transfer data, a strong view: whatever meets the backbone)."""
    ref = component_ref(value, path)
    component = lookup(registry, kind, ref, path)
    if component.spec.modality != modality:
        raise FieldError(path, f"{kind} {ref.name!r} is for {component.spec.modality} data, the backbone reads {modality}")
    return {"name": component.qualified_name, **ref.options}


def same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))
