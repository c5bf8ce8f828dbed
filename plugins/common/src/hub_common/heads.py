"""Heads: small trainable modules from pooled features to class logits.

Dropout sits *before* each linear layer, so ``eval()`` (which export traces)
turns the head into plain affine maps that fold cleanly into the ONNX graph.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}
_NORMS = {"layernorm": nn.LayerNorm, "batchnorm": nn.BatchNorm1d, "none": None}


def linear(in_features: int, out_features: int, dropout: float = 0.0) -> nn.Module:
    layers: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
    layers.append(nn.Linear(in_features, out_features))
    return nn.Sequential(*layers)


def mlp(
    in_features: int,
    out_features: int,
    hidden: Sequence[int] = (256,),
    dropout: float = 0.2,
    activation: str = "gelu",
    norm: str = "layernorm",
) -> nn.Module:
    if activation not in _ACTIVATIONS:
        raise ValueError(f"mlp head: activation {activation!r} is not one of {', '.join(_ACTIVATIONS)}")
    if norm not in _NORMS:
        raise ValueError(f"mlp head: norm {norm!r} is not one of {', '.join(_NORMS)}")
    if not 0 <= dropout < 1:
        raise ValueError(f"mlp head: dropout must be in [0, 1), got {dropout}")
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(width, int(size)))
        if _NORMS[norm] is not None:
            layers.append(_NORMS[norm](int(size)))
        layers.append(_ACTIVATIONS[activation]())
        width = int(size)
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


__all__ = ["linear", "mlp"]
