"""VGG-11-BN and VGG-16-BN convolutional trunks with timm's ``features.N`` layout.

Design choice: the backbone stops at ``features`` and adds a global average pool, so it yields
512 features. timm's VGG continues with ``pre_logits`` (a ConvMlp: a 7x7 conv 512->4096 and a
1x1 conv 4096->4096, ~120M parameters, i.e. ~90% of the network) trained for a fixed 224 px
input. Dropping it keeps the backbone small, resolution-agnostic and cheap to export, and the
pooled conv features are what transfer learning uses. A timm ``vgg*_bn`` checkpoint loads with
its ``pre_logits.*`` and ``head.*`` tensors ignored; a torchvision-layout checkpoint
(``classifier.*``) loads the same way, since ``features.*`` has the same indices in both.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ._common import check_in_chans, load_backbone_state_dict
from .catalog import VGG as _FAMILY

VARIANTS = _FAMILY.variants
HEAD_PREFIXES = ("pre_logits.", "head.", "classifier.")



class VGG(nn.Module):
    """VGG-BN trunk: ``forward`` returns globally average-pooled features ``[B, 512]``.

    Args:
        variant: one of ``VARIANTS`` (``vgg11_bn``, ``vgg16_bn``).
        in_chans: input channels; pretrained RGB kernels are adapted on load.
    """

    def __init__(self, variant: str, in_chans: int = 3) -> None:
        super().__init__()
        _FAMILY.check(variant)
        check_in_chans(in_chans, variant)
        self.variant = variant
        self.in_chans = in_chans
        layers: list[nn.Module] = []
        prev = in_chans
        for v in VARIANTS[variant]["cfg"]:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(prev, v, kernel_size=3, padding=1), nn.BatchNorm2d(v),
                           nn.ReLU(inplace=True)]
                prev = v
        self.features = nn.Sequential(*layers)
        self.num_features = prev
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Last feature map ``[B, 512, H/32, W/32]``."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.global_pool(self.features(x)).flatten(1)

    def load_timm_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load a timm (or torchvision) ``vgg*_bn`` checkpoint; the MLP head is ignored."""
        load_backbone_state_dict(self, state_dict, first_conv="features.0.weight",
                                 ignore_prefixes=HEAD_PREFIXES)
