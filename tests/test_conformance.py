"""hub.testing's conformance suite: first-party components pass it; planted plugin defects each fail it
with a message naming the defect; `hub plugins check` reports the same and exits 1 on a failure."""

from __future__ import annotations

import json

import pytest

from hub.cli import main
from hub.plugins import load_hub
from hub.testing.conformance import check_backbone, failures
from hub.testing.plugin_check import check_dataset, check_head, check_plugin, check_task

DEFECTS = '''
    from hub.hookspecs import hookimpl
    from hub.specs import BackboneSpec, DatasetSpec, ImageInput, LayerGroup

    HUB_CONTRACT = ">=1.0,<2"


    def net(kind="ok"):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Conv2d(3, 4, 3, padding=1)
                self.proj = nn.Linear(4, 8)

            def forward(self, x):
                feat = self.stem(x).mean((2, 3))
                if kind == "static":
                    feat = feat.reshape(int(feat.shape[0]), -1)  # a Python int: the batch axis is frozen in the trace
                return self.proj(feat)

        return Net()


    def build(weights=None, kind="ok"):
        return net(kind)


    def float_images():
        import numpy as np
        from hub.data import Dataset, Split

        x = np.random.default_rng(0).random((6, 8, 8)).astype("float32")
        return Dataset("f", "image", ("a", "b"), {"train": Split(x, np.array([0, 1] * 3))})


    GROUPS = (LayerGroup("stem", ("stem.",)), LayerGroup("proj", ("proj.",)))


    @hookimpl
    def register_backbones(register):
        common = dict(factory="hubtest_defects:build", modality="image", input=ImageInput(size=(16, 16)))
        register(BackboneSpec(name="good", feature_dim=8, layer_groups=GROUPS, num_params=152, **common))
        register(BackboneSpec(name="wrong-dim", feature_dim=10, layer_groups=GROUPS, **common))
        register(BackboneSpec(name="half-groups", feature_dim=8, layer_groups=GROUPS[:1], **common))
        register(BackboneSpec(name="static-batch", feature_dim=8, layer_groups=GROUPS, options={"kind": "static"},
                              **common))


    @hookimpl
    def register_datasets(register):
        register(DatasetSpec(name="floaty", factory="hubtest_defects:float_images", modality="image",
                             task="image-classification"))
'''


@pytest.fixture
def defects(plugin_dir):
    plugin_dir("defects", DEFECTS)
    return load_hub()


def _by_backbone(hub, name, **kw):
    return {c.name: c for c in check_backbone(hub.registry.get("backbone", name).spec, **kw)}


def test_a_conforming_backbone_passes_every_check(defects):
    checks = _by_backbone(defects, "defects:good")
    assert not failures(checks.values()), [c.line() for c in failures(checks.values())]
    assert checks["exports to ONNX with dynamic axes; onnxruntime matches; int8 variant"].status == "pass"
    assert checks["num_params matches the model"].status == "pass"


@pytest.mark.parametrize("backbone, check, message", [
    ("defects:wrong-dim", "forward returns (batch, feature_dim) at two input sizes",
     "returned (2, 8) for batch 2, expected (batch, feature_dim=10)"),
    ("defects:half-groups", "layer groups cover every parameter exactly once", "parameters in no group: ['proj.weight'"),
    ("defects:static-batch", "exports to ONNX with dynamic axes; onnxruntime matches; int8 variant",
     "an axis probably became static"),
])
def test_a_planted_defect_fails_the_check_that_names_it(defects, backbone, check, message):
    result = _by_backbone(defects, backbone)[check]
    assert result.status == "fail" and message in result.detail, result.line()


def test_float_images_and_a_torch_import_at_the_top_are_reported(defects, plugin_dir):
    floaty = check_dataset(defects.registry.get("dataset", "defects:floaty").spec, qualified="defects:floaty")
    assert [c.detail for c in failures(floaty)] and "images must be a uint8 array" in failures(floaty)[0].detail
    plugin_dir("importy", 'import torch\nHUB_CONTRACT = ">=1.0,<2"\n')
    results = check_plugin("importy", load_hub(), export=False)
    assert results[0].status == "fail" and "imports torch" in results[0].detail and "hub list" in results[0].detail


def test_first_party_components_conform_one_per_family():
    hub = load_hub()
    get = hub.registry.get
    checks = (check_backbone(get("backbone", "small-cnn").spec)
              + check_backbone(get("backbone", "minilm-l6").spec)
              + check_head(get("head", "mlp").spec) + check_head(get("head", "linear").spec)
              + check_task(get("task", "image-classification").spec)
              + check_task(get("task", "text-classification").spec)
              + check_dataset(get("dataset", "digits").spec) + check_dataset(get("dataset", "rotten-tomatoes").spec))
    assert not failures(checks), [c.line() for c in failures(checks)]
    text = [c for c in checks if c.component == "backbone minilm-l6"]
    assert {c.status for c in text if "ONNX" in c.name} == {"pass"}  # the sequence axis is dynamic too


@pytest.mark.slow
@pytest.mark.parametrize("plugin", ["vision", "text", "common"])
def test_every_first_party_plugin_passes_hub_plugins_check(plugin, capsys):
    code = main(["plugins", "check", plugin])
    out = capsys.readouterr().out
    assert code == 0, out


def test_hub_plugins_check_exits_1_with_one_line_per_check(defects, capsys, monkeypatch):
    from hub.plugins import set_hub

    set_hub(defects)
    code = main(["plugins", "check", "defects", "--no-export", "--json"])
    results = json.loads(capsys.readouterr().out)
    assert code == 1
    failed = {(r["component"], r["name"]) for r in results if r["status"] == "fail"}
    assert ("backbone defects:wrong-dim", "forward returns (batch, feature_dim) at two input sizes") in failed
    assert all(r["status"] == "skip" for r in results if "ONNX" in r["name"])  # --no-export
    assert main(["plugins", "check", "no-such-plugin"]) == 1
    assert "no plugin 'no-such-plugin'" in capsys.readouterr().out


def test_the_pytest_fixture_passes_a_good_plugin_and_fails_a_bad_one(hub_conformance, defects):
    """`hub_conformance` comes from the hub's pytest11 entry point, as in any plugin author's suite."""
    from hub.plugins import set_hub

    results = hub_conformance("common", export=False)
    assert results and all(c.status != "fail" for c in results)
    set_hub(defects)
    with pytest.raises(pytest.fail.Exception) as err:
        hub_conformance("defects", export=False)
    assert "conformance check(s) failed for plugin 'defects'" in str(err.value)
    assert "backbone defects:wrong-dim: forward returns (batch, feature_dim)" in str(err.value)
