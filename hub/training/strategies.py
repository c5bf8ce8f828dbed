"""Transfer strategies: which backbone layer groups train, and at what learning rate.

A strategy is a pure function of the epoch, so resuming needs no extra state:
``trainable(epoch)`` says which groups are unfrozen, and the optimiser holds
every group from the start (frozen ones simply get no gradient), so optimiser
state lines up across unfreezing steps and across a resume.

Layer-wise learning-rate decay (discriminative learning rates, ULMFiT): the
head trains at ``lr``, the last backbone group at ``lr * decay``, the one
before at ``lr * decay**2``, and so on towards the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..recipes import TrainConfig


@dataclass(frozen=True)
class Strategy:
    name: str
    groups: tuple[str, ...]  # backbone layer groups, input -> output
    trainable_groups: int = 1
    unfreeze_every: int = 1

    @property
    def frozen_backbone(self) -> bool:
        """True when the backbone never trains: its features can be cached."""
        return self.name == "feature-extraction"

    def trainable(self, epoch: int) -> tuple[str, ...]:
        """Backbone groups that train during ``epoch`` (0-based)."""
        n = len(self.groups)
        if self.name == "lora":  # the adapters only (hub/training/lora.py puts them in one group); base frozen
            return tuple(g for g in self.groups if g == "lora")
        if self.name == "feature-extraction":
            count = 0
        elif self.name == "fine-tune":
            count = n
        elif self.name == "partial":
            count = min(self.trainable_groups, n)
        else:  # gradual-unfreeze: the head alone first, then one more group every K epochs
            count = min(epoch // self.unfreeze_every, n)
        return self.groups[n - count:] if count else ()


def make_strategy(cfg: TrainConfig, groups: Sequence[str]) -> Strategy:
    return Strategy(cfg.strategy, tuple(groups), cfg.trainable_groups, cfg.unfreeze_every)


def group_lr_scales(groups: Sequence[str], decay: float) -> dict[str, float]:
    """Learning-rate multiplier per backbone group for layer-wise decay."""
    n = len(groups)
    return {g: decay ** (n - i) for i, g in enumerate(groups)}
