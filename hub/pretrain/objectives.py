"""The two pre-training objectives as small modules over backbone features.

:class:`SimCLR` is Chen et al. 2020 ("A Simple Framework for Contrastive Learning of Visual
Representations"): each image yields two augmented views; a projection MLP ``g`` maps backbone
features ``h`` to ``z = g(h)``; the NT-Xent loss pulls the two views of an image together and
pushes the other ``2N - 2`` views of the batch away. The projection is dropped after training
(the paper shows ``h`` transfers better than ``z``), so only the backbone is written.

:class:`Supervised` is cross-entropy through a temporary linear head, also dropped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """Normalised temperature-scaled cross-entropy of two views, ``(N, D)`` each -> scalar.

    With ``z = normalize([z1; z2])`` and ``s_ij = z_i . z_j / t``, the loss of view ``i`` whose
    partner is ``p(i)`` is ``-log(exp(s_ip) / sum_{k != i} exp(s_ik))``, averaged over all
    ``2N`` views. For unrelated random features every similarity is ~0 and the loss is
    ~``log(2N - 1)``; for matched views it falls toward 0.

    >>> z = torch.randn(8, 16)
    >>> float(nt_xent(z, z, 0.1)) < float(nt_xent(z, torch.randn(8, 16), 0.1))
    True
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"nt_xent needs two (N, D) views of the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    n = z1.shape[0]
    if n < 2:
        raise ValueError("nt_xent needs at least 2 images per batch (each needs a negative)")
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    logits = z @ z.t() / temperature
    logits.fill_diagonal_(float("-inf"))  # a view is never its own negative
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, partner)


class SimCLR(nn.Module):
    """Backbone + projection MLP (``d -> d -> projection_dim``); ``loss(view1, view2)``."""

    def __init__(self, backbone: nn.Module, feature_dim: int, projection_dim: int = 128,
                 temperature: float = 0.2) -> None:
        super().__init__()
        self.backbone = backbone
        # Named "head" so hub.training.optim.param_groups treats it like a task head.
        self.head = nn.Sequential(nn.Linear(feature_dim, feature_dim), nn.BatchNorm1d(feature_dim),
                                  nn.ReLU(inplace=True), nn.Linear(feature_dim, projection_dim))
        self.temperature = temperature

    def loss(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        n = view1.shape[0]
        z = self.head(self.backbone(torch.cat([view1, view2])))  # one pass: BN sees both views
        return nt_xent(z[:n], z[n:], self.temperature)


class Supervised(nn.Module):
    """Backbone + a temporary linear head; ``loss(inputs, labels)`` is cross-entropy."""

    def __init__(self, backbone: nn.Module, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(feature_dim, num_classes)

    def loss(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.head(self.backbone(inputs)), labels)
