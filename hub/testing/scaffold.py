"""``hub plugins new NAME``: a plugin distribution that installs with pip and passes the conformance suite.

What a third-party author should start from, as files: a pyproject with the ``hub`` entry point;
a torch-free plugin module (``HUB_CONTRACT`` up to the next major) registering an example backbone,
head and dataset; weights the recommended way for a distributed package — a safetensors file
shipped as package data, named by a ``package`` weight source with its sha256 (the scaffold
writes the example's own random-init weights, so the pretrained path is real from the start);
tests that run :mod:`hub.testing`'s conformance checks; a README.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}$")

PYPROJECT = '''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "hub-plugin-{name}"
version = "0.1.0"
description = "{name}: backbone, head and dataset plugins for the hub"
requires-python = ">=3.10"
dependencies = ["zoohub"]

# The hub discovers plugins through this entry point group; the key is the plugin's name.
[project.entry-points.hub]
{name} = "{pkg}.plugin"

[tool.setuptools.packages.find]
where = ["src"]

[tool.setuptools.package-data]
{pkg} = ["weights/*.safetensors"]
'''

PLUGIN = '''"""The {name} plugin: registers components; imports no torch (the factories do, when called)."""

from hub.hookspecs import hookimpl
from hub.specs import BackboneSpec, DatasetSpec, HeadSpec, ImageInput, LayerGroup, WeightSource

HUB_CONTRACT = "{contract}"  # the hub contract versions this plugin supports


@hookimpl
def register_backbones(register):
    register(BackboneSpec(
        name="{name}-cnn", factory="{pkg}.model:build", modality="image",
        input=ImageInput(size=(32, 32), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)), feature_dim=64,
        layer_groups=(LayerGroup("stem", ("stem.",)), LayerGroup("block", ("block.",)), LayerGroup("proj", ("proj.",))),
        # Weights shipped inside the package, found wherever pip installed it, verified by sha256.
        weights=(WeightSource("package", "{pkg}.weights:path", sha256="{sha256}"),),
        num_params={num_params}, license="apache-2.0", description="An example CNN; replace it with yours.",
    ))


@hookimpl
def register_heads(register):
    register(HeadSpec(name="{name}-head", factory="{pkg}.model:head", options={{"dropout": 0.1}},
                      description="Dropout + linear."))


@hookimpl
def register_datasets(register):
    register(DatasetSpec(name="{name}-digits", factory="{pkg}.data:digits", modality="image",
                         task="image-classification", label_names=tuple(str(d) for d in range(10)),
                         description="scikit-learn's digits, as an example dataset factory.", license="CC-BY-4.0"))
'''

MODEL = '''"""Factories: torch is imported here, when the hub builds a component, never at registration."""


def build(weights=None):
    import torch
    from torch import nn

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
            self.block = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU())
            self.proj = nn.Linear(32, 64)
            self.num_features = 64

        def forward(self, pixel_values):
            return self.proj(self.block(self.stem(pixel_values)).mean((2, 3)))

    model = CNN()
    if weights is not None:
        from hub.weights import load_state_dict  # safetensors only; never unpickles

        model.load_state_dict(load_state_dict(weights), strict=True)
    return model


def head(in_features, out_features, dropout=0.1):
    from torch import nn

    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, out_features))
'''

WEIGHTS = '''"""Where the shipped weights are, wherever pip put the package."""

from importlib import resources


def path():
    return resources.files(__package__) / "weights" / "{name}-cnn.safetensors"
'''

DATA = '''"""An example dataset factory: raw uint8 images and integer labels; the hub preprocesses."""


def digits(seed=0):
    import numpy as np
    from sklearn.datasets import load_digits

    from hub.data import Dataset, make_splits

    raw = load_digits()
    images = (raw.images * (255.0 / 16.0)).round().astype(np.uint8)  # 8x8 grey, 0..255
    return Dataset("{name}-digits", "image", tuple(str(d) for d in range(10)),
                   make_splits(images, raw.target.astype(np.int64), seed=seed))
'''

TESTS = '''"""The hub's conformance suite over everything this plugin registers (pip install -e . first)."""

from hub.plugins import load_hub
from hub.testing.conformance import check_backbone, failures


def test_every_component_conforms(hub_conformance):  # the fixture comes with the hub (pytest11 entry point)
    results = hub_conformance("{name}")
    assert any(c.name.startswith("exports to ONNX") and c.status == "pass" for c in results)


def test_the_backbone_alone():
    spec = load_hub(strict=True).registry.get("backbone", "{name}:{name}-cnn").spec
    problems = failures(check_backbone(spec, export=False))
    assert not problems, [c.line() for c in problems]
'''

README = '''# hub-plugin-{name}

Backbone `{name}-cnn`, head `{name}-head` and dataset `{name}-digits` for the hub.

```bash
pip install -e .
hub plugins                          # {name} is listed, status ok
hub plugins check {name}             # the conformance suite, one line per check
hub train --backbone {name}:{name}-cnn --dataset {name}:{name}-digits --epochs 2 --out runs/{name}
hub export runs/{name} --out exports/{name}
python -m pytest tests
```

Replace `src/{pkg}/model.py` with your network, the file in `src/{pkg}/weights/` with
your trained weights (and the sha256 in `src/{pkg}/plugin.py` with theirs:
`sha256sum src/{pkg}/weights/*.safetensors`), and keep `plugin.py` free of torch imports.
See the hub's docs/plugins.md.
'''


def scaffold(name: str, folder: Path) -> Path:
    """Write the distribution for plugin ``name`` into the new folder ``folder``; returns it."""
    import importlib.util
    import sys

    import torch
    from safetensors.torch import save_file

    from ..version import CONTRACT_VERSION
    from ..errors import HubError
    from ..fsutil import atomic_dir, check_output_dir

    if not NAME.match(name):
        raise HubError(f"plugin name {name!r}: use 2-31 lowercase letters, digits and '-', starting with a letter")
    check_output_dir(folder, "plugin scaffold", flag="--dir")
    pkg = "hubplugin_" + name.replace("-", "_")
    values = {"name": name, "pkg": pkg, "contract": f">={CONTRACT_VERSION},<{int(CONTRACT_VERSION.split('.')[0]) + 1}"}
    with atomic_dir(folder) as tmp:
        src = tmp / "src" / pkg
        (src / "weights").mkdir(parents=True)
        (tmp / "tests").mkdir()
        (src / "__init__.py").write_text(f'"""The {name} hub plugin."""\n')
        (src / "model.py").write_text(MODEL)
        (src / "weights.py").write_text(WEIGHTS.format(**values))
        (src / "data.py").write_text(DATA.format(**values))
        spec = importlib.util.spec_from_file_location(f"_scaffold_{pkg}", src / "model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules.pop(spec.name, None)
        torch.manual_seed(0)
        model = module.build()
        weights = src / "weights" / f"{name}-cnn.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
        values.update(sha256=hashlib.sha256(weights.read_bytes()).hexdigest(),
                      num_params=sum(p.numel() for p in model.parameters()))
        (src / "plugin.py").write_text(PLUGIN.format(**values))
        (tmp / "pyproject.toml").write_text(PYPROJECT.format(**values))
        (tmp / "tests" / "test_conformance.py").write_text(TESTS.format(**values))
        (tmp / "README.md").write_text(README.format(**values))
    return folder
