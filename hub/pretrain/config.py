"""The ``[entries.X.pretrain]`` section: what ``hub pretrain`` trains, torch-free.

Fields use the recipe's ``opt(...)`` metadata, so zoo.toml validation, did-you-mean and the docs
table work exactly as for ``[entries.X.train]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..recipes import opt

OBJECTIVES = ("simclr", "supervised")

#: Files a ``hub pretrain`` output folder holds (README.md is regenerated on push).
WEIGHTS_FILE = "backbone.safetensors"
INFO_FILE = "pretrain.json"
FORMAT = 1


@dataclass(frozen=True)
class PretrainConfig:
    objective: str = opt("simclr", choices=OBJECTIVES,
                         help="simclr: NT-Xent over two augmented views, labels never read; "
                              "supervised: cross-entropy through a temporary linear head")
    epochs: int = opt(5, min=1, max=100_000)
    batch_size: int = opt(256, min=2, help="simclr: pairs per step (2N views, 2N-2 negatives each)")
    lr: float = opt(1e-3, kind=(int, float), min=1e-12, max=10.0)
    weight_decay: float = opt(1e-4, kind=(int, float), min=0, help="not applied to norms and biases")
    warmup_epochs: float = opt(0.5, kind=(int, float), min=0)
    temperature: float = opt(0.2, kind=(int, float), min=1e-3, max=10.0, help="simclr: NT-Xent temperature")
    projection_dim: int = opt(128, min=2, help="simclr: output of the projection MLP (dropped afterwards)")
    crop_scale: list = opt([0.2, 1.0], help="simclr: random resized crop area range [min, max]")
    flip: float = opt(0.5, kind=(int, float), min=0, max=1, help="simclr: horizontal flip probability")
    jitter: float = opt(0.4, kind=(int, float), min=0, max=1,
                        help="simclr: colour jitter strength for RGB data (grey data gets none)")
    blur: float = opt(0.0, kind=(int, float), min=0, max=1, help="simclr: Gaussian blur probability (0 = off)")
    max_images: int = opt(0, min=0, help="use at most N images (a seeded sample); 0 = all")
    seed: int = opt(0, min=0)
    device: str = opt("auto", choices=("auto", "cpu", "cuda"))
