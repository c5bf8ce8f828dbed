"""Batch augmentation: presets, the mapping form, shape and determinism, clear errors."""

from __future__ import annotations

import pytest
import torch

from hub.specs import ImageInput
from hub_vision.augment import PRESETS, build_augmentation

SPEC = ImageInput(size=(32, 32))


def batch(channels=3, size=32, n=6):
    torch.manual_seed(123)
    return torch.randn(n, channels, size, size)


def test_none_is_no_module():
    assert build_augmentation("none", SPEC) is None


@pytest.mark.parametrize("preset", [p for p in PRESETS if p != "none"])
def test_presets_keep_shape_and_dtype(preset):
    aug = build_augmentation(preset, SPEC)
    x = batch()
    y = aug(x)
    assert y.shape == x.shape and y.dtype == x.dtype and not torch.equal(x, y)


def test_deterministic_under_a_seed():
    aug = build_augmentation("standard", SPEC)
    x = batch()
    torch.manual_seed(7)
    a = aug(x)
    torch.manual_seed(7)
    b = aug(x)
    torch.manual_seed(8)
    c = aug(x)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_mapping_form_grey_batch_and_tuple_inputs():
    aug = build_augmentation({"flip": 0.5, "crop_scale": [0.7, 1.0], "jitter": 0.2, "rotate": 10},
                             28, mean=[0.5], std=[0.5])
    x = batch(channels=1, size=28)
    (y,) = aug((x,))  # the trainer hands a tuple of input tensors
    assert y.shape == x.shape


def test_output_stays_inside_the_normalised_pixel_range():
    aug = build_augmentation({"jitter": 0.5}, SPEC)
    x = (torch.rand(4, 3, 32, 32) - torch.tensor(SPEC.mean).view(1, 3, 1, 1)) / torch.tensor(SPEC.std).view(1, 3, 1, 1)
    y = aug(x) * torch.tensor(SPEC.std).view(1, 3, 1, 1) + torch.tensor(SPEC.mean).view(1, 3, 1, 1)
    assert y.min() >= -1e-5 and y.max() <= 1 + 1e-5


def test_flip_only_is_an_exact_mirror():
    aug = build_augmentation({"flip": 1.0}, 32)  # geometric only: no mean/std needed
    x = batch()
    torch.testing.assert_close(aug(x), x.flip(-1))


def test_batch_of_another_size_keeps_its_size():
    aug = build_augmentation("light", SPEC)
    assert aug(batch(size=40)).shape == (6, 3, 40, 40)


@pytest.mark.parametrize("policy, words", [
    ({"flipp": 0.5}, "unknown augmentation key 'flipp' (did you mean 'flip'?)"),
    ("standart", "did you mean 'standard'?"),
    ({"crop_scale": [0.9, 0.1]}, "0 < min <= max <= 1"),
    ({"flip": 2}, "'flip' must be between 0 and 1"),
    ({"rotate": "lots"}, "'rotate' must be a number"),
])
def test_bad_policies_say_what_is_wrong(policy, words):
    with pytest.raises(ValueError) as info:
        build_augmentation(policy, SPEC)
    assert words in str(info.value)


def test_jitter_needs_the_normalisation():
    with pytest.raises(ValueError, match="needs the backbone's normalisation"):
        build_augmentation("standard", 32)
    with pytest.raises(ValueError, match="expects a float NCHW batch"):
        build_augmentation("light", 32)(torch.zeros(3, 32, 32))


def test_erase_cuts_out_a_grey_rectangle_and_leaves_the_rest():
    aug = build_augmentation({"erase": 1.0}, SPEC)
    mean, std = torch.tensor(SPEC.mean).view(1, 3, 1, 1), torch.tensor(SPEC.std).view(1, 3, 1, 1)
    torch.manual_seed(0)
    x = (torch.rand(6, 3, 32, 32) * 0.8 - mean) / std  # real pixels, none of them mid-grey
    y = aug(x)
    grey = (0.5 - mean) / std
    changed = ((y - x).abs() > 1e-4).any(1)  # per pixel
    for i in range(len(x)):
        frac = changed[i].float().mean()
        assert 0.0 < frac <= 0.3  # a rectangle of 2-25 % of the image (plus rounding)
        assert torch.allclose(y[i][:, changed[i]], grey[0].expand(3, 32, 32)[:, changed[i]], atol=1e-4)
        assert torch.allclose(y[i][:, ~changed[i]], x[i][:, ~changed[i]], atol=1e-4)


def test_strong_preset_never_flips():
    assert "flip" not in PRESETS["strong"] and PRESETS["strong"]["erase"] > 0
