"""SimCLR's two random views of a batch, made with kornia on the training device.

The batch arrives preprocessed by the shared pipeline (:mod:`hub.runtime.preprocess`, the one
deployers run), normalised with the backbone's mean/std. Colour operations are defined on pixels
in [0, 1], so the batch is denormalised once, cropped/flipped/jittered/blurred there, clamped
and renormalised (the same reasoning as the vision plugin's training augmentation).

The recipe follows the SimCLR paper's: random resized crop (the strongest single augmentation
there), horizontal flip, colour jitter applied with probability 0.8 plus random greyscale 0.2
for RGB data, optional Gaussian blur. Grey data (all channels equal, e.g. Fashion-MNIST
replicated to RGB) gets no colour jitter: hue and saturation mean nothing there, and jitter
would turn the grey images into colour ones the downstream task never sees.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import HubError


def is_grey(batch: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> bool:
    """Whether a normalised NCHW batch holds grey images (one channel, or all channels equal)."""
    if batch.shape[1] == 1:
        return True
    pixels = batch * torch.tensor(std, dtype=batch.dtype).view(1, -1, 1, 1) + torch.tensor(
        mean, dtype=batch.dtype).view(1, -1, 1, 1)
    return bool(torch.allclose(pixels[:, :1].expand_as(pixels), pixels, atol=1e-3))


class SimCLRViews(nn.Module):
    """``batch -> augmented batch`` (same shape); call twice for two independent views."""

    def __init__(self, size: tuple[int, int], mean: Sequence[float], std: Sequence[float], *,
                 crop_scale: Sequence[float] = (0.2, 1.0), flip: float = 0.5, jitter: float = 0.4,
                 blur: float = 0.0, grey: bool = False) -> None:
        super().__init__()
        import kornia.augmentation as K

        if (len(crop_scale) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in crop_scale)
                or not 0 < crop_scale[0] <= crop_scale[1] <= 1):
            raise HubError(f"pretrain.crop_scale must be [min, max] with 0 < min <= max <= 1, got {list(crop_scale)}")
        self.register_buffer("mean", torch.tensor([float(v) for v in mean]).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([float(v) for v in std]).view(1, -1, 1, 1), persistent=False)
        ops: list[nn.Module] = [K.RandomResizedCrop(tuple(size), scale=tuple(float(v) for v in crop_scale), p=1.0)]
        if flip > 0:
            ops.append(K.RandomHorizontalFlip(p=flip))
        self.colour = bool(jitter > 0 and not grey and len(mean) == 3)
        if self.colour:
            s = float(jitter)
            ops += [K.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s, p=0.8), K.RandomGrayscale(p=0.2)]
        if blur > 0:
            side = max(3, (min(size) // 10) | 1)  # ~10% of the image, odd, as in the paper
            ops.append(K.RandomGaussianBlur((side, side), (0.1, 2.0), p=blur))
        self.ops = nn.Sequential(*ops)
        self.describe = {"crop_scale": [float(v) for v in crop_scale], "flip": float(flip),
                         "colour_jitter": float(jitter) if self.colour else 0.0,
                         "random_grayscale": 0.2 if self.colour else 0.0, "blur": float(blur), "grey_input": grey}

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.float() * self.std + self.mean
        x = self.ops(x.clamp(0.0, 1.0))
        return ((x.clamp(0.0, 1.0) - self.mean) / self.std).to(batch.dtype)
