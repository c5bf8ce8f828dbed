"""Single-label classification: loss and metrics shared by image and text tasks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


class Classification:
    """Cross-entropy with optional label smoothing and class weights.

    Metrics are computed from the confusion matrix so accuracy, macro-F1 and the
    plotted matrix always agree.
    """

    def __init__(self, num_classes: int, label_smoothing: float = 0.0,
                 class_weights: Sequence[float] | None = None) -> None:
        if num_classes < 2:
            raise ValueError(f"classification needs at least 2 classes, got {num_classes}")
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0 <= label_smoothing < 1:  # nan fails here too
            raise ValueError(f"label_smoothing must be a number in [0, 1), got {label_smoothing!r}")
        if class_weights is not None and (not all(isinstance(w, (int, float)) and not isinstance(w, bool)
                                                  and 0 <= w < float("inf") for w in class_weights)):
            raise ValueError(f"class_weights must be finite numbers >= 0, got {list(class_weights)!r}")
        if class_weights is not None and len(class_weights) != num_classes:
            raise ValueError(f"class_weights has {len(class_weights)} values for {num_classes} classes")
        self.num_classes = num_classes
        self.label_smoothing = float(label_smoothing)
        self.class_weights = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``targets`` are class indices, or class probabilities (mixup) of shape ``logits``."""
        weight = None if self.class_weights is None else self.class_weights.to(logits.device)
        return F.cross_entropy(logits, targets, weight=weight, label_smoothing=self.label_smoothing)

    def confusion(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        preds = logits.argmax(dim=-1).cpu()
        index = targets.cpu().long() * self.num_classes + preds
        return torch.bincount(index, minlength=self.num_classes**2).reshape(self.num_classes, self.num_classes)

    def metrics(self, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        return metrics_from_confusion(self.confusion(logits, targets))


def metrics_from_confusion(cm: torch.Tensor) -> dict[str, float]:
    cm = cm.double()
    tp = cm.diag()
    total = cm.sum()
    precision = tp / cm.sum(0).clamp(min=1)
    recall = tp / cm.sum(1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    present = cm.sum(1) > 0  # classes absent from the targets do not drag macro-F1 down
    return {
        "accuracy": float(tp.sum() / total.clamp(min=1)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
    }
