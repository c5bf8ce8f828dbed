"""Tests for the plain-torch vision backbones in ``hub_vision.models``.

Fast by design (2 CPU cores): every model is built once per session, forwards use batch <= 3 and
small inputs, and ONNX parity runs on the smallest variant of each family at 64-96 px.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hub_vision import models
from hub_vision.models import BACKBONES, build, catalog

torch.set_num_threads(2)

ALL_VARIANTS = sorted(BACKBONES)
_CACHE: dict[str, torch.nn.Module] = {}


def _model(variant: str) -> torch.nn.Module:
    if variant not in _CACHE:
        torch.manual_seed(0)
        _CACHE[variant] = build(variant).eval()
    return _CACHE[variant]


# --- construction, shapes, counts, groups ---------------------------------------------------

@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_forward_shapes_and_counts(variant: str) -> None:
    model = _model(variant)
    family = catalog.family_of(variant)
    assert model.num_features == family.feature_dims[variant]
    assert sum(p.numel() for p in model.parameters()) == family.num_params[variant]
    default = family.default_input[variant]["size"]
    small = max(64, family.min_input_size[variant])
    with torch.no_grad():
        y1 = model(torch.randn(1, 3, *default))
        y2 = model(torch.randn(2, 3, small, small))
    assert y1.shape == (1, model.num_features)
    assert y2.shape == (2, model.num_features)
    assert torch.isfinite(y1).all() and torch.isfinite(y2).all()


def test_param_counts_match_published_totals() -> None:
    """Independent check: timm/torchvision total parameter counts minus their classifiers."""
    published = {  # (total with 1000-class head, head params)
        "resnet18": (11_689_512, 513_000), "resnet34": (21_797_672, 513_000),
        "resnet50": (25_557_032, 2_049_000),
        "vgg11_bn": (132_868_840, 123_642_856), "vgg16_bn": (138_365_992, 123_642_856),
        "inception_v3": (23_834_568, 2_049_000),  # timm, without AuxLogits
        "mobilenetv2_100": (3_504_872, 1_281_000), "mobilenetv3_small_100": (2_542_856, 1_025_000),
        "efficientnet_lite0": (4_652_008, 1_281_000),
    }
    for variant, (total, head) in published.items():
        assert catalog.family_of(variant).num_params[variant] == total - head, variant


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_layer_groups_partition_parameters(variant: str) -> None:
    groups = models.layer_groups(variant)
    names = [n for n, _ in _model(variant).named_parameters()]
    owner: dict[str, str] = {}
    for group, prefixes in groups:
        hits = [n for n in names if n.startswith(prefixes)]
        assert hits, f"group {group} of {variant} owns no parameter"
        for n in hits:
            assert n not in owner, f"{n} in both {owner.get(n)} and {group}"
            owner[n] = group
    assert sorted(owner) == sorted(names), set(names) - set(owner)
    # ordered input -> output: group order follows first appearance in named_parameters
    first = [min(names.index(n) for n in names if owner[n] == g) for g, _ in groups]
    assert first == sorted(first)


def test_unknown_variant_and_bad_in_chans_raise_value_error() -> None:
    with pytest.raises(ValueError, match="resnet18"):
        build("resnet19")
    from hub_vision.models.resnet import ResNet
    with pytest.raises(ValueError, match="valid choices: resnet18, resnet34, resnet50"):
        ResNet("vgg11_bn")
    with pytest.raises(ValueError, match="in_chans"):
        ResNet("resnet18", in_chans=0)
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        models.layer_groups("efficientnet_lite9")


def test_listing_does_not_import_torch() -> None:
    code = ("import sys; import hub_vision.models as m; m.layer_groups('resnet50'); "
            "m.catalog.family_of('inception_v3').default_input; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    src = str(Path(models.__file__).resolve().parents[2])
    subprocess.run([sys.executable, "-c", code], check=True, cwd=src,
                   env={"PYTHONPATH": src, "PATH": ""})


# --- state-dict compatibility ---------------------------------------------------------------------

# Module names of timm's `resnet18` state dict without `fc` (identical to torchvision's), from
# timm/models/resnet.py: stem `conv1`/`bn1`; `make_blocks` gives each BasicBlock conv1/bn1/conv2/
# bn2 and adds `downsample` = (1x1 conv `.0`, BatchNorm `.1`) to block 0 of layer2..layer4 only
# (layer1 keeps stride 1 and 64 channels).
_RESNET18_MODULES = """
conv1 bn1
layer1.0.conv1 layer1.0.bn1 layer1.0.conv2 layer1.0.bn2
layer1.1.conv1 layer1.1.bn1 layer1.1.conv2 layer1.1.bn2
layer2.0.conv1 layer2.0.bn1 layer2.0.conv2 layer2.0.bn2 layer2.0.downsample.0 layer2.0.downsample.1
layer2.1.conv1 layer2.1.bn1 layer2.1.conv2 layer2.1.bn2
layer3.0.conv1 layer3.0.bn1 layer3.0.conv2 layer3.0.bn2 layer3.0.downsample.0 layer3.0.downsample.1
layer3.1.conv1 layer3.1.bn1 layer3.1.conv2 layer3.1.bn2
layer4.0.conv1 layer4.0.bn1 layer4.0.conv2 layer4.0.bn2 layer4.0.downsample.0 layer4.0.downsample.1
layer4.1.conv1 layer4.1.bn1 layer4.1.conv2 layer4.1.bn2
""".split()
_BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def test_resnet18_keys_equal_timm() -> None:
    expected = []
    for mod in _RESNET18_MODULES:
        is_bn = ".bn" in f".{mod}" or mod.endswith("downsample.1")
        expected += [f"{mod}.{k}" for k in (_BN_KEYS if is_bn else ("weight",))]
    assert list(_model("resnet18").state_dict()) == expected


# (key, shape) spot checks worked out from timm's block strings and channel rounding rules.
_SPOT_CHECKS = {
    "resnet50": {"layer1.0.downsample.0.weight": (256, 64, 1, 1),
                 "layer4.2.conv3.weight": (2048, 512, 1, 1)},
    "vgg16_bn": {"features.0.weight": (64, 3, 3, 3), "features.40.weight": (512, 512, 3, 3),
                 "features.41.running_var": (512,)},
    "vgg11_bn": {"features.25.weight": (512, 512, 3, 3), "features.26.bias": (512,)},
    "inception_v3": {"Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
                     "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
                     "Mixed_7c.branch3x3dbl_3b.bn.running_mean": (384,)},
    "mobilenetv2_100": {"conv_stem.weight": (32, 3, 3, 3),
                        "blocks.0.0.conv_dw.weight": (32, 1, 3, 3),
                        "blocks.0.0.conv_pw.weight": (16, 32, 1, 1),
                        "blocks.6.0.conv_pwl.weight": (320, 960, 1, 1),
                        "conv_head.weight": (1280, 320, 1, 1), "bn2.weight": (1280,)},
    "mobilenetv3_small_100": {"conv_stem.weight": (16, 3, 3, 3),
                              "blocks.0.0.se.conv_reduce.weight": (8, 16, 1, 1),
                              "blocks.1.1.conv_pw.weight": (88, 24, 1, 1),
                              "blocks.2.1.se.conv_reduce.weight": (64, 240, 1, 1),
                              "blocks.3.1.se.conv_reduce.bias": (40,),
                              "blocks.5.0.conv.weight": (576, 96, 1, 1),
                              "blocks.5.0.bn1.running_var": (576,), "conv_head.bias": (1024,)},
}


@pytest.mark.parametrize("variant", sorted(_SPOT_CHECKS))
def test_timm_key_spot_checks(variant: str) -> None:
    sd = _model(variant).state_dict()
    for key, shape in _SPOT_CHECKS[variant].items():
        assert key in sd, key
        assert tuple(sd[key].shape) == shape, key
    assert not [k for k in sd if k.startswith(("fc.", "head.", "classifier.", "AuxLogits."))]


def test_load_timm_state_dict_ignores_head_and_adapts_stem() -> None:
    from hub_vision.models.inception import InceptionV3
    from hub_vision.models.resnet import ResNet
    src = _model("resnet18").state_dict()
    timm_like = dict(src, **{"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)})
    grey = ResNet("resnet18", in_chans=1)
    grey.load_timm_state_dict(timm_like)
    assert torch.equal(grey.conv1.weight, src["conv1.weight"].sum(1, keepdim=True))
    assert torch.equal(grey.layer4[1].bn2.running_var, src["layer4.1.bn2.running_var"])
    with pytest.raises(ValueError, match="missing 1 keys"):
        ResNet("resnet18").load_timm_state_dict(
            {k: v for k, v in src.items() if k != "layer1.0.conv1.weight"})
    aux = dict(_model("inception_v3").state_dict(), **{"AuxLogits.fc.weight": torch.zeros(3)})
    InceptionV3("inception_v3").load_timm_state_dict(aux)  # aux keys are ignored, not an error


# --- ONNX export parity ---------------------------------------------------------------------------

def _export_and_compare(model: torch.nn.Module, size: int, tmp_path: Path, in_chans: int = 3):
    import onnxruntime as ort
    import onnx
    path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter announces its deprecation
        torch.onnx.export(model, (torch.randn(2, in_chans, size, size),), str(path),
                          input_names=["pixel_values"], output_names=["features"],
                          opset_version=17, dynamo=False,
                          dynamic_axes={"pixel_values": {0: "batch"}, "features": {0: "batch"}})
    onnx.checker.check_model(str(path))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        x = torch.randn(batch, in_chans, size, size)
        with torch.no_grad():
            want = model(x).numpy()
        got = sess.run(None, {"pixel_values": x.numpy()})[0]
        assert got.shape == want.shape == (batch, model.num_features)
        # atol 1e-4 relative to the feature scale: a random-init 90-layer Inception differs from
        # its own float64 forward by as much as ONNX Runtime differs from torch (both ~1e-5 of
        # the largest feature), so a bare 1e-4 would test float32 rounding, not the export.
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, atol=1e-4 * scale, rtol=1e-3)


@pytest.mark.parametrize("variant,size", [
    ("resnet18", 64), ("vgg11_bn", 64), ("inception_v3", 128), ("mobilenetv2_100", 64),
    ("mobilenetv3_small_100", 64), ("efficientnet_lite0", 96)])
def test_onnx_export_matches_torch(variant: str, size: int, tmp_path: Path) -> None:
    model = _model(variant)
    # Calibrate BN statistics on one batch so activations have a realistic (unit) scale; with
    # fresh statistics a random-init deep net's features reach 1e5 and atol means nothing.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one batch sets the statistics exactly
    torch.manual_seed(1)
    with torch.no_grad():
        model.train()(torch.randn(8, 3, size, size))
    model.eval()
    _export_and_compare(model, size, tmp_path)


# --- EfficientNet-Lite ImageNet weights -----------------------------------------------------------

def _chelsea(size: int, mean, std) -> torch.Tensor:
    """skimage's cat photo, resized (short side size/0.875, bicubic) and centre-cropped."""
    import skimage.data as skimage_data  # a missing dependency must fail, not skip, the cat test
    img = torch.from_numpy(skimage_data.chelsea()).permute(2, 0, 1).float()[None] / 255.0
    h, w = img.shape[-2:]
    scale = size / 0.875 / min(h, w)
    img = F.interpolate(img, size=(round(h * scale), round(w * scale)), mode="bicubic",
                        align_corners=False, antialias=True)
    top, left = (img.shape[-2] - size) // 2, (img.shape[-1] - size) // 2
    img = img[..., top:top + size, left:left + size]
    return (img - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def test_lite0_imagenet_classifier_sees_a_cat() -> None:
    from hub_vision.models import efficientnet_lite as lite
    cfg = catalog.EFFICIENTNET_LITE.default_input["efficientnet_lite0"]
    x = _chelsea(cfg["size"][0], cfg["mean"], cfg["std"])
    classifier = lite.imagenet_classifier("efficientnet_lite0")
    with torch.no_grad():
        logits = classifier(x)
        top1 = int(logits.argmax())
    assert 281 <= top1 <= 285, f"top-1 class {top1} is not an ImageNet cat"
    # the pretrained backbone produces exactly the classifier's pooled features
    backbone = lite.pretrained("efficientnet_lite0")
    with torch.no_grad():
        feats = backbone(x)
        assert torch.allclose(classifier._fc(feats), logits, atol=1e-4)


def test_lite_normalisation_is_half_not_imagenet() -> None:
    """The stem BN statistics were accumulated on (x - 0.5) / 0.5 inputs, not ImageNet mean/std:
    on real photos the stem activations' variance matches the running variance far better."""
    import skimage.data as skimage_data  # a missing dependency must fail, not skip, the cat test
    from hub_vision.models import efficientnet_lite as lite
    sd = lite.load_imagenet_state_dict("efficientnet_lite0")
    names = ("chelsea", "coffee", "astronaut", "rocket")
    photos = [getattr(skimage_data, n)()[..., :3] for n in names]
    x = torch.cat([F.interpolate(torch.from_numpy(p.copy()).permute(2, 0, 1)[None].float() / 255,
                                 size=(224, 224), mode="bilinear", antialias=True) for p in photos])
    running_var = sd["_bn0.running_var"]
    live = running_var > 1e-4

    def mismatch(mean, std) -> float:
        xn = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
        h = F.conv2d(F.pad(xn, (0, 1, 0, 1)), sd["_conv_stem.weight"], stride=2)
        return float((h.var((0, 2, 3))[live] / running_var[live]).log().abs().mean())

    half = mismatch(catalog.EFFICIENTNET_LITE.default_input["efficientnet_lite0"]["mean"],
                    catalog.EFFICIENTNET_LITE.default_input["efficientnet_lite0"]["std"])
    imagenet = mismatch(catalog.IMAGENET_MEAN, catalog.IMAGENET_STD)
    assert catalog.EFFICIENTNET_LITE.default_input["efficientnet_lite0"]["mean"] == (0.5, 0.5, 0.5)
    assert half < 0.6 * imagenet, (half, imagenet)


def test_lite0_pretrained_grey_stem_and_onnx(tmp_path: Path) -> None:
    from hub_vision.models import efficientnet_lite as lite
    grey = lite.pretrained("efficientnet_lite0", in_chans=1)
    sd = lite.load_imagenet_state_dict("efficientnet_lite0")
    assert torch.equal(grey._conv_stem.weight, sd["_conv_stem.weight"].sum(1, keepdim=True))
    _export_and_compare(grey, 64, tmp_path, in_chans=1)


@pytest.mark.parametrize("variant", ["efficientnet_lite1", "efficientnet_lite2"])
def test_lite12_weights_load_and_see_a_cat(variant: str) -> None:
    import hub_vision.models.efficientnet_lite as lite
    cfg = catalog.EFFICIENTNET_LITE.default_input[variant]
    try:
        classifier = lite.imagenet_classifier(variant)
    except ImportError as exc:
        pytest.skip(str(exc))
    with torch.no_grad():
        top1 = int(classifier(_chelsea(cfg["size"][0], cfg["mean"], cfg["std"])).argmax())
    assert 281 <= top1 <= 285
    lite.pretrained(variant)  # backbone loads strictly
