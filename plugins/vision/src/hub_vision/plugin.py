"""Registers the vision backbones and image datasets through the public hooks.

Everything here is plain data read from torch-free modules: the network code
is behind lazy factory references.
"""

from __future__ import annotations

from hub.hookspecs import hookimpl
from hub.specs import DatasetSpec

HUB_CONTRACT = ">=1.0,<2"


@hookimpl
def register_datasets(register):
    register(DatasetSpec(
        name="digits",
        factory="hub_vision.data.embedded:digits",
        modality="image",
        task="image-classification",
        label_names=tuple(str(d) for d in range(10)),
        description="scikit-learn's 1797 8x8 handwritten digits; offline; split 70/15/15 with seed 0.",
        license="CC-BY-4.0",
        source="sklearn.datasets.load_digits",
        options={"seed": 0},
        check="hub_vision.data.embedded:digits_available",
    ))
