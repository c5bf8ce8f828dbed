"""A recipe's ``distill`` section, checked when the recipe is resolved (torch-free, like the rest of the
recipe): the teacher is named, the transfer data is a dataset of the backbone's kind. Whether the
teacher exists and has the dataset's labels is checked when training starts (it may be a hub repo)."""

from __future__ import annotations

import dataclasses
from typing import Any

from .component_refs import component_ref, qualified
from .recipes import DistillConfig, FieldError, build_section
from .registry import Registry

MAX_TEACHERS = 8


def parse_distill(raw: Any) -> DistillConfig:
    distill = build_section(DistillConfig, raw, ("distill",))
    if isinstance(distill.teacher, list):
        if not 1 <= len(distill.teacher) <= MAX_TEACHERS or not all(
                isinstance(t, str) and t.strip() for t in distill.teacher):
            raise FieldError(("distill", "teacher"), f"a list of teachers holds 1 to {MAX_TEACHERS} non-empty names "
                                                     f"(export folders, hub repos or run folders), got {distill.teacher!r}")
    elif not distill.teacher.strip():
        raise FieldError(("distill",), "a distill section needs teacher = \"...\" (an export folder, a hub repo "
                                       "namespace/name[@revision], or a run folder)")
    if distill.transfer:
        component_ref(distill.transfer, ("distill", "transfer"))
    return distill


def resolve_distill(distill: DistillConfig, registry: Registry, modality: str) -> DistillConfig:
    """Qualify the transfer dataset's name; it must hold the backbone's kind of data."""
    if distill.views and modality != "text":
        raise FieldError(("distill", "views"), f"views perturbs texts, and this backbone reads {modality} data; "
                                               "name unlabelled images as distill.transfer instead")
    if not distill.transfer:
        return distill
    return dataclasses.replace(distill, transfer=qualified(registry, "dataset", distill.transfer,
                                                           ("distill", "transfer"), modality))


def teacher_refs(teacher: str | list[str]) -> list[str]:
    return [teacher] if isinstance(teacher, str) else list(teacher)


def teacher_identity(teacher: str | list[str]) -> str:
    """What names the teachers' numbers for stage reuse: a local teacher's weight bytes (hashed once per
    process), a hub repo's reference. A list is keyed as a set of members in any order: the student learns
    their mean probabilities, which the order does not change."""
    from .fingerprints import digest

    refs = teacher_refs(teacher)
    return _identity(refs[0]) if len(refs) == 1 else digest(*sorted(_identity(ref) for ref in refs))


def _identity(ref: str) -> str:
    from pathlib import Path

    from .weights import sha256_once

    folder = Path(ref).expanduser()
    for name in ("weights.safetensors", "onnx/model.onnx", "model.onnx"):
        if (folder / name).is_file():
            return sha256_once(folder / name)
    return ref
