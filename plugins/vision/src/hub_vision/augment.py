"""Training-time image augmentation on whole batches, on the training device (kornia).

Augmentation runs after :func:`hub.runtime.preprocess.preprocess_images`, on
the already-normalised NCHW float batch, so the data pipeline stays the one
deployers use and the random work happens on the GPU when there is one.
Randomness comes from torch's global RNG only: the trainer seeds it (and
restores it on resume), so an augmented run repeats exactly.

Colour jitter is defined on pixels in [0, 1]: brightness adds a constant,
contrast and saturation blend towards grey, and on normalised values those
operations would mean something different per channel (and clamping to [0, 1]
would destroy the data). So when the backbone's ``mean``/``std`` are known the
batch is denormalised once, flipped/cropped/rotated/jittered in pixel space,
clamped to [0, 1] and renormalised: two cheap elementwise passes, exact
operations. Rotation then fills corners with black, as torchvision does.
Without mean/std only the geometric operations are allowed; they work on
normalised values directly (a rotation's corners are then 0, the mean colour).

Presets are starting points the user picks; none knows the data (flipping
digits or text, say, teaches the wrong invariance: use "none" or a mapping
without ``flip`` there).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

PRESETS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "light": {"flip": 0.5, "crop_scale": (0.8, 1.0)},
    "standard": {"flip": 0.5, "crop_scale": (0.6, 1.0), "jitter": 0.2, "rotate": 10.0},
    # the "strong" view of consistency training (FixMatch): no flip, which would teach digits and text
    # the wrong invariance; heavy crops, rotation, jitter and cutout instead
    "strong": {"crop_scale": (0.5, 1.0), "jitter": 0.4, "rotate": 30.0, "erase": 0.5},
}
KEYS = ("flip", "crop_scale", "jitter", "rotate", "erase")


def build_augmentation(policy: str | Mapping[str, Any], image_size: Any = None, *,
                       mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> nn.Module | None:
    """A module ``batch -> augmented batch`` (same shape), or ``None`` for ``"none"``.

    ``policy``: a preset name (``"none"``, ``"light"``, ``"standard"``) or a
    mapping with any of ``flip`` (probability), ``crop_scale`` ((min, max)
    area kept by a random resized crop), ``jitter`` (brightness, contrast and
    saturation strength; hue a quarter of it), ``rotate`` (max degrees) and
    ``erase`` (probability of cutting out a random rectangle of 2-25 % of the
    image, filled with mid-grey: Cutout/random erasing).

    ``image_size``: an int, ``(height, width)``, or the backbone's input
    contract (an ``ImageInput`` or its mapping), from which ``mean``/``std``
    are also taken. Output always keeps each batch's own size; the given size
    only prepares the crop for it. ``mean``/``std`` are required for ``jitter``.
    """
    options = _policy_options(policy)
    if options is None:
        return None
    size, contract_mean, contract_std = _size_and_stats(image_size)
    mean = mean if mean is not None else contract_mean
    std = std if std is not None else contract_std
    if (mean is None) != (std is None):
        raise ValueError("build_augmentation: give both mean and std (the backbone's normalisation) or neither")
    if mean is not None and len(mean) != len(std):
        raise ValueError(f"build_augmentation: mean has {len(mean)} values but std has {len(std)}")
    if options.get("jitter") and mean is None:
        raise ValueError("colour jitter works on pixels in [0, 1], so it needs the backbone's normalisation: "
                         "build_augmentation(policy, spec.input) or pass mean=..., std=...")
    return BatchAugment(size=size, mean=mean, std=std, **options)


def _policy_options(policy: str | Mapping[str, Any]) -> dict[str, Any] | None:
    if isinstance(policy, str):
        key = policy.strip().lower()
        if key not in PRESETS:
            raise ValueError(f"unknown augmentation preset {policy!r}{_did_you_mean(key, PRESETS)}; "
                             f"presets: {', '.join(PRESETS)}, or a mapping with keys {', '.join(KEYS)}")
        preset = PRESETS[key]
        return None if preset is None else dict(preset)
    if not isinstance(policy, Mapping):
        raise ValueError(f"augmentation policy must be a preset name or a mapping, got {type(policy).__name__}")
    options: dict[str, Any] = {}
    for key, value in policy.items():
        if key not in KEYS:
            raise ValueError(f"unknown augmentation key {key!r}{_did_you_mean(str(key), KEYS)}; "
                             f"known keys: {', '.join(KEYS)}")
        options[key] = _check_value(key, value)
    return options


def _check_value(key: str, value: Any) -> Any:
    def number(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"augmentation {key!r} must be a number, got {v!r}")
        return float(v)

    if key == "crop_scale":
        if value is None:
            return None
        if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
            raise ValueError(f"augmentation 'crop_scale' must be [min, max] area fractions, got {value!r}")
        lo, hi = number(value[0]), number(value[1])
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"augmentation 'crop_scale' needs 0 < min <= max <= 1, got {list(value)}")
        return (lo, hi)
    v = number(value)
    limits = {"flip": (0.0, 1.0), "jitter": (0.0, 1.0), "rotate": (0.0, 180.0), "erase": (0.0, 1.0)}[key]
    if not limits[0] <= v <= limits[1]:
        raise ValueError(f"augmentation {key!r} must be between {limits[0]:g} and {limits[1]:g}, got {v!r}")
    return v


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _size_and_stats(image_size: Any) -> tuple[tuple[int, int] | None, Any, Any]:
    """``image_size`` in any accepted form -> ((h, w) or None, mean or None, std or None)."""
    if image_size is None:
        return None, None, None
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        return (image_size, image_size), None, None
    if isinstance(image_size, Mapping) or dataclasses.is_dataclass(image_size):
        get = image_size.get if isinstance(image_size, Mapping) else lambda k: getattr(image_size, k, None)
        size, _, _ = _size_and_stats(get("size"))
        return size, get("mean"), get("std")
    if isinstance(image_size, Sequence) and len(image_size) == 2 and all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in image_size):
        return (int(image_size[0]), int(image_size[1])), None, None
    raise ValueError(f"image_size must be an int, (height, width) or an image input contract, got {image_size!r}")


class BatchAugment(nn.Module):
    """Random flip, resized crop, rotation and colour jitter of an NCHW float batch.

    Accepts a tensor, or the trainer's tuple of input tensors (the first,
    ``pixel_values``, is augmented; the rest pass through). Per-sample random
    parameters; shape, dtype and device are kept.
    """

    def __init__(self, size: tuple[int, int] | None = None, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, flip: float = 0.0,
                 crop_scale: tuple[float, float] | None = None, jitter: float = 0.0, rotate: float = 0.0,
                 erase: float = 0.0) -> None:
        super().__init__()
        import kornia.augmentation as K

        self.options = {"flip": flip, "crop_scale": crop_scale, "jitter": jitter, "rotate": rotate, "erase": erase}
        self._normalised = mean is not None
        if self._normalised:
            for name, values in (("mean", mean), ("std", std)):
                tensor = torch.tensor([float(v) for v in values], dtype=torch.float32).view(1, -1, 1, 1)
                self.register_buffer(name, tensor, persistent=False)
        self.flip = K.RandomHorizontalFlip(p=flip) if flip > 0 else None
        self.rotate = K.RandomRotation(degrees=rotate, p=1.0) if rotate > 0 else None
        # saturation and hue only exist for 3 channels; grey batches get brightness and contrast
        self.jitter_rgb = K.ColorJitter(jitter, jitter, jitter, jitter / 4, p=1.0) if jitter > 0 else None
        self.jitter_grey = K.ColorJitter(jitter, jitter, 0.0, 0.0, p=1.0) if jitter > 0 else None
        # mid-grey in pixel space; without mean/std the batch stays normalised and 0 is the mean colour
        self.erase = K.RandomErasing(scale=(0.02, 0.25), value=0.5 if self._normalised else 0.0, p=erase) \
            if erase > 0 else None
        self._crops: dict[tuple[int, int], nn.Module] = {}
        if crop_scale is not None and size is not None:
            self._crop(size)

    def _crop(self, size: tuple[int, int]) -> nn.Module:
        if size not in self._crops:
            import kornia.augmentation as K

            self._crops[size] = K.RandomResizedCrop(size, scale=self.options["crop_scale"], p=1.0)
        return self._crops[size]

    def forward(self, batch: Any) -> Any:
        if isinstance(batch, (tuple, list)):
            return type(batch)([self.forward(batch[0]), *batch[1:]])
        if not isinstance(batch, torch.Tensor) or batch.ndim != 4 or not batch.is_floating_point():
            shape = tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__
            raise ValueError(f"augmentation expects a float NCHW batch, got {shape}")
        x = batch.float()  # kornia and the clamps want float32, whatever the trainer's precision
        if self._normalised:
            mean, std = self.mean.to(x), self.std.to(x)
            if mean.shape[1] != x.shape[1]:
                raise ValueError(f"augmentation: batch has {x.shape[1]} channels, mean/std have {mean.shape[1]}")
            x = x * std + mean
        if self.flip is not None:
            x = self.flip(x)
        if self.options["crop_scale"] is not None:
            x = self._crop((x.shape[-2], x.shape[-1]))(x)
        if self.rotate is not None:
            x = self.rotate(x)
        if self.jitter_rgb is not None:
            x = (self.jitter_rgb if x.shape[1] == 3 else self.jitter_grey)(x.clamp(0.0, 1.0))
        if self.erase is not None:
            x = self.erase(x)
        if self._normalised:
            x = (x.clamp(0.0, 1.0) - mean) / std
        return x.to(batch.dtype)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.options.items() if v) + f", normalised={self._normalised}"
