"""The job: one recipe resolved once — components, dataset splits, weights, tokenizer, fingerprints.

``hub run``, ``hub train`` and ``hub export`` used to resolve each of these in every stage (one
``hub run`` called a dataset plugin's factory five times, and a ``hub pretrain`` weights reference
meant a snapshot download and a sha256 per stage). :func:`plan` builds a :class:`Job`; the stages
read what it holds, each piece made on first use and kept, so a stage that is reused never pays
for what it does not read, and no stage pays twice.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import Dataset, load_component, load_dataset
from .model import Components, components
from .recipes import Recipe
from .registry import Registry
from .specs import TextInput


@dataclass
class Job:
    """One recipe and everything resolved from it; make it with :func:`plan`."""

    recipe: Recipe
    registry: Registry
    components: Components

    @functools.cached_property
    def dataset(self) -> Dataset:
        return load_component(self.components.dataset, self.recipe.dataset.options)

    @functools.cached_property
    def target(self) -> Dataset | None:
        """The unlabelled target of a domain-adaptation recipe (None without ``[adapt]``)."""
        if self.recipe.adapt is None:
            return None
        ref = dict(self.recipe.adapt.target)
        return load_dataset(self.registry, ref.pop("name"), ref, role="target dataset")

    @functools.cached_property
    def input(self) -> Any:
        from .model import input_contract

        return input_contract(self.components.backbone_spec, self.recipe)

    @functools.cached_property
    def weights(self) -> tuple[Path, Any] | None:
        """``(path, WeightSource)`` of the backbone's own pretrained weights, verified; None when not needed.

        Text backbones always need their folder (model config and tokenizer), pretrained or not.
        """
        from .weights import resolve_weights

        spec = self.components.backbone_spec
        needed = (self.recipe.pretrained and not self.recipe.weights) or spec.modality == "text"
        return resolve_weights(spec) if needed else None

    @functools.cached_property
    def named_weights(self) -> Any:
        """The ``backbone.weights`` checkpoint (a ``hub pretrain`` output), verified; None without one."""
        from .weights import resolve_pretrain_weights

        if not (self.recipe.pretrained and self.recipe.weights):
            return None
        return resolve_pretrain_weights(self.recipe.weights, self.components.backbone_spec)

    @property
    def tokenizer(self) -> Path | None:
        return Path(self.weights[0]) if isinstance(self.input, TextInput) and self.weights else None

    def derive(self, recipe: Recipe) -> Job:
        """A job for a variant of this recipe on the same components and data (``adapt = "auto"``'s
        candidates): what this job already resolved is shared, so nothing loads twice."""
        job = Job(recipe, self.registry, self.components)
        shared = ("dataset", "input", "weights", "named_weights") + (("target",) if recipe.adapt is not None else ())
        for key in shared:
            if key in self.__dict__:
                job.__dict__[key] = self.__dict__[key]
        return job

    @functools.cached_property
    def fingerprints(self) -> dict[str, str]:
        """The train stage's inputs: the recipe (all but export/publish), the code, the data."""
        from .fingerprints import code_fingerprint, digest
        from .plugins import plugin_modules

        recipe, registry, comps = self.recipe, self.registry, self.components
        used = [comps.backbone, comps.head, comps.task, comps.dataset]
        if recipe.adapt is not None:
            from .adapt_recipe import NONE, is_auto

            method = recipe.adapt.method
            names = method.get("candidates") or [c.qualified_name for c in registry.all("adaptation")] \
                if is_auto(method) else [method["name"]]
            used += [registry.get("adaptation", name) for name in names if name != NONE]
            used.append(registry.get("dataset", recipe.adapt.target["name"]))
        augment = recipe.train.augment
        if augment not in ("none", "", None):
            used.append(registry.get("augmentation", augment if isinstance(augment, str) else augment["name"]))
        modules = plugin_modules()
        plugins = {c.plugin: modules.get(c.plugin, c.plugin) for c in used}
        sections = recipe.to_dict()
        for key in ("export", "publish", "source"):
            sections.pop(key, None)
        return {"recipe": digest(sections), "code": code_fingerprint(plugins), "data": self._data_fingerprint()}

    def _data_fingerprint(self) -> str:
        """The data's bytes; for a source (hub/data_sources) what it names instead: a repo's pinned commit, a
        local folder's file bytes, so nothing is downloaded or decoded to decide a reuse."""
        from .data_sources.refs import fingerprint, is_source
        from .fingerprints import data_fingerprint, digest

        target = [self.target] if self.recipe.adapt is not None else []
        if not is_source(self.recipe.dataset.name):
            data = data_fingerprint(self.dataset, *target)
        else:
            data = digest(fingerprint(self.recipe.dataset.name), data_fingerprint(*target) if target else "")
        if self.recipe.distill is None:
            return data
        from .distill_recipe import teacher_identity

        return digest(data, teacher_identity(self.recipe.distill.teacher))


def plan(recipe: Recipe, registry: Registry) -> Job:
    """Resolve ``recipe``'s components now (a wrong name fails here); the rest on first use, once.

    A dataset repo named by branch or tag (``hf:NS/NAME@main``) is pinned here to the commit it names now
    (one request): the job, its run.json and its fingerprints all name that commit.
    """
    from .data_sources.refs import pin

    recipe = pin(recipe)
    return Job(recipe, registry, components(recipe, registry))
