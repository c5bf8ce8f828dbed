"""Self-training adaptation methods: the target's own predictions as the training signal.

The feature-alignment methods (:mod:`hub_common.adaptation`) pull the two
feature distributions together and hope the classifier follows; these act on
the classifier's outputs on target data, through :meth:`hub.adapt.AdaptationMethod.batch_loss`
(contract 1.4), which sees the head's logits on both domains:

- :class:`PseudoLabel` — Lee 2013: the confident target predictions become
  labels (threshold, ramped weight).
- :class:`MCC` — Jin et al. 2020, *Minimum Class Confusion*: penalise the
  probability mass the target batch spreads across pairs of classes.
- :class:`FixMatch` — Sohn et al. 2020: a strongly augmented view must predict
  the confident weak view's class (consistency under augmentation).
- :class:`SHOT` — Liang et al. 2020: information maximisation (confident and
  diverse target predictions) plus pseudo-labels from feature-space class
  centroids. Here it trains jointly with the source loss, not source-free.

All of them can lock in their own early mistakes, which is why each ramps its
weight in over the run (the source classifier has to exist first) and why
``adapt.method = "auto"`` judges them on held-out target data instead of
trusting any one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hub.adapt import AdaptationMethod, AdaptBatch


def ramp(progress: float, warmup: float) -> float:
    """Laine & Aila's sigmoid ramp-up ``exp(-5 (1 - p/warmup)^2)``: ~0 at the start, 1 from ``warmup`` on."""
    if warmup <= 0:
        return 1.0
    t = min(max(progress / warmup, 0.0), 1.0)
    return math.exp(-5.0 * (1.0 - t) ** 2)


def _check(threshold: float | None = None, warmup: float | None = None, **positive: float) -> None:
    if threshold is not None and not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    if warmup is not None and not 0 <= warmup <= 1:
        raise ValueError(f"warmup must be a fraction of the run in [0, 1], got {warmup}")
    for name, value in positive.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")


def pseudo_label_loss(logits: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy toward each confident prediction's own class; ``(loss, mask of the examples used)``.

    The loss is averaged over the whole batch (unconfident examples count as 0), as in FixMatch, so a
    batch with few confident examples moves the model little.
    """
    probs = logits.detach().softmax(1)
    confidence, labels = probs.max(1)
    mask = (confidence >= threshold).float()
    return (F.cross_entropy(logits, labels, reduction="none") * mask).mean(), mask


class PseudoLabel(AdaptationMethod):
    """Confident target predictions (max probability >= ``threshold``) train as labels, weight ramped in."""

    def __init__(self, feature_dim: int, num_classes: int, threshold: float = 0.9, warmup: float = 0.3) -> None:
        super().__init__()
        _check(threshold=threshold, warmup=warmup)
        self.threshold, self.warmup = threshold, warmup

    def batch_loss(self, batch: AdaptBatch) -> torch.Tensor:
        loss, _ = pseudo_label_loss(batch.target_logits, self.threshold)
        return ramp(batch.progress, self.warmup) * loss


def mcc_loss(logits: torch.Tensor, temperature: float = 2.5) -> torch.Tensor:
    """Minimum class confusion (Jin et al. 2020, eq. 1-6).

    Temperature-scaled probabilities ``P`` (batch, classes); examples weighted by certainty
    ``1 + exp(-entropy)`` (normalised to sum to the batch size; not detached, as in TLlib's
    implementation — the reference code detaches them); class confusion ``C = P^T W P``, each row
    normalised to sum 1 (the paper normalises columns: C is symmetric, so the loss is the same); the
    loss is the off-diagonal mass over the number of classes. Zero when every example is one-hot on
    its own class; high when the batch hedges between classes.
    """
    n, k = logits.shape
    probs = (logits / temperature).softmax(1)
    entropy = -(probs * torch.log(probs + 1e-8)).sum(1)
    weights = 1.0 + torch.exp(-entropy)
    weights = (n * weights / weights.sum()).unsqueeze(1)
    confusion = (probs * weights).T @ probs
    confusion = confusion / confusion.sum(1, keepdim=True).clamp_min(1e-8)
    return (confusion.sum() - confusion.trace()) / k


class MCC(AdaptationMethod):
    """Minimum class confusion on target predictions (no pseudo-labels, no threshold)."""

    def __init__(self, feature_dim: int, num_classes: int, temperature: float = 2.5) -> None:
        super().__init__()
        _check(temperature=temperature)
        self.temperature = temperature

    def batch_loss(self, batch: AdaptBatch) -> torch.Tensor:
        return mcc_loss(batch.target_logits, self.temperature)


class FixMatch(AdaptationMethod):
    """Consistency: the strongly augmented view learns the weak view's confident class.

    The weak view is the recipe's own augmentation (``train.augment``), the strong one
    ``adapt.strong_augment`` (by default the vision plugin's ``strong`` preset: crops, rotation,
    colour jitter and cutout, with kornia).
    """

    wants_strong_view = True

    def __init__(self, feature_dim: int, num_classes: int, threshold: float = 0.95, warmup: float = 0.0) -> None:
        super().__init__()
        _check(threshold=threshold, warmup=warmup)
        self.threshold, self.warmup = threshold, warmup

    def batch_loss(self, batch: AdaptBatch) -> torch.Tensor:
        if batch.target_strong_logits is None:
            raise ValueError("fixmatch needs the strong view's logits; the trainer gives them to methods "
                             "with wants_strong_view = True")
        probs = batch.target_logits.detach().softmax(1)
        confidence, labels = probs.max(1)
        mask = (confidence >= self.threshold).float()
        loss = (F.cross_entropy(batch.target_strong_logits, labels, reduction="none") * mask).mean()
        return ramp(batch.progress, self.warmup) * loss


def information_maximisation(logits: torch.Tensor) -> torch.Tensor:
    """``mean_i H(p_i) - H(mean_i p_i)``: low when each prediction is confident and the batch uses
    every class (SHOT's L_ent + L_div); minimising only the first term collapses onto one class."""
    probs = logits.softmax(1)
    conditional = -(probs * torch.log(probs + 1e-8)).sum(1).mean()
    marginal = probs.mean(0)
    return conditional + (marginal * torch.log(marginal + 1e-8)).sum()


def centroid_labels(features: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """SHOT's self-supervised pseudo-labels: cosine nearest class centroid, one refinement round.

    Centroids start as the prediction-weighted means of the (normalised) features, each example takes
    its nearest, the centroids are recomputed from those hard labels and the examples relabelled. The
    labels come from the feature clusters, so they can correct a classifier that is consistently wrong.
    Unlike the paper, the clustering is per training batch (SHOT clusters the whole target set once per
    epoch) and every class competes (SHOT keeps only classes the classifier predicts): it fits the
    trainer's one step, at the cost of noisier centroids with few examples per class.
    """
    x = F.normalize(features, dim=1)
    centroids = F.normalize(probs.T @ x / probs.sum(0).clamp_min(1e-8).unsqueeze(1), dim=1)
    labels = (x @ centroids.T).argmax(1)
    onehot = F.one_hot(labels, probs.shape[1]).float()
    counts = onehot.sum(0)
    refined = F.normalize(onehot.T @ x / counts.clamp_min(1.0).unsqueeze(1), dim=1)
    refined = torch.where(counts.unsqueeze(1) > 0, refined, centroids)  # a class nobody took keeps its centroid
    return (x @ refined.T).argmax(1)


class SHOT(AdaptationMethod):
    """Information maximisation on target predictions, plus ``beta`` x centroid pseudo-label loss."""

    def __init__(self, feature_dim: int, num_classes: int, beta: float = 0.3, warmup: float = 0.3) -> None:
        super().__init__()
        _check(warmup=warmup)
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        self.beta, self.warmup = beta, warmup

    def batch_loss(self, batch: AdaptBatch) -> torch.Tensor:
        logits = batch.target_logits
        loss = information_maximisation(logits)
        if self.beta > 0:
            labels = centroid_labels(batch.target.detach(), logits.detach().softmax(1))
            loss = loss + self.beta * F.cross_entropy(logits, labels)
        return ramp(batch.progress, self.warmup) * loss
