"""One training loop for every backbone/head/task combination.

The loop knows nothing model-specific: a :class:`Feed` yields ``(inputs,
labels)`` for an epoch (raw inputs through the backbone, or cached backbone
features straight into the head), the :class:`~hub.training.strategies.Strategy`
says which layer groups train, and callbacks at named points (epoch end, fit
end) log, checkpoint and stop early. The per-step path stays lean (one
forward, backward, optimiser and scheduler step) so the trainer costs little
over a bare PyTorch loop (bench/trainer_overhead.py).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import Split
from ..errors import HubError
from ..recipes import TrainConfig
from ..adapt import norm_layers, recompute_norm_stats
from .data import InputEncoder, batch_plan, iterate
from .optim import L2SP
from .strategies import Strategy

log = logging.getLogger(__name__)


class TrainingDiverged(HubError, FloatingPointError):
    """The loss became NaN or infinite."""


@dataclass
class Feed:
    """Batches for one split: raw examples (through ``encoder``) or cached ``features``."""

    split: Split
    batch_size: int
    encoder: InputEncoder | None = None
    features: torch.Tensor | None = None
    shuffle: bool = False
    seed: int = 0
    rank: int = 0
    world: int = 1
    sample_weights: np.ndarray | None = None

    @property
    def cached(self) -> bool:
        return self.features is not None

    def steps(self, epoch: int = 0) -> int:
        return len(self.plan(epoch))

    def plan(self, epoch: int) -> list[np.ndarray]:
        return batch_plan(len(self.split), self.batch_size, shuffle=self.shuffle, seed=self.seed, epoch=epoch,
                          rank=self.rank, world=self.world, weights=self.sample_weights)

    def batches(self, epoch: int, device: torch.device) -> Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
        plan = self.plan(epoch)
        if self.features is None:
            yield from iterate(self.split, self.encoder, plan, device)
            return
        labels = torch.as_tensor(np.asarray(self.split.labels), dtype=torch.long)
        for index in plan:
            idx = torch.from_numpy(index)
            yield (self.features[idx].to(device),), labels[idx].to(device)


class Callback:
    """Named points in :meth:`Trainer.fit`; return True from ``on_epoch_end`` to stop."""

    def on_fit_start(self, trainer: Trainer) -> None: ...

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> bool | None: ...

    def on_fit_end(self, trainer: Trainer) -> None: ...


@dataclass
class TrainState:
    """What a resume needs beyond model/optimiser/scheduler/RNG."""

    epoch: int = 0  # epochs completed
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # callback state (early stopping...)


class Trainer:
    def __init__(self, model: nn.Module, task: Any, cfg: TrainConfig, strategy: Strategy,
                 groups: dict[str, list[str]], optimizer: torch.optim.Optimizer, scheduler: Any,
                 device: torch.device, callbacks: Sequence[Callback] = (), distributed: bool = False,
                 progress: bool = True, augment: Any = None, num_classes: int | None = None,
                 adaptation: Any = None, distillation: Any = None) -> None:
        self.model, self.task, self.cfg = model, task, cfg
        self.strategy, self.groups = strategy, groups
        self.optimizer, self.scheduler = optimizer, scheduler
        self.device = device
        self.callbacks = list(callbacks)
        self.distributed = distributed
        self.progress = progress
        self.augment = augment
        self.num_classes = num_classes or getattr(task, "num_classes", None)  # mixup's one-hot targets
        self.state = TrainState()
        self.l2sp = L2SP(model, cfg.l2sp) if cfg.l2sp > 0 else None
        self.autocast_dtype = torch.bfloat16 if cfg.precision == "bf16" else None
        self._ddp: nn.Module | None = None
        self._ddp_key: tuple | None = None
        #: hub.training.adapting.Adaptation; its method's loss joins each step with a target batch
        self.adaptation = adaptation
        #: hub.training.distill.Distillation; its teacher logits (training-split order) join each step's loss
        self.distillation = distillation
        self.total_steps = 1
        self._correct = torch.zeros((), device=device, dtype=torch.long)
        self._hard = 0
        self._train_accuracy: float | None = None

    # -- which parameters train -------------------------------------------------
    def apply_strategy(self, epoch: int) -> tuple[str, ...]:
        active = set(self.strategy.trainable(epoch))
        for group, names in self.groups.items():
            for name in names:
                self.model.backbone.get_parameter(name).requires_grad_(group in active)
        return tuple(g for g in self.groups if g in active)

    def _set_train_mode(self, cached: bool) -> None:
        """Train mode (dropout, batch statistics) for what trains; frozen subtrees stay in eval mode,
        so a frozen backbone's norm layers keep their pretrained statistics."""
        if cached:
            self.model.eval()
            self.model.head.train()
            return
        self.model.train()
        for module in self.model.backbone.modules():
            params = list(module.parameters())
            if params and not any(p.requires_grad for p in params):
                module.eval()

    def _module(self, cached: bool) -> nn.Module:
        """The module a batch runs through; wrapped in DDP when distributed."""
        base = self.model.head if cached else self.model
        if not self.distributed:
            return base
        key = (cached, tuple(n for n, p in base.named_parameters() if p.requires_grad))
        if key != self._ddp_key:
            from torch.nn.parallel import DistributedDataParallel

            self._ddp = DistributedDataParallel(base, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            self._ddp_key = key
        return self._ddp

    # -- the loop -----------------------------------------------------------------
    def fit(self, train: Feed, val: Feed | None) -> TrainState:
        for cb in self.callbacks:
            cb.on_fit_start(self)
        if self.state.extra.get("early_stopping", {}).get("stopped"):
            return self.state  # a resumed run that had already stopped early stays stopped
        for epoch in range(self.state.epoch, self.cfg.epochs):
            started = time.perf_counter()
            trainable = self.apply_strategy(epoch)
            train_loss = self.train_epoch(train, epoch)
            self.refresh_norm_stats(train)
            logs: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_loss, "trainable_groups": list(trainable),
                                    "lr": self._head_lr()}
            if self._train_accuracy is not None:
                logs["train_accuracy"] = self._train_accuracy
            if val is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(val).items()})
            logs["seconds"] = round(time.perf_counter() - started, 3)
            self.state.epoch = epoch + 1
            self.state.history.append(logs)
            stop = False
            for cb in self.callbacks:
                stop = bool(cb.on_epoch_end(self, epoch, logs)) or stop
            if stop:
                break
        for cb in self.callbacks:
            cb.on_fit_end(self)
        return self.state

    def refresh_norm_stats(self, feed: Feed) -> None:
        """Precise BN: re-estimate the statistics of the batch-norm layers that trained this epoch
        on up to ``train.precise_bn`` training examples (un-augmented, fixed order), so validation,
        the best checkpoint and the export see statistics that match the weights."""
        if feed.cached or self.cfg.precise_bn <= 0 or feed.encoder is None:
            return
        layers = [m for m in norm_layers(self.model.backbone) if m.training]
        if not layers:
            return
        limit = min(self.cfg.precise_bn, len(feed.split))
        plan = batch_plan(limit, max(self.cfg.batch_size, 32), shuffle=False, seed=0, epoch=0)
        target = self.adaptation.target_train if self.adaptation is not None and self.adaptation.method.uses_loss else None

        def batches():
            # Train-time batches mixed both domains: estimate the statistics on the same mix.
            others = None
            if target is not None:
                size = max(self.cfg.batch_size, 32)
                others = itertools.cycle(batch_plan(min(limit, len(target)), size, shuffle=False, seed=0, epoch=0))
            for inputs, _ in iterate(feed.split, feed.encoder, plan, self.device):
                if others is not None:
                    (extra, _), = iterate(target, feed.encoder, [next(others)], self.device)
                    if all(a.shape[1:] == b.shape[1:] for a, b in zip(inputs, extra)):
                        inputs = tuple(torch.cat([a, b]) for a, b in zip(inputs, extra))
                yield inputs

        seen = recompute_norm_stats(self.model.backbone, batches, layers)
        self.state.extra["precise_bn"] = {"examples": seen, "layers": len(layers)}

    def train_epoch(self, feed: Feed, epoch: int) -> float:
        self._set_train_mode(feed.cached)
        module = self._module(feed.cached)
        total, count = torch.zeros((), device=self.device), 0
        self._correct.zero_()
        self._hard = 0  # examples whose targets were hard labels (not mixup's soft ones)
        batches = feed.batches(epoch, self.device)
        targets = None
        if self.adaptation is not None and self.adaptation.method.uses_loss:
            from .adapting import target_batches

            targets = target_batches(self.adaptation.target_train, feed.encoder, feed.batch_size, self.cfg.seed,
                                     epoch, self.device)
        if self.progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, total=feed.steps(epoch), desc=f"epoch {epoch + 1}/{self.cfg.epochs}",
                           leave=False, disable=None)
        plan = feed.plan(epoch) if self.distillation is not None else None  # the batches' example indices
        for i, (inputs, labels) in enumerate(batches):
            soft = self.distillation.logits[plan[i]].to(self.device) if plan is not None else None
            loss = self.step(module, inputs, labels, feed.cached, next(targets) if targets is not None else None, soft)
            total += loss.detach() * len(labels)
            count += len(labels)
            if self.progress and i % 10 == 0:  # a host sync every 10 steps, for the bar only
                batches.set_postfix(loss=f"{float(total) / count:.4f}", refresh=False)
        mean = float(total) / max(count, 1)
        self._train_accuracy = float(self._correct) / self._hard if self._hard else None
        if not math.isfinite(mean):
            raise TrainingDiverged(
                f"training loss became {mean} in epoch {epoch + 1}; the run dir keeps the last good checkpoint. "
                "Lower lr, set grad_clip, or check the data"
            )
        return mean

    def step(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], labels: torch.Tensor, cached: bool,
             target: tuple[torch.Tensor, ...] | None = None, soft: torch.Tensor | None = None) -> torch.Tensor:
        targets: torch.Tensor = labels
        raw_target = target  # a strong view starts from the un-augmented target batch
        if self.augment is not None and not cached:
            inputs = tuple(self.augment(inputs))
            target = tuple(self.augment(target)) if target is not None else None
        if self.cfg.mixup > 0 and not cached:
            inputs, targets = self._mixup(inputs, labels)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            if target is None:
                logits = module(*inputs)
                loss = self.task.loss(logits.float(), targets) if soft is None else self._distill_loss(logits, labels, soft)
            else:
                logits, loss = self._adapted_loss(inputs, target, targets, raw_target)
        if targets is labels and logits.ndim == 2:  # running train accuracy, summed on the device (no sync)
            self._correct += (logits.detach().argmax(1) == labels).sum()
            self._hard += len(labels) if soft is None else int((labels >= 0).sum())  # transfer data has no label
        if self.l2sp is not None and not cached:
            loss = loss + self.l2sp(self.model)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"training loss became {loss.item()} at step {self.state.step + 1}; the run dir keeps the last good "
                "checkpoint. Lower lr, set grad_clip, or check the data"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad], self.cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.state.step += 1
        return loss

    def _distill_loss(self, logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
        from .distill import distill_loss

        d = self.distillation
        return distill_loss(logits.float(), soft.float(), labels, d.temperature, d.alpha, self.task.loss)

    def _head_lr(self) -> float:
        """The head's learning rate (the recipe's ``lr``): what the curves and logs show."""
        for group in self.optimizer.param_groups:
            if str(group.get("name", "")).startswith("head"):
                return group["lr"]
        return self.optimizer.param_groups[-1]["lr"]

    def _adapted_loss(self, inputs: tuple[torch.Tensor, ...], target: tuple[torch.Tensor, ...],
                      labels: torch.Tensor, raw_target: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """Task loss on the source batch plus the method's loss over the step (:class:`hub.adapt.AdaptBatch`).

        All views go through the backbone in one batch when their shapes allow (as in DANN's and
        FixMatch's reference code), so batch-norm layers normalise with statistics of the mix; the head
        runs on each view apart, so a head's own normalisation sees one domain at a time.
        """
        from ..adapt import AdaptationMethod, AdaptBatch

        method = self.adaptation.method
        views = [inputs, target]
        if method.wants_strong_view:
            views.append(tuple(self.adaptation.strong_augment(raw_target)))
        if all(a.shape[1:] == b.shape[1:] for view in views[1:] for a, b in zip(inputs, view)):
            merged = self.model.backbone(*(torch.cat(parts) for parts in zip(*views)))
            features = list(merged.split([len(view[0]) for view in views]))
        else:
            features = [self.model.backbone(*view) for view in views]
        # the head sees the target only for methods that read its logits: a feature-only method's run (and a
        # dropout or batch-norm head's RNG and statistics) stays what it was before batch_loss existed
        reads_logits = type(method).batch_loss is not AdaptationMethod.batch_loss
        logits = [self.model.head(f) for f in (features if reads_logits else features[:1])]
        loss = self.task.loss(logits[0].float(), labels)
        batch = AdaptBatch(source=features[0].float(), target=features[1].float(), source_logits=logits[0].float(),
                           target_logits=logits[1].float() if reads_logits else None, labels=labels,
                           progress=min(1.0, self.state.step / max(self.total_steps, 1)),
                           target_strong_logits=logits[2].float() if len(logits) > 2 else None)
        extra = method.batch_loss(batch)
        return logits[0], (loss if extra is None else loss + self.adaptation.weight * extra)

    def _mixup(self, inputs: tuple[torch.Tensor, ...], labels: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """Mix pairs of images and their one-hot targets (Zhang et al. 2018); images only."""
        if not inputs[0].is_floating_point():
            return inputs, labels
        lam = float(torch.distributions.Beta(self.cfg.mixup, self.cfg.mixup).sample())
        perm = torch.randperm(len(labels), device=labels.device)
        onehot = F.one_hot(labels, self.num_classes).float()
        mixed = lam * inputs[0] + (1 - lam) * inputs[0][perm]
        return (mixed,) + tuple(inputs[1:]), lam * onehot + (1 - lam) * onehot[perm]

    @torch.no_grad()
    def predict(self, feed: Feed) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        module = self.model.head if feed.cached else self.model
        outs, labels = [], []
        for inputs, target in feed.batches(0, self.device):
            with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
                outs.append(module(*inputs).float().cpu())
            labels.append(target.cpu())
        return torch.cat(outs), torch.cat(labels)

    def evaluate(self, feed: Feed) -> dict[str, float]:
        logits, labels = self.predict(feed)
        metrics = {"loss": float(self.task.loss(logits, labels))}
        metrics.update(self.task.metrics(logits, labels))
        return metrics
