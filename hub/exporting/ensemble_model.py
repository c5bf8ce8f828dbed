"""The ensemble as one ``torch.nn.Module``: K trained members in, averaged class probabilities out.

Why the output is ``log(sum_k w_k softmax(z_k))`` and still called ``logits``: the softmax of
that vector is exactly the weighted mean of the members' probabilities (its exponentials sum to
one), so :mod:`hub.runtime`, ``hub predict`` and the card's plain-onnxruntime snippet, which all
apply softmax/argmax to ``logits``, give the averaged probabilities with no change at all.

It is computed in log space, ``max + log(sum exp(logp - max))`` over the member axis, with
``log_softmax`` per member: no member's tiny probability underflows to ``log(0) = -inf``, and
the formula traces to plain ONNX ops (LogSoftmax, ReduceMax, Exp, ReduceSum, Log) that every
onnxruntime build has.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class EnsembleModel(nn.Module):
    """Members' (``HubModel``) outputs combined into log averaged probabilities.

    ``weights`` are positive and normalised here; ``forward(*inputs)`` takes the members'
    shared inputs in their ``input_names`` order, like a ``HubModel``, so the export
    machinery traces and gates it unchanged.
    """

    def __init__(self, members: Sequence[nn.Module], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs members")
        w = torch.tensor(list(weights) if weights is not None else [1.0] * len(members), dtype=torch.float64)
        if w.shape != (len(members),) or not bool(torch.isfinite(w).all()) or bool((w <= 0).any()):
            raise ValueError(f"weights must be {len(members)} positive numbers, got {w.tolist()}")
        self.members = nn.ModuleList(members)
        self.register_buffer("log_weights", torch.log(w / w.sum()).float().view(-1, 1, 1))
        self.input_names = tuple(getattr(members[0], "input_names", ()))

    @property
    def backbone(self) -> nn.Module:
        """The first member's backbone: what the export reads for model facts (attention dims)."""
        return self.members[0].backbone

    @property
    def weights(self) -> list[float]:
        """The normalised weights, in member order."""
        return [float(x) for x in self.log_weights.double().exp().flatten()]

    def member_logits(self, *inputs: torch.Tensor) -> torch.Tensor:
        """``(K, batch, classes)``: each member's own output on the same inputs."""
        return torch.stack([m(*inputs).float() for m in self.members])

    def combine(self, logits: torch.Tensor) -> torch.Tensor:
        """``(K, batch, classes)`` member logits -> ``(batch, classes)`` log weighted mean probabilities."""
        logp = torch.log_softmax(logits, dim=-1) + self.log_weights
        top = logp.max(dim=0, keepdim=True).values
        return (top + torch.log(torch.exp(logp - top).sum(dim=0, keepdim=True))).squeeze(0)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.combine(self.member_logits(*inputs))
