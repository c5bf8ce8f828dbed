"""First-party domain-adaptation methods, registered through the public hook like any plugin's.

Each method is one small :class:`hub.adapt.AdaptationMethod`; the trainer
feeds it source and target features (or data passes) and knows nothing else
about it. Shapes: features are ``(batch, feature_dim)``.

- :class:`DANN` — Ganin et al. 2016, *Domain-Adversarial Training of Neural
  Networks*: a domain discriminator behind a gradient-reversal layer.
- :class:`CORAL` — Sun & Saenko 2016, *Deep CORAL*: match feature covariances.
- :class:`MMD` — Long et al. 2015 (DAN): multi-kernel Gaussian MMD between
  the feature distributions.
- :class:`AdaBN` — Li et al. 2016: batch-norm statistics re-estimated on the
  target, no gradient step.
- :class:`InstanceWeighting` — importance weighting by a domain classifier's
  density ratio ``p(target|x) / p(source|x)`` (Bickel et al. 2007; Sugiyama's
  covariate-shift correction): source examples that look like the target
  count more.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hub.adapt import AdaptationMethod, AdaptContext, norm_layers, recompute_norm_stats


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: float) -> torch.Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.coeff * grad, None


def grad_reverse(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """Identity forward; the gradient is multiplied by ``-coeff`` on the way back."""
    return _Reverse.apply(x, coeff)


def dann_coefficient(progress: float, gamma: float = 10.0, max_coeff: float = 1.0) -> float:
    """Ganin's schedule ``2 / (1 + exp(-gamma p)) - 1``: 0 at the start, -> max_coeff at the end,
    so the noisy early discriminator does not wreck the features."""
    return max_coeff * (2.0 / (1.0 + math.exp(-gamma * min(max(progress, 0.0), 1.0))) - 1.0)


class DANN(AdaptationMethod):
    """Domain discriminator on the features, trained through a gradient-reversal layer.

    loss = BCE(D(R(f_s)), 1) / 2 + BCE(D(R(f_t)), 0) / 2, with R reversing and scaling the
    gradient by :func:`dann_coefficient`: D learns to tell the domains apart while the
    backbone learns features it cannot.
    """

    def __init__(self, feature_dim: int, num_classes: int, hidden: int = 256, dropout: float = 0.25,
                 gamma: float = 10.0, max_coeff: float = 1.0) -> None:
        super().__init__()
        if hidden < 1 or not 0 <= dropout < 1 or gamma <= 0 or max_coeff < 0:
            raise ValueError("dann needs hidden >= 1, 0 <= dropout < 1, gamma > 0 and max_coeff >= 0")
        self.gamma, self.max_coeff = gamma, max_coeff
        self.discriminator = nn.Sequential(
            nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, 1))

    def loss(self, source: torch.Tensor, target: torch.Tensor, progress: float) -> torch.Tensor:
        coeff = dann_coefficient(progress, self.gamma, self.max_coeff)
        logits = self.discriminator(grad_reverse(torch.cat([source, target]), coeff)).squeeze(1)
        domains = torch.cat([torch.ones(len(source)), torch.zeros(len(target))]).to(logits)
        return F.binary_cross_entropy_with_logits(logits, domains)


def coral_loss(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``||C_s - C_t||_F^2 / (4 d^2)`` with unbiased feature covariances."""
    d = source.shape[1]

    def cov(x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(0, keepdim=True)
        return x.T @ x / max(len(x) - 1, 1)

    return (cov(source) - cov(target)).pow(2).sum() / (4.0 * d * d)


class CORAL(AdaptationMethod):
    """Deep CORAL: align second-order statistics of source and target features."""

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__()

    def loss(self, source: torch.Tensor, target: torch.Tensor, progress: float) -> torch.Tensor:
        return coral_loss(source.float(), target.float())


def mmd_loss(source: torch.Tensor, target: torch.Tensor, multipliers: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)) -> torch.Tensor:
    """Biased multi-kernel MMD^2 with Gaussian kernels around the mean squared distance.

    Zero when both batches are the same set of points; positive otherwise
    (Gaussian kernels are characteristic). The bandwidth is detached, so it
    scales the kernels without being a way to shrink the loss.
    """
    x = torch.cat([source, target]).float()
    dist = torch.cdist(x, x).pow(2)
    base = dist.detach().sum() / max(len(x) ** 2 - len(x), 1)
    kernels = sum(torch.exp(-dist / (base * m + 1e-12)) for m in multipliers)
    n = len(source)
    return kernels[:n, :n].mean() + kernels[n:, n:].mean() - 2 * kernels[:n, n:].mean()


class MMD(AdaptationMethod):
    """DAN-style moment matching: minimise the multi-kernel MMD between the feature distributions."""

    def __init__(self, feature_dim: int, num_classes: int, multipliers: list | tuple = (0.25, 0.5, 1.0, 2.0, 4.0)) -> None:
        super().__init__()
        if not multipliers or any(float(m) <= 0 for m in multipliers):
            raise ValueError("mmd multipliers must be a non-empty list of positive numbers")
        self.multipliers = tuple(float(m) for m in multipliers)

    def loss(self, source: torch.Tensor, target: torch.Tensor, progress: float) -> torch.Tensor:
        return mmd_loss(source, target, self.multipliers)


class AdaBN(AdaptationMethod):
    """After training, replace every batch-norm layer's statistics with the target's; nothing else changes."""

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__()

    def finish(self, ctx: AdaptContext) -> dict[str, Any]:
        layers = norm_layers(ctx.backbone)
        seen = recompute_norm_stats(ctx.backbone, ctx.target_batches, layers)
        return {"changed_backbone": True, "norm_layers": len(layers), "target_examples": seen}


def density_ratio_weights(source: np.ndarray, target: np.ndarray, *, c: float = 0.1, clip: float = 10.0,
                          folds: int = 5, seed: int = 0) -> np.ndarray:
    """Weights ``p(t|x)/p(s|x) * n_s/n_t`` for the source examples, mean 1, clipped to [1/clip, clip].

    The domain classifier is a regularised logistic regression on standardised
    features; each source example's probability comes from a fold that did not
    train on it, so a classifier that memorises does not produce extreme weights.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([source, target]).astype(np.float64)
    y = np.concatenate([np.zeros(len(source)), np.ones(len(target))])
    folds = max(2, min(folds, len(source), len(target)))
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    probs = cross_val_predict(classifier, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                              method="predict_proba")[: len(source), 1]
    probs = np.clip(probs, 1e-6, 1 - 1e-6)
    weights = probs / (1 - probs) * (len(source) / len(target))
    weights = np.clip(weights / weights.mean(), 1.0 / clip, clip)
    return weights / weights.mean()


class InstanceWeighting(AdaptationMethod):
    """Source examples are sampled in proportion to how target-like a domain classifier finds them."""

    def __init__(self, feature_dim: int, num_classes: int, c: float = 0.1, clip: float = 10.0) -> None:
        super().__init__()
        if c <= 0 or clip < 1:
            raise ValueError("instance-weighting needs c > 0 and clip >= 1")
        self.c, self.clip = c, clip
        self._weights: np.ndarray | None = None

    def setup(self, ctx: AdaptContext) -> dict[str, Any]:
        source, target = ctx.features(ctx.source_batches), ctx.features(ctx.target_batches)
        self._weights = density_ratio_weights(source.numpy(), target.numpy(), c=self.c, clip=self.clip)
        w = self._weights
        return {"weights": {"min": float(w.min()), "max": float(w.max()),
                            "effective_sample_size": float(w.sum() ** 2 / (w ** 2).sum())}}

    def source_weights(self) -> np.ndarray | None:
        return self._weights
