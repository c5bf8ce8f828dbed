"""Callbacks: early stopping, metrics log, checkpoints. Only rank 0 writes files."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import HubError
from ..recipes import EarlyStopping as EarlyStoppingConfig
from . import checkpoint
from .rundir import BEST
from .trainer import Callback, Trainer

log = logging.getLogger(__name__)


class EarlyStopping(Callback):
    """Stop after ``patience`` epochs without improvement; the best weights are kept in best.safetensors."""

    def __init__(self, cfg: EarlyStoppingConfig, run_dir: Path, writer: bool) -> None:
        self.cfg, self.run_dir, self.writer = cfg, Path(run_dir), writer
        self.mode = cfg.mode if cfg.mode != "auto" else ("min" if cfg.metric.endswith("loss") else "max")

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> bool:
        if self.cfg.metric not in logs:
            known = ", ".join(k for k in logs if k.startswith("val_"))
            raise HubError(f"early_stopping.metric {self.cfg.metric!r} is not computed; choose one of {known}")
        value = float(logs[self.cfg.metric])
        state = trainer.state.extra.setdefault("early_stopping", {"best": None, "best_epoch": 0, "bad_epochs": 0})
        best = state["best"]
        better = best is None or (value < best - self.cfg.min_delta if self.mode == "min" else value > best + self.cfg.min_delta)
        if better:
            state.update(best=value, best_epoch=epoch + 1, bad_epochs=0)
            if self.writer:
                checkpoint.save_weights(trainer.model, self.run_dir / BEST)
        else:
            state["bad_epochs"] += 1
        logs["best_" + self.cfg.metric] = state["best"]
        stop = state["bad_epochs"] >= self.cfg.patience
        if stop:
            log.info("early stopping after epoch %d: best %s=%.4f at epoch %d", epoch + 1, self.cfg.metric,
                     state["best"], state["best_epoch"])
        state["stopped"] = stop
        return stop


class BestWeights(Callback):
    """Keep the best validation epoch's weights in best.safetensors (``train.select = "best"``).

    Without it the last epoch ships even when an earlier one was better. With
    early stopping, :class:`EarlyStopping` already keeps them on its metric.
    """

    def __init__(self, metric: str, run_dir: Path, writer: bool) -> None:
        self.metric, self.run_dir, self.writer = metric, Path(run_dir), writer
        self.mode = "min" if metric.endswith("loss") else "max"

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        value = float(logs[self.metric])
        state = trainer.state.extra.setdefault("best", {"metric": self.metric, "best": None, "best_epoch": 0})
        best = state["best"]
        if best is None or (value < best if self.mode == "min" else value > best):
            state.update(best=value, best_epoch=epoch + 1)
            if self.writer:
                checkpoint.save_weights(trainer.model, self.run_dir / BEST)


class MetricsLog(Callback):
    """Append one JSON line per epoch to metrics.jsonl (rewritten whole on resume, so no duplicates)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_fit_start(self, trainer: Trainer) -> None:
        from ..fsutil import atomic_write_text

        atomic_write_text(self.path, "".join(json.dumps(h) + "\n" for h in trainer.state.history))

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({k: _finite(v) for k, v in logs.items()}) + "\n")


class Checkpointer(Callback):
    """A full resumable checkpoint at every epoch boundary (after the other callbacks ran)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        state = {"epoch": trainer.state.epoch, "step": trainer.state.step, "history": trainer.state.history,
                 "extra": trainer.state.extra}
        checkpoint.save(self.run_dir, epoch + 1, trainer.model, trainer.optimizer, trainer.scheduler, state)


class OnEpoch(Callback):
    """Hands each epoch's logs to a function (the CLI prints them)."""

    def __init__(self, fn: Callable[[dict[str, Any]], None]) -> None:
        self.fn = fn

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        self.fn(logs)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
