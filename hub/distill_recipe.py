"""A recipe's ``distill`` section, checked when the recipe is resolved (torch-free, like the rest of the
recipe): the teacher is named, the transfer data is a dataset of the backbone's kind. Whether the
teacher exists and has the dataset's labels is checked when training starts (it may be a hub repo)."""

from __future__ import annotations

import dataclasses
from typing import Any

from .component_refs import component_ref, lookup
from .recipes import DistillConfig, FieldError, build_section
from .registry import Registry


def parse_distill(raw: Any) -> DistillConfig:
    distill = build_section(DistillConfig, raw, ("distill",))
    if not distill.teacher.strip():
        raise FieldError(("distill",), "a distill section needs teacher = \"...\" (an export folder, a hub repo "
                                       "namespace/name[@revision], or a run folder)")
    if distill.transfer:
        component_ref(distill.transfer, ("distill", "transfer"))
    return distill


def resolve_distill(distill: DistillConfig, registry: Registry, modality: str) -> DistillConfig:
    """Qualify the transfer dataset's name; it must hold the backbone's kind of data."""
    if not distill.transfer:
        return distill
    ref = component_ref(distill.transfer, ("distill", "transfer"))
    dataset = lookup(registry, "dataset", ref, ("distill", "transfer"))
    if dataset.spec.modality != modality:
        raise FieldError(("distill", "transfer"), f"transfer dataset {ref.name!r} holds {dataset.spec.modality} "
                                                  f"data; the backbone reads {modality}")
    return dataclasses.replace(distill, transfer={"name": dataset.qualified_name, **ref.options})
