"""A small convolutional backbone for little grey images (digits, MNIST-sized data).

Why it exists: the ImageNet backbones need 32+ px and millions of
parameters; domain-shift studies on digits (MNIST -> scikit-learn digits) and
the tests need a network that trains from scratch in seconds on two CPU cores
while still having batch-norm layers (AdaBN, precise BN) and several layer
groups (partial fine-tuning, gradual unfreezing). Three conv blocks
(conv-BN-ReLU x2, pool) and global average pooling give 128 features.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

WIDTHS = (32, 64, 128)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.MaxPool2d(2))


class SmallCNN(nn.Module):
    """``forward(pixel_values)`` -> ``(batch, 128)`` pooled features."""

    def __init__(self, in_chans: int = 1) -> None:
        super().__init__()
        if in_chans not in (1, 3):
            raise ValueError(f"small-cnn reads 1 or 3 channels, got in_chans={in_chans}")
        chans = (in_chans,) + WIDTHS
        self.blocks = nn.Sequential(*(_block(a, b) for a, b in zip(chans, chans[1:])))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = WIDTHS[-1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(pixel_values)).flatten(1)


def build(weights: Path | None = None, in_chans: int = 1) -> SmallCNN:
    model = SmallCNN(in_chans)
    if weights is not None:
        from hub.weights import load_state_dict

        model.load_state_dict(load_state_dict(Path(weights)), strict=True)
    return model


def num_params(in_chans: int = 1) -> int:
    return sum(p.numel() for p in SmallCNN(in_chans).parameters())
