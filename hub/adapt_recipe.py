"""A recipe's ``adapt`` section: method (or ``auto``), target and strong view, checked when the recipe is
resolved (torch-free: recipes are checked by ``hub list`` too), so a typo fails before anything trains.

No adaptation method wins on every shift (BENCHMARKS.md), and the user of
unsupervised adaptation has no target labels to pick one with. ``auto``
trains candidate methods and keeps one by a criterion computed on the
target's *unlabelled* validation data (hub/training/auto_adapt.py runs it,
hub/training/selection.py holds the criteria).

    [entries.X.adapt]
    method = { name = "auto", candidates = ["none", "coral", "mcc"], epochs = 2, criterion = "rv" }
    target = "digits"
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .component_refs import component_ref, lookup, qualified
from .recipes import AdaptConfig, ComponentRef, FieldError, build_section
from .registry import Registry

AUTO = "auto"
#: "none" as a candidate is the source-only model: adaptation can hurt, and then it should lose
NONE = "none"
#: rv: reverse validation (default); im: information maximisation; snd: soft neighbourhood density;
#: dev: deep embedded validation. hub/training/selection.py defines each.
CRITERIA = ("rv", "im", "snd", "dev")
OPTIONS = ("candidates", "exclude", "epochs", "criterion")


def check_auto(options: dict[str, Any], qualify: Callable[[str, tuple[str, ...]], str],
               path: tuple[str, ...] = ("adapt", "method")) -> dict[str, Any]:
    """The checked ``auto`` table, candidate names qualified by ``qualify(name, path) -> qualified name``.

    Without ``candidates`` every installed method for the modality is one (those that cannot run with
    the recipe are skipped at train time, when the backbone is built), plus ``none``.
    """
    for key in options:
        if key not in OPTIONS:
            raise FieldError(path + (key,), f"auto has no option {key!r}; its options: {', '.join(OPTIONS)}")
    out: dict[str, Any] = {"name": AUTO}
    if options.get("candidates", None) == []:
        raise FieldError(path + ("candidates",), "is an empty list; leave candidates out for every installed method")
    for key in ("candidates", "exclude"):
        names = options.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise FieldError(path + (key,), f"must be a list of adaptation method names (or \"none\"), got {names!r}")
        if AUTO in names:
            raise FieldError(path + (key,), "auto cannot be its own candidate")
        qualified = [n if n == NONE else qualify(n, path + (key,)) for n in names]
        if len(set(qualified)) != len(qualified):
            raise FieldError(path + (key,), f"names a method twice: {names}")
        if qualified:
            out[key] = qualified
    if set(out.get("candidates", ())) and not set(out["candidates"]) - set(out.get("exclude", ())):
        raise FieldError(path + ("exclude",), "excludes every candidate; leave at least one")
    if "epochs" in options:
        epochs = options["epochs"]
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise FieldError(path + ("epochs",), f"each candidate needs at least one epoch to train, got {epochs!r}; "
                                                 "give 1..train.epochs, or leave it out for train.epochs")
        out["epochs"] = epochs
    criterion = options.get("criterion", CRITERIA[0])
    if criterion not in CRITERIA:
        raise FieldError(path + ("criterion",), f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    out["criterion"] = criterion
    return out


def is_auto(method: Any) -> bool:
    name = method.get("name") if isinstance(method, dict) else method
    return name == AUTO


def parse_adapt(raw: Any) -> AdaptConfig:
    adapt = build_section(AdaptConfig, raw, ("adapt",))
    for key in ("method", "target"):
        if not getattr(adapt, key):
            raise FieldError(("adapt",), f"an adapt section needs {key} = \"...\" "
                                         "(e.g. method = \"dann\", target = \"digits\")")
        component_ref(getattr(adapt, key), ("adapt", key))
    return adapt


def resolve_adapt(adapt: AdaptConfig, registry: Registry, source: Any, modality: str) -> AdaptConfig:
    """Qualify the method (or auto's candidates), target and strong-view names; the target must hold
    the source's kind of data."""
    ref = component_ref(adapt.method, ("adapt", "method"))

    def method_name(name: str, path: tuple[str, ...], options: Any = None) -> str:
        method = lookup(registry, "adaptation", ComponentRef(name, options or {}), path)
        if modality not in method.spec.modalities:
            raise FieldError(path, f"adaptation {name!r} does not support {modality} backbones")
        return method.qualified_name

    if ref.name == AUTO:
        method_table = check_auto(dict(ref.options), method_name)
    else:
        method_table = {"name": method_name(ref.name, ("adapt", "method"), ref.options), **ref.options}
    target_ref = component_ref(adapt.target, ("adapt", "target"))
    target = lookup(registry, "dataset", target_ref, ("adapt", "target"))
    if target.spec.modality != modality or target.spec.task != source.spec.task:
        raise FieldError(("adapt", "target"), f"target dataset {target_ref.name!r} holds {target.spec.modality} data "
                                              f"for {target.spec.task!r}; the source {source.name!r} holds "
                                              f"{source.spec.modality} data for {source.spec.task!r}")
    strong = component_ref(adapt.strong_augment, ("adapt", "strong_augment"))
    strong_table: Any = adapt.strong_augment
    if strong.name != "none" and (modality == "image" or strong.name != "strong"):  # the default is a vision one
        strong_table = qualified(registry, "augmentation", adapt.strong_augment, ("adapt", "strong_augment"), modality)
    return dataclasses.replace(adapt, method=method_table, target={"name": target.qualified_name, **target_ref.options},
                               strong_augment=strong_table)
