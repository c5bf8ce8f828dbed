"""Cheap text augmentation on token-id tensors, applied after tokenisation.

Working on ``input_ids`` rather than strings keeps augmentation inside the
training loop (no re-tokenising) and makes it reproducible with a
``torch.Generator``. Special tokens ([CLS], [SEP], <|im_end|> ...) and padding
are never touched: changing them would change what the pooling reads, not the
text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


def special_token_ids(tokenizer: Any) -> list[int]:
    """All special-token ids of a transformers tokenizer (pad, cls, sep, eos, ...)."""
    return sorted({int(i) for i in tokenizer.all_special_ids})


def _check(input_ids: torch.Tensor, attention_mask: torch.Tensor, p: float) -> None:
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= p < 1.0:
        raise ValueError(f"augmentation probability p must be a number in [0, 1), got {p!r}.")
    if input_ids.dim() != 2 or input_ids.shape != attention_mask.shape:
        raise ValueError(
            "input_ids and attention_mask must both be [batch, seq] with the same shape, got "
            f"{tuple(input_ids.shape)} and {tuple(attention_mask.shape)}."
        )


def _eligible(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, special_ids: Iterable[int]
) -> torch.Tensor:
    """Positions that hold real text: attended and not a special token."""
    special = torch.tensor(sorted(set(special_ids)), dtype=input_ids.dtype, device=input_ids.device)
    return attention_mask.bool() & ~torch.isin(input_ids, special)


def _draw(shape: torch.Size, p: float, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(shape, generator=generator) < p


def token_dropout(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    p: float,
    special_ids: Iterable[int],
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop each text token with probability ``p`` by zeroing its attention mask.

    Masking instead of deleting keeps shapes (no re-padding). For the decoder,
    whose position ids follow the attention mask, this is exactly deleting the
    token; for BERT-style encoders it is deleting up to absolute positions.
    At least one text token per row is kept. Returns new tensors
    ``(input_ids, attention_mask)``; the inputs are not modified.
    """
    _check(input_ids, attention_mask, p)
    eligible = _eligible(input_ids, attention_mask, special_ids)
    drop = eligible & _draw(input_ids.shape, p, generator).to(eligible.device)
    emptied = (eligible & ~drop).sum(dim=1) == 0
    first = eligible & (eligible.long().cumsum(dim=1) == 1)
    drop &= ~(first & emptied.unsqueeze(1))
    return input_ids.clone(), attention_mask.masked_fill(drop, 0)


def random_mask(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    p: float,
    mask_token_id: int,
    special_ids: Iterable[int],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Replace each text token by ``mask_token_id`` with probability ``p``.

    For BERT use ``tokenizer.mask_token_id``; SmolLM2 has no mask token, use
    its unk token (``<|endoftext|>``) or prefer :func:`token_dropout`.
    Returns a new ``input_ids`` tensor.
    """
    _check(input_ids, attention_mask, p)
    if isinstance(mask_token_id, bool) or not isinstance(mask_token_id, int) or mask_token_id < 0:
        raise ValueError(f"mask_token_id must be a non-negative int, got {mask_token_id!r}.")
    hit = _eligible(input_ids, attention_mask, special_ids) & _draw(input_ids.shape, p, generator).to(
        input_ids.device
    )
    return input_ids.masked_fill(hit, mask_token_id)


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
