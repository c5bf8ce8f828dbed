"""Dataset sources named by reference instead of by plugin: ``hf:NS/NAME[@REV]``, ``parquet:PATH``, ``arrow:PATH``.

Why they still look like registry components: every stage after the plan (training, the export's
gate, ``hub validate``, ``hub bench``) rebuilds its data as ``load_component(component, options)``
from the recipe in run.json. A source is therefore a :class:`SourceComponent` made on demand, whose
factory reads the source, whose modality is the backbone's (the same data can feed an image or a
text backbone only if it has such a column; that is checked when it is read), and whose qualified
name is the reference itself, so run.json and the card say where the data came from.

A repo reference is pinned to a commit sha once, in :func:`hub.job.plan` (:func:`pin`): the recipe
the run records then names that commit, ``hub export``/``validate`` read the same bytes later, and the
stage fingerprint (:func:`fingerprint`) is that sha — a new commit retrains, the same one reuses.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

from ..registry import Component
from ..specs import DatasetSpec
from .names import OPTIONS, TASKS, check_options, fingerprint, is_source, parse

__all__ = ["SourceComponent", "check_options", "component", "dataset_component", "fingerprint", "is_source", "pin"]


class SourceComponent(Component):
    """A registry component for a source reference; its qualified name is the reference itself."""

    @property
    def qualified_name(self) -> str:
        return self.spec.name


def component(name: str, modality: str) -> SourceComponent:
    """The component a recipe's ``dataset = "hf:..."`` stands for, for a backbone reading ``modality``."""
    source = parse(name)
    from .loading import load_source  # a cheap import: `datasets` is imported when the factory runs

    spec = DatasetSpec(
        name=name, factory=functools.partial(load_source, name, modality), modality=modality,
        task=TASKS.get(modality, f"{modality}-classification"),
        description=f"{'dataset repo' if source.kind == 'hf' else source.kind + ' files'} {source.where}",
        license="see the dataset card" if source.kind == "hf" else "unknown", source=str(source),
        options=dict(OPTIONS))
    return SourceComponent(kind="dataset", plugin="hub", spec=spec)


def pin(recipe: Any, target: Any = None) -> Any:
    """``recipe`` with its ``hf:`` dataset's revision resolved to a commit sha (one request) and a local source's path
    made absolute; other recipes as they are."""
    name = recipe.dataset.name
    if not is_source(name):
        return recipe
    source = parse(name)
    if source.kind != "hf":  # a local path is made absolute: `hub export RUN` may run from another folder
        where = str(Path(source.where).expanduser().absolute())
        if where == source.where:
            return recipe
        return dataclasses.replace(recipe, dataset=dataclasses.replace(
            recipe.dataset, name=str(dataclasses.replace(source, where=where))))
    if source.pinned:
        return recipe
    from .hubrepo import resolve_revision

    sha = resolve_revision(source, target)
    pinned = dataclasses.replace(source, revision=sha)
    return dataclasses.replace(recipe, dataset=dataclasses.replace(recipe.dataset, name=str(pinned)))


def dataset_component(registry: Any, name: str, modality: str) -> Any:
    """The component a recipe's dataset names: a registered one, or a source read for a ``modality`` backbone."""
    return component(name, modality) if is_source(name) else registry.get("dataset", name)
