"""``hub pretrain``: train a backbone without a head and write weights other recipes can start from.

Pre-training produces weights, not a new kind of model: the output folder holds
``backbone.safetensors`` in the backbone's own state-dict layout, ``pretrain.json`` (how it was
made) and a card. Pushed to a hub repo it becomes a weight source like any other
(``backbone = { name = "resnet18", weights = "ns/name@tag" }``, resolved in :mod:`hub.weights`).

Import :func:`hub.pretrain.api.pretrain` for the work; this package's top level stays torch-free
so the zoo and the CLI can read the configuration without importing torch.
"""

from __future__ import annotations

from .config import OBJECTIVES, PretrainConfig

__all__ = ["OBJECTIVES", "PretrainConfig"]
