"""The vision plugin's specs agree with the modules they describe, through the hub's own build path."""

from __future__ import annotations

import pytest
import torch

from hub.model import build_backbone, check_layer_groups
from hub.plugins import load_hub


@pytest.fixture(scope="module")
def registry():
    return load_hub().registry


def test_the_families_are_registered(registry):
    families = {c.spec.family for c in registry.list("backbones") if c.plugin == "vision"}
    assert families == {"resnet", "vgg", "inception", "mobilenet", "efficientnet_lite", "small_cnn"}


@pytest.mark.parametrize("name", ["resnet18", "vgg11-bn", "inception-v3", "mobilenet-v3-small", "efficientnet-lite0",
                                  "small-cnn"])
def test_spec_matches_the_built_module(registry, name):
    spec = registry.get("backbone", name).spec
    model = build_backbone(spec, {}, pretrained=False).eval()
    groups = check_layer_groups(spec, model)  # raises if a parameter has no group
    assert sum(len(v) for v in groups.values()) == len(list(model.parameters()))
    assert sum(p.numel() for p in model.parameters()) == spec.num_params
    side = 75 if name == "inception-v3" else 64
    with torch.no_grad():
        assert model(torch.zeros(2, spec.input.channels, side, side)).shape == (2, spec.feature_dim)


def test_lite0_pretrained_through_the_hub_matches_the_package(registry):
    from hub_vision.models.efficientnet_lite import pretrained

    spec = registry.get("backbone", "efficientnet-lite0").spec
    ours = build_backbone(spec, {}, pretrained=True).eval()
    reference = pretrained("efficientnet_lite0").eval()
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(ours(x), reference(x), atol=1e-6)


def test_timm_backbone_without_cached_weights_says_how_to_get_them(registry, monkeypatch, tmp_path):
    from hub.errors import WeightsError

    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import; patch the constant
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(WeightsError, match="no pretrained weights available for backbone 'resnet18'.*pretrained = false"):
        build_backbone(registry.get("backbone", "resnet18").spec, {}, pretrained=True)
