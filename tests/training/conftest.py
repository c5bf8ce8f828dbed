"""A tiny image backbone (and a few misbehaving components) as a real installed plugin.

Training tests need a backbone that trains in seconds on 2 cores; the
first-party ones take minutes. This plugin is written as a real distribution
(dist-info + entry point) on a temporary path, with real pretrained weights
(a safetensors file with a sha256 in the spec), so the hub's discovery,
weight resolution and build paths are the production ones.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from hub.plugins import load_hub, set_hub
from hub.testing import write_plugin_dist

PLUGIN = '''
from hub.hookspecs import hookimpl
from hub.specs import BackboneSpec, DatasetSpec, HeadSpec, ImageInput, LayerGroup, WeightSource

HUB_CONTRACT = ">=1.0,<2"
WEIGHTS = {weights!r}
SHA256 = {sha!r}


def build(weights=None, norm=True, width=8, dim=32, announce=True):
    import torch
    from torch import nn

    class TinyCNN(nn.Module):
        def __init__(self):
            super().__init__()
            bn = (lambda c: nn.BatchNorm2d(c)) if norm else (lambda c: nn.Identity())
            self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), bn(width), nn.ReLU())
            self.block = nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), bn(2 * width), nn.ReLU())
            self.pool = nn.AdaptiveAvgPool2d(4)  # keep some layout: digits are shapes
            self.proj = nn.Linear(2 * width * 16, dim)
            if announce:  # a third-party backbone may not say its width at all
                self.num_features = dim

        def forward(self, x):
            return self.proj(self.pool(self.block(self.stem(x))).flatten(1))

    model = TinyCNN()
    if weights is not None:
        from hub.weights import load_state_dict
        model.load_state_dict(load_state_dict(weights), strict=True)
    return model


def nan_head(in_features, out_features, after=20):
    import torch
    from torch import nn

    class NanHead(nn.Linear):
        calls = 0

        def forward(self, x):
            out = super().forward(x)
            if self.training:
                NanHead.calls += 1
                if NanHead.calls > after:
                    out = out * float("nan")
            return out

    return NanHead(in_features, out_features)


def flip_head(in_features, out_features, at=60):
    """A linear head sabotaged on training step ``at``: its weights are negated (argmax -> argmin),
    so the epochs after it validate far worse than the ones before."""
    import torch
    from torch import nn

    class FlipHead(nn.Linear):
        calls = 0

        def forward(self, x):
            if self.training:
                FlipHead.calls += 1
                if FlipHead.calls == at:
                    with torch.no_grad():
                        self.weight.neg_()
                        self.bias.neg_()
            return super().forward(x)

    FlipHead.calls = 0
    return FlipHead(in_features, out_features)


def one_class():
    import numpy as np
    from hub.data import Dataset, Split

    images = np.zeros((6, 8, 8), dtype=np.uint8)
    return Dataset("one-class", "image", ("a", "b"), {{"train": Split(images, np.zeros(6, dtype=np.int64))}})


def no_validation():
    import numpy as np
    from hub.data import Dataset, Split

    images = np.random.default_rng(0).integers(0, 255, (6, 8, 8), dtype=np.uint8)
    return Dataset("no-val", "image", ("a", "b"), {{"train": Split(images, np.array([0, 1] * 3))}})


def float_images():
    import numpy as np
    from hub.data import Dataset, Split

    images = np.random.default_rng(0).random((6, 8, 8)).astype(np.float32)  # 0..1 floats: the classic mistake
    return Dataset("float-images", "image", ("a", "b"), {{"train": Split(images, np.array([0, 1] * 3))}})


def counted_digits():
    """scikit-learn's digits, recording each call of this factory in $HUBTEST_DATASET_CALLS."""
    import os
    from hub_vision.data.embedded import digits

    with open(os.environ["HUBTEST_DATASET_CALLS"], "a") as fh:
        fh.write("called\\n")
    return digits()


def explodes():
    raise RuntimeError("the data server is down")


def not_a_dataset():
    return {{"train": ([], [])}}


def bad_labels():
    import numpy as np
    from hub.data import Dataset, Split

    images = np.zeros((4, 8, 8), dtype=np.uint8)
    return Dataset("bad-labels", "image", ("a", "b"), {{"train": Split(images, np.array([0, 1, 2, 1]))}})


@hookimpl
def register_backbones(register):
    register(BackboneSpec(
        name="tiny-cnn", factory="hubtest_tinytrain:build", modality="image",
        input=ImageInput(size=(16, 16), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)), feature_dim=32,
        layer_groups=(LayerGroup("stem", ("stem.",)), LayerGroup("block", ("block.",)), LayerGroup("proj", ("proj.",))),
        weights=(WeightSource("path", WEIGHTS, sha256=SHA256),),
        license="mit", num_params=9664, options={{"norm": True, "width": 8, "dim": 32}},
    ))
    register(BackboneSpec(
        name="liar-cnn", factory="hubtest_tinytrain:build", modality="image", input=ImageInput(size=(16, 16)),
        feature_dim=99, options={{"norm": True}},
    ))
    register(BackboneSpec(
        name="silent-liar-cnn", factory="hubtest_tinytrain:build", modality="image", input=ImageInput(size=(16, 16)),
        feature_dim=99, options={{"norm": True, "announce": False}},
    ))


@hookimpl
def register_heads(register):
    register(HeadSpec(name="nan-head", factory="hubtest_tinytrain:nan_head", options={{"after": 20}}))
    register(HeadSpec(name="flip-head", factory="hubtest_tinytrain:flip_head", options={{"at": 60}}))


@hookimpl
def register_datasets(register):
    register(DatasetSpec(name="counted-digits", factory="hubtest_tinytrain:counted_digits", modality="image",
                         task="image-classification", description="digits, calls counted"))
    register(DatasetSpec(name="one-class", factory="hubtest_tinytrain:one_class", modality="image",
                         task="image-classification"))
    register(DatasetSpec(name="bad-labels", factory="hubtest_tinytrain:bad_labels", modality="image",
                         task="image-classification"))
    register(DatasetSpec(name="float-images", factory="hubtest_tinytrain:float_images", modality="image",
                         task="image-classification"))
    register(DatasetSpec(name="explodes", factory="hubtest_tinytrain:explodes", modality="image",
                         task="image-classification"))
    register(DatasetSpec(name="not-a-dataset", factory="hubtest_tinytrain:not_a_dataset", modality="image",
                         task="image-classification"))
    register(DatasetSpec(name="taskless", factory="hubtest_tinytrain:one_class", modality="image",
                         task="no-such-task"))
    register(DatasetSpec(name="no-validation", factory="hubtest_tinytrain:no_validation", modality="image",
                         task="image-classification"))
'''


@pytest.fixture(scope="session")
def tiny_site(tmp_path_factory) -> Path:
    """The plugin folder; also exported on PYTHONPATH so `hub` subprocesses find it."""
    import torch
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("tinytrain")
    torch.manual_seed(1234)
    import importlib.util

    site = root / "site"
    site.mkdir()
    # Pretrained weights: the randomly initialised net, saved once (a stand-in for ImageNet weights).
    (site / "hubtest_tinytrain.py").write_text(PLUGIN.format(weights="", sha=None))
    spec = importlib.util.spec_from_file_location("_tiny_builder", site / "hubtest_tinytrain.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    weights = root / "tiny.safetensors"
    save_file(module.build().state_dict(), str(weights))
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    write_plugin_dist(site, "tinytrain", PLUGIN.format(weights=str(weights), sha=sha), module="hubtest_tinytrain")
    return site


@pytest.fixture
def tiny_hub(tiny_site, monkeypatch):
    monkeypatch.syspath_prepend(str(tiny_site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tiny_site)] + sys.path))
    sys.modules.pop("hubtest_tinytrain", None)
    hub = load_hub(strict=True)
    set_hub(hub)
    return hub
