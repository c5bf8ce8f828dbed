"""From a zoo entry or command-line flags to a validated pre-training job (torch-free).

A pre-training job reuses the recipe machinery for what it shares with training (the backbone
and its options, the input-contract override, the dataset and its options, all checked against
the installed plugins with file:line errors) and adds the ``[entries.X.pretrain]`` section.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import HubError, ZooError
from ..recipes import FieldError, Recipe
from ..registry import Registry
from .config import PretrainConfig


@dataclass(frozen=True)
class PretrainJob:
    """What to pre-train: ``recipe`` carries backbone, dataset and input size; ``config`` the rest.

    ``start`` is where the backbone's weights begin: ``"random"`` (the default: pre-training is how
    backbones without shipped weights get some), ``"pretrained"`` (the backbone's own declared
    weights, when the entry says ``pretrained = true`` explicitly) or ``"weights"`` (the
    ``backbone.weights`` source, to continue from an earlier pre-training).
    """

    name: str
    recipe: Recipe
    config: PretrainConfig
    start: str = "random"


def _start(raw: Mapping[str, Any], recipe: Recipe) -> str:
    if recipe.weights:
        return "weights"
    backbone = raw.get("backbone")
    if isinstance(backbone, Mapping) and backbone.get("pretrained") is True:
        return "pretrained"
    return "random"


def job_from_table(name: str, raw: Mapping[str, Any], registry: Registry, source: str) -> PretrainJob:
    """A job from an entry table (CLI flags, ``--set`` overrides); errors name ``source``."""
    from ..zoo import _parse_entry, resolve_entry

    try:
        entry = _parse_entry(name, dict(raw), None)
        recipe = resolve_entry(entry, registry, source=source)
    except FieldError as exc:
        raise ZooError(f"{source}: {'.'.join(exc.path) or name}: {exc}") from None
    return _job(name, entry.pretrain, raw, recipe)


def job_from_catalogue(catalogue: Any, name: str, registry: Registry, overrides: tuple[str, ...] = ()) -> PretrainJob:
    """The zoo entry ``name`` as a job; it must have a ``[entries.NAME.pretrain]`` section."""
    from ..zoo import apply_override

    entry = catalogue.entry(name)
    raw = copy.deepcopy(catalogue.raw[name])
    if "pretrain" not in raw and not any(o.strip().startswith("pretrain.") for o in overrides):
        raise HubError(f"{catalogue.path}:{entry.line or 0}: entry {name!r} has no [entries.{name}.pretrain] section; "
                       f"add one (see docs/zoo.md) or pass --set pretrain.objective=simclr")
    if not overrides:
        return _job(name, entry.pretrain, raw, catalogue.recipe(name, registry))
    for assignment in overrides:
        apply_override(raw, assignment)
    return job_from_table(name, raw, registry, source="command line")


def _job(name: str, config: PretrainConfig | None, raw: Mapping[str, Any], recipe: Recipe) -> PretrainJob:
    config = config or PretrainConfig()
    return PretrainJob(name=name, recipe=recipe, config=config, start=_start(raw, recipe))
