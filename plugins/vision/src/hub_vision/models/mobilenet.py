"""MobileNet-V2 (1.0) and MobileNet-V3-small (1.0) with timm's state-dict layout.

The architectures are transcribed from timm's block-string definitions
(``_gen_mobilenet_v2`` in ``efficientnet.py``, ``_gen_mobilenet_v3`` in ``mobilenetv3.py``) and
its building blocks (``_efficientnet_blocks.py``): ``conv_stem``/``bn1``, ``blocks.<stage>.<i>``
with ``conv_pw``/``conv_dw``/``se.conv_reduce``/``se.conv_expand``/``conv_pwl``/``bn1..3``, and
the head (``conv_head``/``bn2`` for V2; ``conv_head`` with bias after pooling -- the "efficient
head" -- for V3). timm's ``BatchNormAct2d`` is a ``BatchNorm2d`` subclass with a parameter-free
activation, so a plain ``BatchNorm2d`` followed by the activation gives identical keys.
Only the ``classifier.*`` tensors of a timm checkpoint are ignored on load.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ._common import check_in_chans, load_backbone_state_dict
from .catalog import MOBILENET as _FAMILY

VARIANTS = _FAMILY.variants
HEAD_PREFIXES = ("classifier.",)

RE, R6, HS = nn.ReLU, nn.ReLU6, nn.Hardswish

# (block type, repeats, kernel, stride, expansion, out channels, se ratio, activation or None
# for the model default) -- one list per stage, as timm's arch_def strings.
_ARCH = {
    "v2": [
        [("ds", 1, 3, 1, 1.0, 16, 0.0, None)],
        [("ir", 2, 3, 2, 6.0, 24, 0.0, None)],
        [("ir", 3, 3, 2, 6.0, 32, 0.0, None)],
        [("ir", 4, 3, 2, 6.0, 64, 0.0, None)],
        [("ir", 3, 3, 1, 6.0, 96, 0.0, None)],
        [("ir", 3, 3, 2, 6.0, 160, 0.0, None)],
        [("ir", 1, 3, 1, 6.0, 320, 0.0, None)],
    ],
    "v3_small": [
        [("ds", 1, 3, 2, 1.0, 16, 0.25, RE)],
        [("ir", 1, 3, 2, 4.5, 24, 0.0, RE), ("ir", 1, 3, 1, 3.67, 24, 0.0, RE)],
        [("ir", 1, 5, 2, 4.0, 40, 0.25, None), ("ir", 2, 5, 1, 6.0, 40, 0.25, None)],
        [("ir", 2, 5, 1, 3.0, 48, 0.25, None)],
        [("ir", 3, 5, 2, 6.0, 96, 0.25, None)],
        [("cn", 1, 1, 1, 1.0, 576, 0.0, None)],
    ],
}
_STEM = {"v2": (32, R6, 1280), "v3_small": (16, HS, 1024)}  # stem chs, default act, head chs



def make_divisible(v: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """timm's channel rounding: nearest multiple of 8, never more than 10% below ``v``."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < round_limit * v else new_v


def _conv(in_chs: int, out_chs: int, k: int, stride: int = 1, groups: int = 1,
          bias: bool = False) -> nn.Conv2d:
    # timm's default ('' pad_type) symmetric padding: ((stride - 1) + (k - 1)) // 2 == k // 2
    return nn.Conv2d(in_chs, out_chs, k, stride=stride, padding=k // 2, groups=groups, bias=bias)


class SqueezeExcite(nn.Module):
    """Channel attention as in MobileNet-V3: ReLU squeeze, hard-sigmoid gate."""

    def __init__(self, chs: int, ratio: float) -> None:
        super().__init__()
        rd = make_divisible(chs * ratio)
        self.conv_reduce = nn.Conv2d(chs, rd, 1, bias=True)
        self.act1 = nn.ReLU(inplace=True)
        self.conv_expand = nn.Conv2d(rd, chs, 1, bias=True)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.conv_expand(self.act1(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * self.gate(s)


class ConvBnAct(nn.Module):
    """timm ``cn`` block: conv + BN + activation, no skip."""

    def __init__(self, in_chs: int, out_chs: int, k: int, stride: int, act: type) -> None:
        super().__init__()
        self.conv = _conv(in_chs, out_chs, k, stride)
        self.bn1 = nn.BatchNorm2d(out_chs)
        self.act1 = act(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act1(self.bn1(self.conv(x)))


class DepthwiseSeparableConv(nn.Module):
    """timm ``ds`` block: depthwise conv + BN + act, optional SE, pointwise conv + BN."""

    def __init__(self, in_chs: int, out_chs: int, k: int, stride: int, se: float,
                 act: type) -> None:
        super().__init__()
        self.has_skip = stride == 1 and in_chs == out_chs
        self.conv_dw = _conv(in_chs, in_chs, k, stride, groups=in_chs)
        self.bn1 = nn.BatchNorm2d(in_chs)
        self.act1 = act(inplace=True)
        self.se = SqueezeExcite(in_chs, se) if se else nn.Identity()
        self.conv_pw = _conv(in_chs, out_chs, 1)
        self.bn2 = nn.BatchNorm2d(out_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.se(self.act1(self.bn1(self.conv_dw(x))))
        y = self.bn2(self.conv_pw(y))
        return y + x if self.has_skip else y


class InvertedResidual(nn.Module):
    """timm ``ir`` block: 1x1 expand, depthwise kxk, optional SE, linear 1x1 projection."""

    def __init__(self, in_chs: int, out_chs: int, k: int, stride: int, exp: float, se: float,
                 act: type) -> None:
        super().__init__()
        mid = make_divisible(in_chs * exp)
        self.has_skip = stride == 1 and in_chs == out_chs
        self.conv_pw = _conv(in_chs, mid, 1)
        self.bn1 = nn.BatchNorm2d(mid)
        self.act1 = act(inplace=True)
        self.conv_dw = _conv(mid, mid, k, stride, groups=mid)
        self.bn2 = nn.BatchNorm2d(mid)
        self.act2 = act(inplace=True)
        self.se = SqueezeExcite(mid, se) if se else nn.Identity()
        self.conv_pwl = _conv(mid, out_chs, 1)
        self.bn3 = nn.BatchNorm2d(out_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.conv_pw(x)))
        y = self.se(self.act2(self.bn2(self.conv_dw(y))))
        y = self.bn3(self.conv_pwl(y))
        return y + x if self.has_skip else y


class MobileNet(nn.Module):
    """MobileNet backbone: ``forward`` returns pooled features ``[B, num_features]``.

    V2 pools after ``conv_head``+``bn2`` (1280 features); V3-small pools the 576-channel map
    first and then applies ``conv_head`` + hard-swish, as timm's ``forward_head(pre_logits=True)``
    does, giving 1024 features.

    Args:
        variant: ``mobilenetv2_100`` or ``mobilenetv3_small_100``.
        in_chans: input channels; pretrained RGB kernels are adapted on load.
    """

    def __init__(self, variant: str, in_chans: int = 3) -> None:
        super().__init__()
        _FAMILY.check(variant)
        check_in_chans(in_chans, variant)
        cfg = VARIANTS[variant]
        self.variant = variant
        self.in_chans = in_chans
        self.arch = cfg["arch"]
        mult = cfg["multiplier"]
        stem_chs, default_act, head_chs = _STEM[self.arch]
        stem_chs = make_divisible(stem_chs * mult)

        self.conv_stem = _conv(in_chans, stem_chs, 3, stride=2)
        self.bn1 = nn.BatchNorm2d(stem_chs)
        self.act1 = default_act(inplace=True)

        stages, chs = [], stem_chs
        for stage_def in _ARCH[self.arch]:
            blocks: list[nn.Module] = []
            for kind, repeats, k, stride, exp, out, se, act in stage_def:
                out, act = make_divisible(out * mult), act or default_act
                for i in range(repeats):
                    s = stride if i == 0 else 1
                    if kind == "ds":
                        blocks.append(DepthwiseSeparableConv(chs, out, k, s, se, act))
                    elif kind == "ir":
                        blocks.append(InvertedResidual(chs, out, k, s, exp, se, act))
                    else:
                        blocks.append(ConvBnAct(chs, out, k, s, act))
                    chs = out
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)

        if self.arch == "v2":
            head_chs = max(head_chs, make_divisible(head_chs * mult))
            self.conv_head = _conv(chs, head_chs, 1)
            self.bn2 = nn.BatchNorm2d(head_chs)
        else:
            self.conv_head = _conv(chs, head_chs, 1, bias=True)
        self.act2 = default_act(inplace=True)
        self.num_features = head_chs
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self._init_weights()

    def _init_weights(self) -> None:
        """TF-style fan-out normal init, as timm's ``_init_weight_goog``."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map before the head (1280 channels for V2, 576 for V3-small)."""
        x = self.blocks(self.act1(self.bn1(self.conv_stem(x))))
        if self.arch == "v2":
            x = self.act2(self.bn2(self.conv_head(x)))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.global_pool(self.forward_features(x))
        if self.arch != "v2":
            x = self.act2(self.conv_head(x))
        return x.flatten(1)

    def load_timm_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load a timm ``mobilenetv2_100``/``mobilenetv3_small_100`` checkpoint."""
        load_backbone_state_dict(self, state_dict, first_conv="conv_stem.weight",
                                 ignore_prefixes=HEAD_PREFIXES)
