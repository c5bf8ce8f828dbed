"""Optimiser parameter groups and learning-rate schedules.

Weight decay skips norms and biases (1-d tensors): decaying a LayerNorm gain
toward zero fights the normalisation instead of regularising. Every backbone
layer group gets its own learning rate for layer-wise decay; with L2-SP the
backbone is pulled toward its pretrained weights instead of toward zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from ..recipes import TrainConfig


def param_groups(model: nn.Module, groups: Mapping[str, list[str]], lr_scales: Mapping[str, float],
                 cfg: TrainConfig) -> list[dict]:
    """One decay and one no-decay group per backbone layer group, plus the head's."""
    params = dict(model.named_parameters())
    out: list[dict] = []
    backbone_decay = 0.0 if cfg.l2sp > 0 else cfg.weight_decay

    def add(name: str, names: list[str], lr: float, decay: float) -> None:
        for suffix, wd, chosen in (("decay", decay, [n for n in names if params[n].ndim > 1]),
                                   ("no_decay", 0.0, [n for n in names if params[n].ndim <= 1])):
            if chosen:
                out.append({"params": [params[n] for n in chosen], "lr": lr, "weight_decay": wd,
                            "name": f"{name}/{suffix}"})

    for group, names in groups.items():
        add(f"backbone.{group}", [f"backbone.{n}" for n in names], cfg.lr * lr_scales.get(group, 1.0), backbone_decay)
    add("head", [n for n in params if n.startswith("head.")], cfg.lr, cfg.weight_decay)
    # An adaptation method's own modules (a domain discriminator) train at the head's rate.
    add("adapt", [n for n in params if n.startswith("adapt.")], cfg.lr, cfg.weight_decay)
    return out


def make_optimizer(groups: list[dict], cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step multiplier: linear warm-up, then cosine to zero or step decay."""
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = int(cfg.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.scheduler == "cosine":
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        if cfg.scheduler == "step":
            return cfg.gamma ** ((step // steps_per_epoch) // cfg.step_size)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class L2SP:
    """Penalty ``alpha/2 * sum ||w - w0||^2`` toward the starting (pretrained) backbone."""

    def __init__(self, model: nn.Module, alpha: float) -> None:
        self.alpha = alpha
        self.reference = {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith("backbone.")}

    def __call__(self, model: nn.Module) -> torch.Tensor | float:
        if self.alpha <= 0:
            return 0.0
        total = 0.0
        for name, param in model.named_parameters():
            if param.requires_grad and name in self.reference:
                total = total + (param - self.reference[name].to(param.device)).pow(2).sum()
        return 0.5 * self.alpha * total
