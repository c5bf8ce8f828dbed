"""Augmentation components: adapters from the hub's batch contract to :mod:`hub_vision.augment`.

The hub calls ``factory(input=ImageInput, **options)`` and applies the result
to ``(pixel_values,)`` tuples of normalised training batches; colour jitter
needs the backbone's mean/std to work on real pixel values, hence ``input``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _wrap(module: Any):
    def apply(inputs: tuple) -> tuple:
        return (module(inputs[0]), *inputs[1:])

    return apply


def preset(name: str):
    def factory(input: Any):
        from .augment import build_augmentation

        return _wrap(build_augmentation(name, input))

    factory.__qualname__ = f"preset({name!r})"
    return factory


light = preset("light")
standard = preset("standard")
strong = preset("strong")


def custom(input: Any, flip: float = 0.5, crop_scale: Sequence[float] = (0.7, 1.0), jitter: float = 0.0,
           rotate: float = 0.0, erase: float = 0.0):
    from .augment import build_augmentation

    policy = {"flip": flip, "crop_scale": tuple(crop_scale), "jitter": jitter, "rotate": rotate, "erase": erase}
    return _wrap(build_augmentation(policy, input))
