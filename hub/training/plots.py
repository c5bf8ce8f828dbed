"""Training curves and the confusion matrix as PNGs (matplotlib, Agg: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..fsutil import atomic_file


def curves(history: Sequence[dict[str, Any]], metric: str, path: Path, best_epoch: int | None = None) -> None:
    """Loss, the task metric (train and validation) and the head's learning rate per epoch;
    the best validation epoch — the one that ships with ``select = "best"`` — is marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_metric, ax_lr) = plt.subplots(1, 3, figsize=(12, 3.4))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train")
    if history and "val_loss" in history[0]:
        ax_loss.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation")
    ax_loss.set(title="loss", xlabel="epoch", ylabel="loss")
    train_key, val_key = f"train_{metric}", f"val_{metric}"
    if history and train_key in history[0]:
        ax_metric.plot(epochs, [h.get(train_key) for h in history], marker="o", label="train")
    if history and val_key in history[0]:
        ax_metric.plot(epochs, [h[val_key] for h in history], marker="o", color="tab:green", label="validation")
    ax_metric.set(title=metric, xlabel="epoch", ylabel=metric)
    ax_lr.plot(epochs, [h.get("lr") for h in history], marker="o", color="tab:purple")
    ax_lr.set(title="learning rate (head, end of epoch)", xlabel="epoch", ylabel="lr")
    for ax in (ax_loss, ax_metric):
        if best_epoch:
            ax.axvline(best_epoch, color="grey", linestyle="--", label=f"best epoch ({best_epoch})")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cm = np.asarray(matrix)
    size = max(3.5, 0.45 * len(labels) + 1.5)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, rotation=45, ha="right")
    ax.set_yticks(ticks, labels)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
