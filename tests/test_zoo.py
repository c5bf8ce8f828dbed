"""zoo.toml parsing and validation: every error names file, line and key path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hub.errors import ZooError
from hub.plugins import load_hub
from hub.zoo import load_catalogue, locate

BACKBONE_PLUGIN = '''
    from hub.hookspecs import hookimpl
    from hub.specs import BackboneSpec, ImageInput, TextInput
    HUB_CONTRACT = ">=1.0,<2"

    @hookimpl
    def register_backbones(register):
        register(BackboneSpec(name="tiny-cnn", factory="m.x:f", modality="image",
                              input=ImageInput(size=(32, 32)), feature_dim=16, options={"width": 8}))
        register(BackboneSpec(name="tiny-text", factory="m.x:g", modality="text",
                              input=TextInput(), feature_dim=16))
'''

VALID = """\
schema = 1

[entries.demo]
description = "a demo"
backbone = { name = "tiny-cnn", width = 16, pretrained = false }
dataset = "digits"
head = { name = "mlp", hidden = [32], dropout = 0.1 }

[entries.demo.train]
strategy = "partial"
trainable_groups = 2
epochs = 3
early_stopping = { metric = "val_accuracy", patience = 2 }

[entries.demo.export]
quantize = ["int8-dynamic", "fp16"]
"""


@pytest.fixture
def registry(plugin_dir):
    plugin_dir("tinyb", BACKBONE_PLUGIN)
    return load_hub().registry


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "zoo.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_valid_entry_resolves_with_defaults(tmp_path, registry):
    recipe = load_catalogue(write(tmp_path, VALID)).recipe("demo", registry)
    assert recipe.backbone.name == "tinyb:tiny-cnn" and recipe.backbone.options == {"width": 16}
    assert recipe.pretrained is False
    assert recipe.head.name == "common:mlp" and recipe.head.options == {"hidden": [32], "dropout": 0.1}
    assert recipe.task.name == "common:image-classification"  # taken from the dataset
    assert recipe.train.strategy == "partial" and recipe.train.epochs == 3 and recipe.train.lr == 1e-3
    assert recipe.train.early_stopping.patience == 2 and recipe.train.early_stopping.mode == "auto"
    assert recipe.export.quantize == ["int8-dynamic", "fp16"] and recipe.export.opset == 18
    assert recipe.source.endswith("zoo.toml:3")


def test_default_head_comes_from_the_task(tmp_path, registry):
    text = VALID.replace('head = { name = "mlp", hidden = [32], dropout = 0.1 }\n', "")
    assert load_catalogue(write(tmp_path, text)).recipe("demo", registry).head.name == "common:linear"


def test_shipped_zoo_toml_parses():
    catalogue = load_catalogue(Path(__file__).resolve().parent.parent / "zoo.toml")
    assert "digits-lite0" in catalogue.entries
    assert all(e.description for e in catalogue.entries.values())


# Shape errors: found when the file is read.
@pytest.mark.parametrize("text, expected", [
    ("[entries.demo\nbackbone = 1\n", "zoo.toml:1:14: invalid TOML: "),
    ("schema = 1\nmodels = {}\n", "zoo.toml:2: models: unknown key 'models'; known keys: entries, schema"),
    ("schema = 7\n", "zoo.toml:1: schema: schema 7 is not supported; this hub reads schema 1"),
    ("entries = 3\n", "zoo.toml:1: entries: must be a table of entries"),
    ("[entries.Demo]\nbackbone='a'\ndataset='b'\n", "zoo.toml:1: entries.Demo: entry names use lowercase"),
    ("[entries.demo]\nbackbone = 'tiny-cnn'\n", "zoo.toml:1: entries.demo: missing required key 'dataset'"),
    ("[entries.demo]\nbackbone = 'tiny-cnn'\ndataset = 'digits'\nbackbone_opts = 1\n",
     "zoo.toml:4: entries.demo.backbone_opts: unknown key 'backbone_opts'; did you mean 'backbone'?"),
    ("[entries.demo]\nbackbone = 'tiny-cnn'\ndataset = 'digits'\n[entries.demo.train]\nepochs = 'ten'\n",
     "zoo.toml:5: entries.demo.train.epochs: must be an integer, got string 'ten'"),
    ("[entries.demo]\nbackbone = 'tiny-cnn'\ndataset = 'digits'\n[entries.demo.train]\nepochs = 0\n",
     "zoo.toml:5: entries.demo.train.epochs: must be >= 1, got 0"),
    ("[entries.demo]\nbackbone = 'tiny-cnn'\ndataset = 'digits'\n[entries.demo.train]\nstrategy = 'finetune'\n",
     "zoo.toml:5: entries.demo.train.strategy: 'finetune' is not one of 'feature-extraction', 'fine-tune', "
     "'partial', 'gradual-unfreeze', 'lora'; did you mean 'fine-tune'?"),
    ("[entries.demo]\nbackbone = 'tiny-cnn'\ndataset = 'digits'\n[entries.demo.train]\nlearning_rate = 0.1\n",
     "zoo.toml:5: entries.demo.train.learning_rate: unknown key 'learning_rate'"),
    ("[entries.demo]\nbackbone = 'tiny-cnn'\ndataset = 'digits'\n[entries.demo.train]\ncache_features = 1\n",
     "zoo.toml:5: entries.demo.train.cache_features: must be true/false, got integer 1"),
    ("[entries.demo]\nbackbone = 'tiny-cnn'\ndataset = 'digits'\n[entries.demo.train]\nlr = true\n",
     "entries.demo.train.lr: must be an integer or a number, got boolean True"),
    ("[entries.demo]\nbackbone = 'tiny-cnn'\ndataset = 'digits'\n\n[entries.demo.export]\nquantize = ['int4']\n",
     "zoo.toml:6: entries.demo.export.quantize: 'int4' is not one of 'int8-dynamic', 'int8-static', 'fp16'"),
    ("[entries.demo]\nbackbone = { width = 3 }\ndataset = 'digits'\n",
     "zoo.toml:2: entries.demo.backbone: a component table needs name = \"...\""),
    ("[entries.demo]\nbackbone = { name = 'tiny-cnn', pretrained = 'yes' }\ndataset = 'digits'\n",
     "zoo.toml:2: entries.demo.backbone.pretrained: must be true/false, got 'yes'"),
    ("[entries.demo]\nbackbone = 'tiny-cnn'\ndataset = 'digits'\n"
     "[entries.demo.train]\nepochs = 2\nearly_stopping = { patience = 0 }\n",
     "zoo.toml:6: entries.demo.train.early_stopping.patience: must be >= 1, got 0"),
])
def test_shape_errors(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ZooError) as err:
        load_catalogue(path)
    message = str(err.value)
    assert message.startswith(str(tmp_path)), message
    assert expected in message, message


# Component errors: found per entry, against the installed plugins.
@pytest.mark.parametrize("entry, expected", [
    ("backbone = 'tiny-cn'\ndataset = 'digits'\n",
     "zoo.toml:2: entries.demo.backbone: unknown backbone 'tiny-cn'; did you mean 'tiny-cnn'"),
    ("backbone = 'tiny-cnn'\ndataset = 'digitz'\n",
     "zoo.toml:3: entries.demo.dataset: unknown dataset 'digitz'; did you mean 'digits'"),
    ("backbone = 'tiny-cnn'\ndataset = 'digits'\nhead = { name = 'mlp', hiden = [3] }\n",
     "zoo.toml:4: entries.demo.head.hiden: head 'mlp' has no option 'hiden': did you mean 'hidden'?"),
    ("backbone = 'tiny-cnn'\ndataset = 'digits'\nhead = { name = 'mlp', dropout = 'lots' }\n",
     "entries.demo.head.dropout: must be float like the default 0.2, got 'lots'"),
    ("backbone = 'tiny-text'\ndataset = 'digits'\n",
     "entries.demo.dataset: dataset 'digits' holds image data but backbone 'tiny-text' reads text"),
    ("backbone = 'tiny-cnn'\ndataset = 'digits'\ntask = 'text-classification'\n",
     "entries.demo.task: task 'text-classification' does not support image backbones"),
])
def test_component_errors(tmp_path, registry, entry, expected):
    catalogue = load_catalogue(write(tmp_path, "[entries.demo]\n" + entry))
    with pytest.raises(ZooError) as err:
        catalogue.recipe("demo", registry)
    assert expected in str(err.value)


def test_unknown_entry_name_suggests(tmp_path, registry):
    with pytest.raises(ZooError, match="no entry named 'dmeo'; did you mean 'demo'"):
        load_catalogue(write(tmp_path, VALID)).entry("dmeo")


def test_missing_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ZooError, match="zoo catalogue not found; pass --zoo PATH or set HUB_ZOO"):
        load_catalogue(tmp_path / "nope.toml")


def test_locate_finds_dotted_and_inline_keys():
    text = "[entries.a]\nbackbone = 'x'\n\n[entries.a.train]\nepochs = 1\n[entries.b]\ntrain.epochs = 2\n"
    assert locate(text, ("entries", "a", "train", "epochs")) == 5
    assert locate(text, ("entries", "b", "train", "epochs")) == 7
    assert locate(text, ("entries", "a", "backbone", "pretrained")) == 2
    assert locate(text, ("entries", "c")) is None
