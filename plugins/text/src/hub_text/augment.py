"""The ``token-dropout`` augmentation component: cheap text augmentation on token tensors.

Working on ``input_ids``/``attention_mask`` rather than strings keeps
augmentation inside the training loop (no re-tokenising) and makes it
reproducible from torch's RNG, which the trainer seeds and checkpoints.
"""

from __future__ import annotations

from typing import Any

import torch


def token_dropout_augmentation(input: Any = None, p: float = 0.1):
    """The ``token-dropout`` augmentation component: a batch callable for the trainer.

    It sees only tensors, not the tokenizer, so instead of a list of special
    ids it keeps the first and last attended token of every row ([CLS] and
    [SEP] for BERT-style inputs) and drops others with probability ``p`` by
    zeroing their attention mask. Randomness comes from torch's global RNG,
    which the trainer seeds and checkpoints.
    """
    if isinstance(p, bool) or not 0 <= p < 1:
        raise ValueError(f"token-dropout: p must be in [0, 1), got {p!r}")

    def apply(inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        input_ids, attention_mask, *rest = inputs
        attended = attention_mask.bool()
        position = attended.long().cumsum(dim=1)
        length = attended.sum(dim=1, keepdim=True)
        inner = attended & (position > 1) & (position < length)
        drop = inner & (torch.rand(attended.shape, device=attended.device) < p)
        return (input_ids, attention_mask.masked_fill(drop, 0), *rest)

    return apply
