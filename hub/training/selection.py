"""Unsupervised model-selection criteria for domain adaptation: which trained model to keep, without
target labels.

Each criterion scores one trained model from what a user of unsupervised
adaptation has: the labelled *source* validation split and *unlabelled* target
data held out from adaptation. They fail in different ways, which is why
``auto`` records all four for every candidate (the audit trail) and chooses by
one fixed in the recipe:

- **rv — reverse validation** (Zhong et al. 2010; Ganin et al. 2016, sec. 5.1.2
  used it to tune DANN): label the target data with the model's own predictions,
  build a nearest-class-centroid classifier from those labels in the model's
  feature space, and score it on the *labelled source* validation data.
  Consistent mistakes (two classes swapped on the target) and collapse score
  low, because the source labels disagree; the default. (DEV reads source
  labels too, but only through the loss, never checking the target's labelling.)
- **im — information maximisation**: ``H(mean p) - mean H(p)`` on the target,
  normalised by ``log K``: confident *and* class-balanced. Cheap, but it is
  SHOT's training objective, so it favours SHOT-like methods whether right or not.
- **snd — soft neighbourhood density** (Saito et al. 2021): entropy of each
  target example's softmax-similarity distribution over its neighbours in
  prediction space, normalised by ``log(n - 1)``. Rewards tight clusters, so
  it can also favour a collapsed model.
- **dev — deep embedded validation** (You et al. 2019): the source validation
  loss importance-weighted by a domain classifier's density ratio, with the
  control variate that cuts its variance. Lower is better (the others: higher).
  Weak when the domains are separable: the weights degenerate.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

HIGHER_IS_BETTER = {"rv": True, "im": True, "snd": True, "dev": False}


def im_score(probs: torch.Tensor) -> float:
    """Confident and class-balanced, in [-1, 1] (the *negative* of SHOT's loss, scaled by ``log K`` so
    scores compare across label sets)."""
    p = probs.clamp_min(1e-8)
    conditional = -(p * p.log()).sum(1).mean()
    marginal = p.mean(0)
    diverse = -(marginal * marginal.log()).sum()
    return float((diverse - conditional) / math.log(probs.shape[1]))


def soft_neighbourhood_density(probs: torch.Tensor, temperature: float = 0.05, limit: int = 2000) -> float:
    """In [0, 1]: 1 when every example's neighbours are all alike (scaled by ``log(n - 1)``). Past ``limit``
    examples a fixed-seed subsample is scored: the similarity matrix is n x n."""
    if len(probs) > limit:
        probs = probs[torch.randperm(len(probs), generator=torch.Generator().manual_seed(0))[:limit]]
    n = len(probs)
    x = F.normalize(probs.float(), dim=1)
    similarity = x @ x.T
    similarity.fill_diagonal_(float("-inf"))  # an example is not its own neighbour
    neighbours = (similarity / temperature).softmax(1)
    entropy = -(neighbours * neighbours.clamp_min(1e-12).log()).sum(1).mean()
    return float(entropy / math.log(n - 1))


def reverse_validation(target_features: torch.Tensor, target_predictions: torch.Tensor,
                       source_features: torch.Tensor, source_labels: torch.Tensor, num_classes: int) -> float:
    """Accuracy on the source of the nearest-centroid classifier the target's predicted labels define.

    A class the model never predicts on the target has no centroid, so its source examples count as
    errors: a collapsed model cannot score well."""
    t = F.normalize(target_features.float(), dim=1)
    s = F.normalize(source_features.float(), dim=1)
    onehot = F.one_hot(target_predictions.long(), num_classes).float()
    counts = onehot.sum(0)
    centroids = F.normalize(onehot.T @ t, dim=1)
    scores = s @ centroids.T
    scores[:, counts == 0] = float("-inf")
    return float((scores.argmax(1) == source_labels.long()).float().mean())


def deep_embedded_validation(source_features: np.ndarray, source_losses: np.ndarray, target_features: np.ndarray,
                             seed: int = 0) -> float:
    """You et al. 2019, Algorithm 1: ``mean(w l) + eta mean(w) - eta`` with ``eta = -cov(w l, w) / var(w)``.

    The density ratio comes from a logistic-regression domain classifier on standardised features,
    each source example scored by a fold that did not train on it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([source_features, target_features]).astype(np.float64)
    y = np.concatenate([np.zeros(len(source_features)), np.ones(len(target_features))])
    folds = max(2, min(5, len(source_features), len(target_features)))
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    probs = cross_val_predict(classifier, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                              method="predict_proba")[: len(source_features), 1]
    probs = np.clip(probs, 1e-6, 1 - 1e-6)
    weights = probs / (1 - probs) * (len(source_features) / len(target_features))
    weighted = weights * source_losses
    variance = float(np.var(weights, ddof=1))
    eta = -float(np.cov(weighted, weights)[0, 1]) / variance if variance > 0 else 0.0
    return float(weighted.mean() + eta * weights.mean() - eta)


def scores(target_features: torch.Tensor, target_logits: torch.Tensor, source_features: torch.Tensor,
           source_logits: torch.Tensor, source_labels: torch.Tensor) -> dict[str, float | None]:
    """Every criterion for one model; None where one cannot be computed (and why is not a crash)."""
    probs = target_logits.float().softmax(1)
    k = probs.shape[1]
    out: dict[str, float | None] = {
        "rv": reverse_validation(target_features, probs.argmax(1), source_features, source_labels, k),
        "im": im_score(probs),
        "snd": soft_neighbourhood_density(probs) if len(probs) > 2 else None,
    }
    losses = F.cross_entropy(source_logits.float(), source_labels.long(), reduction="none").numpy()
    try:
        out["dev"] = deep_embedded_validation(source_features.numpy(), losses, target_features.numpy())
    except ValueError:  # too few examples of a domain for the folds
        out["dev"] = None
    return {key: (None if value is None or not math.isfinite(value) else round(value, 6)) for key, value in out.items()}


def best(records: list[dict], criterion: str) -> dict | None:
    """The record whose ``scores[criterion]`` is best (the earliest on a tie); None when none has one."""
    scored = [r for r in records if r.get("scores", {}).get(criterion) is not None]
    if not scored:
        return None
    sign = 1.0 if HIGHER_IS_BETTER[criterion] else -1.0
    return max(scored, key=lambda r: (sign * r["scores"][criterion], -records.index(r)))
