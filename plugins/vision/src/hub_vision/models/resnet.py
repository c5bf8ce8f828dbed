"""ResNet-18/34/50 in plain torch with timm's state-dict layout, minus the classifier.

Why not timm or torchvision: neither installs cleanly next to the CPU torch build the hub uses
(see DESIGN.md). Module names follow timm's ``timm/models/resnet.py`` (``conv1``, ``bn1``,
``layer1.0.conv1``, ``layer2.0.downsample.0`` ...) so a state dict published for
``timm.create_model("resnet18")`` loads here with only its ``fc.*`` tensors dropped. Only the
plain "b" variant (7x7 stem, 1x1 strided-conv shortcut, stride on the 3x3 conv) is built.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ._common import check_in_chans, load_backbone_state_dict
from .catalog import RESNET as _FAMILY

VARIANTS = _FAMILY.variants
# Keys of a timm ResNet checkpoint that the backbone does not have.
HEAD_PREFIXES = ("fc.",)



def _downsample(in_chs: int, out_chs: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_chs, out_chs, 1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_chs))


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or projected) shortcut; ResNet-18/34."""

    expansion = 1

    def __init__(self, in_chs: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chs, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        return self.act2(x + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce, strided 3x3, 1x1 expand (x4); ResNet-50 ("v1.5": stride on the 3x3)."""

    expansion = 4

    def __init__(self, in_chs: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        out_chs = planes * self.expansion
        self.conv1 = nn.Conv2d(in_chs, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(planes, out_chs, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_chs)
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        return self.act3(x + shortcut)


class ResNet(nn.Module):
    """ResNet backbone: ``forward`` returns globally average-pooled features ``[B, num_features]``.

    Args:
        variant: one of ``VARIANTS`` (``resnet18``, ``resnet34``, ``resnet50``).
        in_chans: input channels; pretrained RGB stems are adapted by ``load_timm_state_dict``.
    """

    def __init__(self, variant: str, in_chans: int = 3) -> None:
        super().__init__()
        _FAMILY.check(variant)
        check_in_chans(in_chans, variant)
        cfg = VARIANTS[variant]
        block = BasicBlock if cfg["block"] == "basic" else Bottleneck
        self.variant = variant
        self.in_chans = in_chans

        self.conv1 = nn.Conv2d(in_chans, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)

        in_chs = 64
        for i, (planes, depth) in enumerate(zip((64, 128, 256, 512), cfg["layers"])):
            stride = 1 if i == 0 else 2
            out_chs = planes * block.expansion
            needs_proj = stride != 1 or in_chs != out_chs
            down = _downsample(in_chs, out_chs, stride) if needs_proj else None
            blocks = [block(in_chs, planes, stride, down)]
            blocks += [block(out_chs, planes) for _ in range(depth - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            in_chs = out_chs
        self.num_features = in_chs
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():  # zero-init last BN of each residual branch, as timm does
            if isinstance(m, (BasicBlock, Bottleneck)):
                nn.init.zeros_((m.bn2 if isinstance(m, BasicBlock) else m.bn3).weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Last feature map ``[B, num_features, H/32, W/32]``."""
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.global_pool(self.forward_features(x)).flatten(1)

    def load_timm_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load a timm ``resnet*`` checkpoint (``fc.*`` ignored, stem adapted to ``in_chans``)."""
        load_backbone_state_dict(self, state_dict, first_conv="conv1.weight",
                                 ignore_prefixes=HEAD_PREFIXES)
