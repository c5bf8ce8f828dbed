"""Ensembles as one ONNX graph: the graph's probabilities are the (weighted) mean of the members'.

Members are real runs of the shared trainer on digits, with two tiny backbones from a real plugin
distribution (a CNN and a pooled MLP), so every test trains in seconds on 2 cores. Publishing goes
through the real huggingface_hub client to a real `hub serve` on loopback.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest

from hub.plugins import load_hub, set_hub
from hub.testing import write_plugin_dist

PLUGIN = '''
from hub.hookspecs import hookimpl
from hub.specs import BackboneSpec, ImageInput, LayerGroup

HUB_CONTRACT = ">=1.0,<2"
INPUT = ImageInput(size=(16, 16), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def cnn(weights=None, width=8):
    from torch import nn

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU())
            self.pool = nn.AdaptiveAvgPool2d(4)
            self.proj = nn.Linear(width * 16, 32)
            self.num_features = 32

        def forward(self, x):
            return self.proj(self.pool(self.stem(x)).flatten(1))

    return CNN()


def mlp(weights=None):
    import torch
    from torch import nn

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(8)
            self.proj = nn.Linear(3 * 64, 32)
            self.num_features = 32

        def forward(self, x):
            return torch.relu(self.proj(self.pool(x).flatten(1)))

    return MLP()


@hookimpl
def register_backbones(register):
    register(BackboneSpec(name="ens-cnn", factory="hubtest_ens:cnn", modality="image", input=INPUT, feature_dim=32,
                          layer_groups=(LayerGroup("stem", ("stem.",)), LayerGroup("proj", ("proj.",))),
                          license="mit", num_params=1400, options={"width": 8}))
    register(BackboneSpec(name="ens-mlp", factory="hubtest_ens:mlp", modality="image", input=INPUT, feature_dim=32,
                          layer_groups=(LayerGroup("proj", ("proj.",)),), license="mit", num_params=6200))
'''
TOKEN = "tok-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def ens_hub(tmp_path_factory):
    site = tmp_path_factory.mktemp("ens-site")
    write_plugin_dist(site, "ens", PLUGIN, module="hubtest_ens")
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(site))
        yield load_hub(strict=True)


@pytest.fixture
def hubx(ens_hub):
    set_hub(ens_hub)  # the autouse fixture resets the cached hub before every test
    return ens_hub


def table(backbone="ens-cnn", seed=0, **backbone_options):
    return {"backbone": {"name": backbone, "pretrained": False, **backbone_options}, "dataset": "digits",
            "train": {"strategy": "feature-extraction", "epochs": 6, "lr": 0.05, "batch_size": 128, "seed": seed}}


def train_member(hubx, run_dir, **kwargs):
    from hub.training.api import train
    from hub.zoo import recipe_from_table

    train(recipe_from_table("ens-member", table(**kwargs), hubx.registry, "test"), run_dir, hubx.registry,
          progress=False)
    return run_dir


@pytest.fixture(scope="module")
def members(ens_hub, tmp_path_factory):
    """Two seeds of the CNN and one MLP: different seeds and different backbones.

    Feature extraction on randomly initialised backbones (each seed its own) keeps training to
    a cached-feature linear fit, and the members still disagree enough to be worth averaging.
    """
    set_hub(ens_hub)
    root = tmp_path_factory.mktemp("members")
    runs = [train_member(ens_hub, root / "cnn-a", seed=0), train_member(ens_hub, root / "cnn-b", seed=1),
            train_member(ens_hub, root / "mlp", backbone="ens-mlp")]
    set_hub(None)
    return runs


@pytest.fixture(scope="module")
def gate():
    from hub.exporting.pipeline import GateOptions
    return GateOptions(max_samples=64)


@pytest.fixture(scope="module")
def exported(ens_hub, members, gate, tmp_path_factory):
    from hub.exporting.ensemble import export_ensemble
    out = tmp_path_factory.mktemp("exports") / "digits-ens"
    export_ensemble(members, out, weights=[1, 2, 1], gate_options=gate, registry=ens_hub.registry)
    return out


def sample_images(hubx, n=40):
    from hub.job import plan
    from hub.zoo import recipe_from_table

    split = plan(recipe_from_table("x", table(), hubx.registry, "test"), hubx.registry).dataset.split("test")
    return split.inputs[:n], np.asarray(split.labels[:n])



def member_probabilities(hubx, run_dirs, images):
    """Each member's own PyTorch softmax, from its run directory (not from the ensemble module)."""
    import dataclasses

    import torch

    from hub.runtime.preprocess import preprocess_images
    from hub.training.rundir import load_run

    out = []
    for run_dir in run_dirs:
        info, _, model = load_run(run_dir, hubx.registry)
        pixels = torch.from_numpy(preprocess_images(images, dataclasses.asdict(info.input)))
        with torch.no_grad():
            out.append(torch.softmax(model(pixels), -1).double().numpy())
    return np.stack(out)


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("weights", [None, (1, 2, 1)], ids=["equal", "weighted-1-2-1"])
def test_onnx_output_is_the_mean_of_member_probabilities(hubx, members, gate, tmp_path, weights):
    import onnxruntime as ort

    from hub.exporting.ensemble import export_ensemble
    from hub.runtime.preprocess import preprocess_images

    out = tmp_path / "ens"
    report = export_ensemble(members, out, weights=weights, gate_options=gate)
    config = json.loads((out / "config.json").read_text())
    w = np.array(weights or (1, 1, 1), dtype=np.float64)
    w /= w.sum()
    assert [m["weight"] for m in config["ensemble"]["members"]] == pytest.approx(w.tolist())
    assert config["output_names"] == ["logits"] and report["kept"] == ["fp32"]
    images, _ = sample_images(hubx)
    session = ort.InferenceSession(str(out / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    got = softmax(session.run(None, {"pixel_values": preprocess_images(images, config["preprocessing"])})[0]
                  .astype(np.float64))
    probs = member_probabilities(hubx, members, images)
    want = np.tensordot(w, probs, axes=1)
    assert np.abs(got - want).max() < 2e-5
    # not trivially true: the members disagree, so another weighting gives other probabilities
    assert np.abs(probs.mean(0) - np.tensordot([0.8, 0.1, 0.1], probs, axes=1)).max() > 1e-3


def test_an_ensemble_exports_the_recipes_formats_too(hubx, members, gate, tmp_path):
    """export.formats applies to an ensemble's one graph like to a single run (OpenVINO here: cheap)."""
    from hub import runtime
    from hub.exporting.ensemble import export_ensemble
    from hub.recipes import ExportConfig

    out = tmp_path / "ens"
    report = export_ensemble(members, out, gate_options=gate, export_config=ExportConfig(formats=["onnx", "openvino"]))
    entries = {r["variant"]: r for r in report["variants"]}
    assert entries["openvino:fp32"]["passed"] and entries["openvino:fp32"]["runtime"] == "openvino"
    images, _ = sample_images(hubx)
    want = runtime.load(out, variant="fp32").predict(images)
    got = runtime.load(out, runtime="openvino", variant="fp32").predict(images)
    assert [r["label"] for r in got] == [r["label"] for r in want]
    assert max(abs(g["score"] - w["score"]) for g, w in zip(got, want)) < 1e-4


def test_runtime_load_predict_gives_the_averaged_probabilities(hubx, members, exported):
    from hub import runtime

    images, labels = sample_images(hubx)
    model = runtime.load(exported)
    results = model.predict(images)
    got = np.array([[r["probabilities"][name] for name in model.label_names] for r in results])
    want = np.tensordot([0.25, 0.5, 0.25], member_probabilities(hubx, members, images), axes=1)
    assert np.abs(got - want).max() < 2e-5
    assert [r["label"] for r in results] == [model.label_names[i] for i in want.argmax(1)]
    assert np.mean([r["label"] == str(y) for r, y in zip(results, labels)]) > 0.5  # chance is 0.1


def test_config_and_report_list_members_with_their_metrics(exported, members):
    config = json.loads((exported / "config.json").read_text())
    record = config["ensemble"]
    assert [m["name"] for m in record["members"]] == ["cnn-a", "cnn-b", "mlp"]
    assert [m["backbone"].split("/")[-1].split(":")[-1] for m in record["members"]] == ["ens-cnn", "ens-cnn", "ens-mlp"]
    assert all(m["run_dir"] == str(r) for m, r in zip(record["members"], members))
    assert all(0 < m["test"]["accuracy"] <= 1 and 0 < m["gate_metrics"]["accuracy"] <= 1 for m in record["members"])
    assert 0 < record["metrics"]["accuracy"] <= 1 and record["average_max_abs_diff"] < 1e-5
    assert config["backbone"]["name"] == "ensemble"  # two backbones: no single backbone is claimed
    report = json.loads((exported / "report.json").read_text())
    assert report["ensemble"]["members"] == record["members"] and report["variants"][0]["passed"]
    for m in record["members"]:
        assert (exported / m["dir"] / "model.safetensors").is_file() and (exported / m["dir"] / "run.json").is_file()
    assert json.loads((exported / "summary.json").read_text())["test"] == record["metrics"]
    assert {p.name for p in (exported / "onnx" / "test_data_set_0").iterdir()} == {"input_0.pb", "output_0.pb"}


def _edit_run(src: Path, dst: Path, change) -> Path:
    shutil.copytree(src, dst)
    data = json.loads((dst / "run.json").read_text())
    change(data)
    (dst / "run.json").write_text(json.dumps(data))
    return dst


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(label_names=["1", "0"] + d["label_names"][2:]), "differ in label order"),
    (lambda d: d.update(label_names=[f"class-{x}" for x in d["label_names"]]), "differ in label set"),
], ids=["label-order", "label-set"])
def test_mismatched_labels_are_one_error_and_write_nothing(hubx, members, tmp_path, change, message):
    from hub.exporting.ensemble import EnsembleError, export_ensemble
    odd = _edit_run(members[1], tmp_path / "odd", change)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(EnsembleError, match=message) as err:
        export_ensemble([members[0], odd], tmp_path / "out")
    assert "cnn-a" in str(err.value) and "odd" in str(err.value) and "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no folder, no temp, no failed report


def test_mismatched_input_contract_is_one_error_and_writes_nothing(hubx, members, tmp_path):
    from hub.exporting.ensemble import EnsembleError, export_ensemble
    bigger = train_member(hubx, tmp_path / "cnn-24px", image_size=24)
    with pytest.raises(EnsembleError, match=r"input contract \(size\): cnn-a .*\(16, 16\).*cnn-24px .*\(24, 24\)"):
        export_ensemble([members[0], bigger], tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


@pytest.mark.parametrize("weights, message", [
    ([1, 2], "2 weights for 3 members"), ([1, 0, 1], "positive"), ([1, -1, 1], "positive"),
    (["a", 1, 1], "not numbers"), ([1, float("inf"), 1], "positive finite"),
])
def test_bad_weights_are_refused(hubx, members, tmp_path, weights, message):
    from hub.exporting.ensemble import EnsembleError, export_ensemble
    with pytest.raises(EnsembleError, match=message):
        export_ensemble(members, tmp_path / "out", weights=weights)
    assert not (tmp_path / "out").exists()


def test_out_that_is_not_an_export_is_never_replaced(hubx, members, tmp_path, exported):
    from hub.exporting.ensemble import EnsembleError, export_ensemble
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(EnsembleError, match="not a hub export"):
        export_ensemble(members, precious)
    assert (precious / "notes.txt").read_text() == "keep me"
    with pytest.raises(EnsembleError, match="inside --out"):
        export_ensemble(members, members[0].parent)


def test_validate_passes_then_a_planted_member_weight_file_fails(hubx, exported, tmp_path):
    from hub.errors import GateError
    from hub.exporting.pipeline import validate_export
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    assert validate_export(copy, gate_options=_gate())["passed"]
    shutil.copy2(copy / "members" / "cnn-a" / "model.safetensors", copy / "members" / "cnn-b" / "model.safetensors")
    with pytest.raises(GateError, match="validation gate failed"):
        validate_export(copy, gate_options=_gate())


def test_a_perturbed_graph_fails_the_gate(hubx, exported, tmp_path):
    import onnx
    from onnx import numpy_helper

    from hub.errors import GateError

    from hub.exporting.pipeline import validate_export
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    proto = onnx.load(str(copy / "onnx" / "model.onnx"))
    biggest = max(proto.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    array = numpy_helper.to_array(biggest).copy()
    array.flat[: array.size // 2] *= 1.5  # one member's weights drift
    biggest.CopyFrom(numpy_helper.from_array(array, biggest.name))
    onnx.save(proto, str(copy / "onnx" / "model.onnx"))
    with pytest.raises(GateError, match="differ by more than atol"):
        validate_export(copy, gate_options=_gate())


def _gate():
    from hub.exporting.pipeline import GateOptions
    return GateOptions(max_samples=64)


@pytest.fixture
def server(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from hub.server.serving import start_background

    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    for var in ("HF_TOKEN", "HF_ENDPOINT", "HUB_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    handle = start_background(tmp_path / "serve", tokens={TOKEN: "alice"})
    yield handle
    handle.stop()


def test_push_to_hub_serve_card_lists_members_and_runtime_loads_the_repo(hubx, exported, server, monkeypatch):
    from huggingface_hub import ModelCard, hf_hub_download

    from hub import runtime
    from hub.publish import push

    repo = f"alice/digits-ens-{uuid.uuid4().hex[:6]}"
    result = push(exported, repo, endpoint=server.url, token=TOKEN)
    assert result.created_commit and "members/cnn-b/model.safetensors" in result.files
    card = ModelCard.load(hf_hub_download(repo, "README.md", revision=result.commit_sha, endpoint=server.url))
    text = card.text
    assert "## Ensemble members" in text and "ensemble" in card.data.tags
    record = json.loads((exported / "config.json").read_text())["ensemble"]
    for m in record["members"]:
        row = next(line for line in text.splitlines() if line.startswith(f"| {m['name']} |"))
        assert f"{m['weight']:.4g}" in row and f"{m['gate_metrics']['accuracy']:.4g}" in row
    assert f"{record['metrics']['accuracy']:.4g}" in next(l for l in text.splitlines() if "**ensemble**" in l)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    deployed = runtime.load(f"{repo}@{result.commit_sha}")
    images, _ = sample_images(hubx, 8)
    local = runtime.load(exported).predict(images)
    assert [r["label"] for r in deployed.predict(images)] == [r["label"] for r in local]


def test_cli_ensemble_success_and_bad_input(hubx, members, tmp_path, capsys):
    from hub.cli import main

    out = tmp_path / "cli-ens"
    assert main(["ensemble", *map(str, members), "--out", str(out), "--weights", "1,1,2", "--max-samples", "64"]) == 0
    shown = capsys.readouterr().out
    assert "ensemble: accuracy" in shown and "member mlp: weight 0.500" in shown
    image = tmp_path / "seven.png"
    from PIL import Image

    Image.fromarray(sample_images(hubx, 1)[0][0]).save(image)
    assert main(["predict", str(out), str(image)]) == 0
    assert capsys.readouterr().out.strip().endswith(str(image))
    odd = _edit_run(members[1], tmp_path / "odd", lambda d: d.update(label_names=list("abcdefghij")))
    assert main(["ensemble", str(members[0]), str(odd), "--out", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ensemble members differ in label set") and err.count("\n") == 1
    assert main(["ensemble", str(members[0]), str(members[1]), "--out", str(tmp_path / "bad"), "--weights", "1,x"]) == 1
    assert "not numbers" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


ZOO = """
[entries.tiny-ens]
description = "two seeds of the tiny CNN, averaged"
backbone = { name = "ens-cnn", pretrained = false }
dataset = "digits"
ensemble = { seeds = [0, 1], weights = [1, 3] }

[entries.tiny-ens.train]
epochs = 4
lr = 0.05
batch_size = 128

[entries.tiny-ens.export]
quantize = ["int8-dynamic"]
"""


@pytest.mark.parametrize("front", ["cli", "python"])
def test_hub_run_trains_members_exports_and_gates_an_ensemble_entry(hubx, tmp_path, capsys, front):
    """`hub run ENTRY` and `hub.run(ENTRY)` run the same job (hub.run once trained one plain model)."""
    import hub
    from hub.cli import main

    zoo = tmp_path / "zoo.toml"
    zoo.write_text(ZOO)
    out = tmp_path / "job"
    if front == "cli":
        assert main(["run", "tiny-ens", "--zoo", str(zoo), "--out", str(out), "--no-push", "--no-progress"]) == 0
        assert "trained: test accuracy" in capsys.readouterr().out
    else:
        outcome = hub.run("tiny-ens", zoo=zoo, out=out, publish=False, progress=False)
        assert outcome.export_dir == out / "export"
    assert (out / "members" / "seed0" / "weights.safetensors").is_file()
    assert json.loads((out / "members" / "seed1" / "run.json").read_text())["recipe"]["train"]["seed"] == 1
    config = json.loads((out / "export" / "config.json").read_text())
    assert config["name"] == "tiny-ens" and [m["name"] for m in config["ensemble"]["members"]] == ["seed0", "seed1"]
    assert [m["weight"] for m in config["ensemble"]["members"]] == pytest.approx([0.25, 0.75])
    report = json.loads((out / "export" / "report.json").read_text())
    # the entry's export section, then the ensemble's own e2e graph (decoded pixels in), judged on image files
    names = [v["variant"] for v in report["variants"]]
    assert names[:3] == ["fp32", "int8-dynamic", "e2e"] and set(names[3:]) <= {"e2e:int8-dynamic"}
    assert report["variants"][2]["passed"] and config["e2e"]["file"] == "onnx/model_e2e.onnx"
    if front == "cli":  # again into the same folder: members and export reused, as for one model
        before = (out / "export" / "onnx" / "model.onnx").stat().st_mtime_ns
        assert main(["run", "tiny-ens", "--zoo", str(zoo), "--out", str(out), "--no-push", "--no-progress"]) == 0
        err = capsys.readouterr().err
        assert "== train members: reused" in err and "== ensemble export + validation gate: reused" in err, err
        assert (out / "export" / "onnx" / "model.onnx").stat().st_mtime_ns == before
        # a folder that is not an earlier job's output is never replaced
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "notes.txt").write_text("mine")
        assert main(["run", "tiny-ens", "--zoo", str(zoo), "--out", str(tmp_path / "mine"), "--no-push"]) == 1
        assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("section, message", [
    ("{ seeds = [0] }", "entries.bad.ensemble: an ensemble needs at least two members (members + seeds), got 1"),
    ("{ seeds = [0, 0] }", "entries.bad.ensemble.seeds: lists [0] twice"),
    ("{ seeds = [0, 1], weights = [1] }",
     "entries.bad.ensemble.weights: 1 weights for 2 members (members first, then one per seed)"),
    ("{ seeds = [0, 1], weights = [1, -2] }", "entries.bad.ensemble.weights: must be a list of positive numbers"),
    ("{ seed = [0, 1] }", "entries.bad.ensemble.seed: unknown key 'seed'; did you mean 'seeds'?"),
])
def test_bad_ensemble_sections_name_file_line_and_key(tmp_path, section, message):
    from hub.errors import ZooError
    from hub.zoo import load_catalogue

    zoo = tmp_path / "zoo.toml"
    zoo.write_text(f'[entries.bad]\nbackbone = "x"\ndataset = "digits"\nensemble = {section}\n')
    with pytest.raises(ZooError) as err:
        load_catalogue(zoo)
    assert str(err.value) == f"{zoo}:4: {message}"


def test_members_that_are_ensembles_or_cannot_share_inputs_fail_before_training(hubx, tmp_path):
    from hub.errors import ZooError
    from hub.pipeline_ensemble import member_recipes
    from hub.zoo import load_catalogue

    zoo = tmp_path / "zoo.toml"
    zoo.write_text(ZOO + """
[entries.small]
backbone = { name = "ens-cnn", pretrained = false, image_size = 24 }
dataset = "digits"

[entries.mixed]
backbone = { name = "ens-cnn", pretrained = false }
dataset = "digits"
ensemble = { members = ["small"], seeds = [0] }

[entries.nested]
backbone = { name = "ens-cnn", pretrained = false }
dataset = "digits"
ensemble = { members = ["tiny-ens", "small"] }
""")
    catalogue = load_catalogue(zoo)
    for name, message in (("mixed", "members differ in their input contract"), ("nested", "is itself an ensemble")):
        entry = catalogue.entry(name)
        with pytest.raises(ZooError, match=message):
            member_recipes(catalogue.recipe(name, hubx.registry), entry.ensemble, catalogue, hubx.registry)


def test_set_overrides_reach_the_ensemble_key_and_plain_entries_run_as_before(tmp_path):
    from hub.errors import ZooError
    from hub.pipeline_ensemble import runner_for

    zoo = tmp_path / "zoo.toml"
    zoo.write_text(ZOO + '\n[entries.plain]\nbackbone = "ens-cnn"\ndataset = "digits"\n')
    assert runner_for("tiny-ens", str(zoo)).keywords["section"]["seeds"] == (0, 1)
    changed = runner_for("tiny-ens", str(zoo), ["ensemble.seeds=[3, 4, 5]", "ensemble.weights=[1, 1, 1]"])
    assert changed.keywords["section"]["seeds"] == (3, 4, 5)
    assert runner_for("plain", str(zoo)) is None and runner_for(None, str(zoo)) is None
    with pytest.raises(ZooError, match="entries.tiny-ens.ensemble.weights: 2 weights for 3 members"):
        runner_for("tiny-ens", str(zoo), ["ensemble.seeds=[3, 4, 5]"])


def test_hub_bench_measures_an_ensemble_export(hubx, exported):
    from hub.exporting.benchmark import bench_export

    result = bench_export(exported, iters=3, batch=8)
    assert [r["engine"] for r in result["rows"]] == ["torch-eager", "fp32"]
    assert all(r["p50_ms"] > 0 for r in result["rows"])
