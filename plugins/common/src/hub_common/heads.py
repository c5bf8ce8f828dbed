"""Heads: small trainable modules from pooled features to class logits.

Dropout sits *before* each linear layer, so ``eval()`` (which export traces)
turns the head into plain affine maps that fold cleanly into the ONNX graph.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}
_NORMS = {"layernorm": nn.LayerNorm, "batchnorm": nn.BatchNorm1d, "none": None}
MAX_WIDTH = 1 << 16  # a hidden layer wider than this is a typo, and would exhaust memory first


def _check_dropout(head: str, dropout: object) -> float:
    """``0 <= dropout < 1`` as a real number (nan and booleans fail here, not inside torch)."""
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"{head} head: dropout must be a number in [0, 1), got {dropout!r}")
    return float(dropout)


def _check_hidden(hidden: object) -> list[int]:
    """Hidden sizes are whole numbers from 1 to MAX_WIDTH; torch would crash on 0 or a negative one."""
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise ValueError(f"mlp head: hidden must be a list of layer sizes, e.g. [256], got {hidden!r}")
    for size in hidden:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_WIDTH:
            raise ValueError(f"mlp head: hidden sizes must be integers from 1 to {MAX_WIDTH}, got {size!r}")
    return list(hidden)


def linear(in_features: int, out_features: int, dropout: float = 0.0) -> nn.Module:
    dropout = _check_dropout("linear", dropout)
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
    dropout = _check_dropout("mlp", dropout)
    hidden = _check_hidden(hidden)
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
