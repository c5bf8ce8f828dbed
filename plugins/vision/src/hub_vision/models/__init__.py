"""Vision backbones in plain torch: ResNet, VGG-BN, Inception-v3, MobileNet, EfficientNet-Lite.

Importing this package does not import torch: ``BACKBONES`` maps each variant to a lazy
``"module:Class"`` reference and the static facts (input contract, feature size, parameter
count, layer groups) come from :mod:`hub_vision.models.catalog`. ``build`` imports the family
module only when a model is actually made.

Every backbone class has the same interface: ``Cls(variant, in_chans=3)``, ``num_features``,
and ``forward(x[B, C, H, W]) -> [B, num_features]`` (globally average-pooled features).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .catalog import FAMILIES, family_of

if TYPE_CHECKING:
    from torch import nn

BACKBONES: dict[str, str] = {
    variant: fam.target for fam in FAMILIES.values() for variant in fam.variants
}


def resolve(variant: str) -> type:
    """The backbone class for ``variant`` (imports its module, hence torch)."""
    target = family_of(variant).target
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def build(variant: str, in_chans: int = 3) -> "nn.Module":
    """A randomly initialised backbone; ValueError naming the valid variants if unknown."""
    return resolve(variant)(variant, in_chans=in_chans)


def layer_groups(variant: str) -> list[tuple[str, tuple[str, ...]]]:
    """Ordered (group name, parameter-name prefixes) for ``variant``, input to output."""
    return family_of(variant).layer_groups(variant)


__all__ = ["BACKBONES", "FAMILIES", "build", "family_of", "layer_groups", "resolve"]
