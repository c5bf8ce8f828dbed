"""Domain adaptation: what a method may contribute to the one training loop.

Transductive transfer trains on a labelled *source* dataset while an unlabelled
*target* dataset (same label set, other domain) steers the model toward
features that work there too. Methods differ only in where they act, so the
trainer offers four points and a method overrides the ones it needs:

- **modules**: the method is itself an ``nn.Module``; its parameters (a
  domain discriminator, say) train with the head's learning rate and are
  checkpointed for resume, but never exported;
- :meth:`AdaptationMethod.setup`: a pass over source and target data before
  the first step (instance weighting fits a domain classifier here);
- :meth:`AdaptationMethod.source_weights`: importance weights for the source
  training examples (used for weighted sampling of source batches);
- :meth:`AdaptationMethod.loss`: an extra loss over a source and a target
  feature batch, given the training progress in [0, 1] for schedules;
  :meth:`AdaptationMethod.batch_loss` (contract 1.4) sees the step whole as
  an :class:`AdaptBatch`: the head's logits on both domains too, which
  self-training needs (pseudo-labels, class confusion, information
  maximisation), and, for a method with ``wants_strong_view``, the logits of a
  strongly augmented view of the same target batch (consistency training);
- :meth:`AdaptationMethod.finish`: a pass after training (AdaBN re-estimates
  normalisation statistics on target data here).

Target labels never reach a method: the target dataset's labelled test split
is read only for the final report. Third-party methods register through the
``register_adaptations`` hook (contract 1.2), exactly as the first-party ones
in ``hub_common.adaptation`` do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

#: Yields input-tensor tuples (in the backbone's ``input_names`` order) on the training device.
Batches = Callable[[], Iterator[tuple[torch.Tensor, ...]]]


@dataclass
class AdaptContext:
    """What a method's data passes may use: the model and batch streams over both domains."""

    backbone: nn.Module
    source_batches: Batches  # the source training split, fixed order, no augmentation
    target_batches: Batches  # the target's unlabelled training data, fixed order
    device: torch.device
    num_source: int
    num_target: int

    @torch.no_grad()
    def features(self, batches: Batches) -> torch.Tensor:
        """Backbone features (eval mode) of a whole stream, on the CPU."""
        was_training = self.backbone.training
        self.backbone.eval()
        try:
            return torch.cat([self.backbone(*inputs).float().cpu() for inputs in batches()])
        finally:
            self.backbone.train(was_training)


@dataclass
class AdaptBatch:
    """One training step as a method's loss sees it (contract 1.4).

    Both domains went through the backbone in one batch (batch-norm layers normalise with the mix's
    statistics) and through the head; the target view carries the recipe's own augmentation (the
    "weak" view). ``target_strong_logits`` is the same target batch under the recipe's
    ``adapt.strong_augment``, filled only for methods that set ``wants_strong_view``.
    Source labels are here for methods that need them (class-conditional alignment); the target's
    never are.
    """

    source: torch.Tensor  # (batch, feature_dim) source features
    target: torch.Tensor  # (batch, feature_dim) target features
    source_logits: torch.Tensor  # (batch, classes)
    target_logits: torch.Tensor | None  # None for a method that only overrides ``loss`` (the head never ran on it)
    labels: torch.Tensor  # source labels
    progress: float  # training progress in [0, 1], for schedules
    target_strong_logits: torch.Tensor | None = None


class AdaptationMethod(nn.Module):
    """Base class: every point is optional and does nothing by default."""

    #: True when :meth:`batch_loss` needs ``AdaptBatch.target_strong_logits`` (one more forward per step).
    wants_strong_view: bool = False

    def setup(self, ctx: AdaptContext) -> dict[str, Any]:
        """Called once before the first epoch (not again on resume); returns facts for run records."""
        return {}

    def source_weights(self) -> np.ndarray | None:
        """Per-example weights for the source training split, or None for uniform."""
        return None

    def loss(self, source: torch.Tensor, target: torch.Tensor, progress: float) -> torch.Tensor | None:
        """Extra loss from ``(batch, feature_dim)`` source and target features; None adds nothing."""
        return None

    def batch_loss(self, batch: AdaptBatch) -> torch.Tensor | None:
        """Extra loss from the whole step (contract 1.4); by default :meth:`loss` on the features."""
        return self.loss(batch.source, batch.target, batch.progress)

    def finish(self, ctx: AdaptContext) -> dict[str, Any]:
        """Called once after training; returns facts for run records (``{"changed_backbone": True}``
        when it altered the backbone, so cached features are recomputed for the final report)."""
        return {}

    @property
    def uses_loss(self) -> bool:
        cls = type(self)
        return cls.loss is not AdaptationMethod.loss or cls.batch_loss is not AdaptationMethod.batch_loss


def norm_layers(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The batch-norm layers whose running statistics decide eval-mode outputs."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recompute_norm_stats(backbone: nn.Module, batches: Batches, layers: list | None = None) -> int:
    """Re-estimate batch-norm running statistics as the exact average over ``batches``.

    Shared by AdaBN (target data: Li et al. 2016) and the trainer's precise-BN
    pass (source training data): with a small BN momentum (EfficientNet-Lite's
    TF-style 0.01) a few hundred steps leave the running statistics far from
    the data, so a model right in train mode is wrong in eval mode. Only the
    statistics change: every other module stays in eval mode (no dropout, no
    RNG draws) and no parameter is touched. Each batch's statistics enter with
    weight ``batch / seen so far``, so the running mean is the exact mean over
    every example and the running variance the size-weighted mean of the batch
    variances (as in precise BN, Wu & Johnson 2021). Returns the number of
    examples seen.
    """
    layers = norm_layers(backbone) if layers is None else layers
    if not layers:
        return 0
    modes = [(m, m.training) for m in backbone.modules()]
    momenta = [(m, m.momentum) for m in layers]
    backbone.eval()
    for m in layers:
        m.reset_running_stats()
        m.train()
    seen = 0
    try:
        for inputs in batches():
            n = len(inputs[0])
            for m in layers:  # weight each batch by its size: the mean is the exact mean over all examples
                m.momentum = n / (seen + n)
            backbone(*inputs)
            seen += n
    finally:
        for m, momentum in momenta:
            m.momentum = momentum
        for m, training in modes:
            m.train(training)
    return seen
