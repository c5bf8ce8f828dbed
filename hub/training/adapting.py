"""Wiring a recipe's ``adapt`` section into a training run.

Everything that can fail on the user's input is checked here before the run
directory is claimed: the target dataset loads, shares the source's label
set, has unlabelled training data and a labelled test split for the report,
and the method can act under the chosen strategy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..adapt import AdaptationMethod, AdaptContext, norm_layers
from ..data import Dataset, Split
from ..errors import DataError, HubError
from ..recipes import Recipe
from ..registry import Component, Registry
from ..specs import resolve
from .data import InputEncoder, batch_plan, build_augmentation, iterate


@dataclass
class Adaptation:
    """A built method with its target data, ready for the trainer."""

    component: Component
    method: AdaptationMethod
    target: Dataset
    target_train: Split  # unlabelled: labels replaced by zeros so none can leak into training
    weight: float
    strong_augment: Any = None  # the strong target view, for methods with wants_strong_view

    @property
    def name(self) -> str:
        return self.component.qualified_name


class MethodUnfit(HubError):
    """This method cannot act with this recipe (frozen backbone, no batch norm, no strong view); another can.
    ``adapt.method = "auto"`` skips such a candidate from its default list instead of failing the run."""


def check_target(recipe: Recipe, source: Dataset, target: Dataset) -> Split:
    """What every method needs from the target, whichever is chosen; returns the pool to adapt on."""
    if tuple(target.label_names) != tuple(source.label_names):
        raise DataError(f"target dataset {target.name!r} has labels {list(target.label_names)} but the source "
                        f"{source.name!r} has {list(source.label_names)}; adaptation needs the same label set "
                        "in the same order")
    pool = target.pool()
    if pool is None or len(pool) == 0:
        raise DataError(f"target dataset {target.name!r} has no unlabelled or 'train' split to adapt on "
                        f"(it has: {', '.join(target.splits) or 'nothing'})")
    test = target.splits.get("test")
    if test is None or len(test) == 0 or test.labels is None:
        raise DataError(f"target dataset {target.name!r} has no labelled 'test' split, which the run needs to "
                        "report target accuracy (its labels are never used for training)")
    if recipe.train.mixup > 0:
        raise HubError("adaptation and mixup do not combine (mixup mixes source labels the target lacks); "
                       "set train.mixup = 0")
    return pool


def check_fit(recipe: Recipe, spec: Any, frozen_backbone: bool, backbone: torch.nn.Module | None = None) -> None:
    """Raise :class:`MethodUnfit` when ``spec``'s method cannot act here (``backbone`` None: not built yet,
    so the batch-norm check waits)."""
    if spec.needs_trainable_backbone and frozen_backbone:
        raise MethodUnfit(f"adaptation {spec.name!r} acts through the backbone's gradients, but strategy "
                          "'feature-extraction' freezes the backbone; use fine-tune, partial or gradual-unfreeze "
                          "(adabn and instance-weighting also work on a frozen backbone)")
    if backbone is not None and spec.needs_norm_layers and not norm_layers(backbone):
        raise MethodUnfit(f"adaptation {spec.name!r} re-estimates batch-norm statistics, but backbone "
                          f"{recipe.backbone.name!r} has no batch-norm layers; choose another method")
    if getattr(resolve(spec.factory), "wants_strong_view", False) and recipe.adapt.strong_augment in ("none", ""):
        raise MethodUnfit(f"adaptation {spec.name!r} trains on a strongly augmented target view, but "
                          "adapt.strong_augment is \"none\"; name an augmentation (e.g. \"strong\")")


def prepare(recipe: Recipe, registry: Registry, source: Dataset, target: Dataset | None, backbone: torch.nn.Module,
            feature_dim: int, frozen_backbone: bool, contract: Any) -> Adaptation | None:
    """Check and build the adaptation of ``recipe`` (None when the recipe has none); ``target`` is the
    job's loaded target dataset."""
    if recipe.adapt is None:
        return None
    options = dict(recipe.adapt.method)
    component = registry.get("adaptation", options.pop("name"))
    spec = component.spec
    pool = check_target(recipe, source, target)
    check_fit(recipe, spec, frozen_backbone, backbone)
    try:
        method = resolve(spec.factory)(feature_dim=feature_dim, num_classes=source.num_classes, **options)
    except HubError:
        raise
    except (TypeError, ValueError) as exc:
        raise HubError(f"adaptation {component.qualified_name!r}: {exc}") from exc
    if not isinstance(method, AdaptationMethod):
        raise HubError(f"adaptation {component.qualified_name!r}: its factory returned {type(method).__name__}, "
                       "not a hub.adapt.AdaptationMethod; fix the plugin")
    strong = build_augmentation(recipe.adapt.strong_augment, registry, contract) if method.wants_strong_view else None
    if method.wants_strong_view and strong is None:  # check_fit saw the class; a factory function hides it
        raise MethodUnfit(f"adaptation {spec.name!r} trains on a strongly augmented target view, but "
                          "adapt.strong_augment is \"none\"; name an augmentation (e.g. \"strong\")")
    unlabelled = Split(pool.inputs, np.zeros(len(pool), dtype=np.int64))
    return Adaptation(component, method, target, unlabelled, recipe.adapt.weight, strong)


def stream(split: Split, encoder: InputEncoder, batch_size: int, device: torch.device):
    """A fixed-order, un-augmented pass over ``split`` as a re-startable batch stream."""
    def batches() -> Iterator[tuple[torch.Tensor, ...]]:
        plan = batch_plan(len(split), batch_size, shuffle=False, seed=0, epoch=0)
        for inputs, _ in iterate(split, encoder, plan, device):
            yield inputs
    return batches


def context(adaptation: Adaptation, backbone: torch.nn.Module, source: Split, encoder: InputEncoder,
            device: torch.device, batch_size: int = 64) -> AdaptContext:
    return AdaptContext(backbone=backbone, source_batches=stream(source, encoder, batch_size, device),
                        target_batches=stream(adaptation.target_train, encoder, batch_size, device),
                        device=device, num_source=len(source), num_target=len(adaptation.target_train))


def target_batches(split: Split, encoder: InputEncoder, batch_size: int, seed: int, epoch: int,
                   device: torch.device) -> Iterator[tuple[torch.Tensor, ...]]:
    """Endless shuffled target batches for one source epoch, a pure function of (seed, epoch).

    Only full batches are drawn (when the target has that many examples), so a
    one-example remainder never reaches a batch-statistics layer.
    """
    rounds = 0
    while True:
        plan = batch_plan(len(split), batch_size, shuffle=True, seed=seed + 7919, epoch=epoch * 10_000 + rounds)
        full = [b for b in plan if len(b) == min(batch_size, len(split))]
        for inputs, _ in iterate(split, encoder, full, device):
            yield inputs
        rounds += 1


def combine_weights(weights: np.ndarray | None, other: np.ndarray | None) -> np.ndarray | None:
    if weights is None:
        return other
    if other is None:
        return weights
    return weights * other


def describe(adaptation: Adaptation, setup: dict[str, Any], finish: dict[str, Any]) -> dict[str, Any]:
    return {"method": adaptation.name, "target": adaptation.target.name, "weight": adaptation.weight,
            "target_examples": len(adaptation.target_train), "setup": setup,
            "finish": {k: v for k, v in finish.items() if k != "changed_backbone"}}
