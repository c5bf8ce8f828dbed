"""`hub pretrain`: the objective, the views, the output folder and its use as a weight source.

Real components throughout: the vision plugin's MobileNetV3-small at 32 px on 64 scikit-learn
digits for one epoch (a few seconds), the CLI in-process through ``hub.cli.main``, safetensors
files on disk. The hub-repo half (push to `hub serve`, resolve, train) is in
tests/publish/test_pretrain_publish.py, beside the server fixtures.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from hub.cli import main
from hub.errors import HubError, WeightsError, ZooError
from hub.model import build_backbone
from hub.plugins import load_hub
from hub.pretrain.objectives import nt_xent
from hub.pretrain.views import SimCLRViews, is_grey
from hub.weights import resolve_pretrain_weights, sha256_file

BACKBONE = "mobilenet-v3-small"
TINY = ["--backbone", BACKBONE, "--image-size", "32", "--dataset", "digits", "--epochs", "1", "--batch-size", "32",
        "--set", "pretrain.max_images=64", "--no-progress"]


def run_cli(*args: str, capsys=None) -> tuple[int, str]:
    """Exit code and the error lines on stderr (progress lines such as "pre-training ..." dropped)."""
    code = main(list(args))
    err = capsys.readouterr().err if capsys is not None else ""
    return code, "".join(line + "\n" for line in err.splitlines() if line.startswith(("error:", "internal error:")))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """One real `hub pretrain` output (SimCLR, 1 epoch, 64 digits), made through the CLI."""
    out = tmp_path_factory.mktemp("pretrain") / "out"
    assert main(["pretrain", *TINY, "--out", str(out)]) == 0
    return out


def spec(name: str = BACKBONE):
    return load_hub().registry.get("backbone", name).spec


# --- the objective -------------------------------------------------------------------------


def test_nt_xent_is_log_2n_minus_1_for_random_features_and_lower_for_matched_views():
    torch.manual_seed(0)
    n = 64
    z1, z2 = torch.randn(n, 512), torch.randn(n, 512)
    random = float(nt_xent(z1, z2, temperature=0.5))
    assert abs(random - math.log(2 * n - 1)) < 0.05
    matched = float(nt_xent(z1, z1 + 0.05 * torch.randn(n, 512), temperature=0.5))
    assert matched < random - 1.0
    # a lower temperature sharpens the matched case further
    assert float(nt_xent(z1, z1 + 0.05 * torch.randn(n, 512), temperature=0.1)) < matched


def test_nt_xent_refuses_mismatched_views():
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(torch.randn(4, 8), torch.randn(5, 8))
    with pytest.raises(ValueError, match="at least 2"):
        nt_xent(torch.randn(1, 8), torch.randn(1, 8))


# --- the views ------------------------------------------------------------------------------


def test_views_keep_shape_differ_per_call_and_skip_colour_for_grey():
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    grey = (torch.rand(8, 1, 32, 32).expand(8, 3, 32, 32) - 0.5) / 0.25
    colour = (torch.rand(8, 3, 32, 32) - 0.5) / 0.25
    assert is_grey(grey, mean, std) and not is_grey(colour, mean, std)
    views = SimCLRViews((32, 32), mean, std, grey=True)
    assert not views.colour and views.describe["colour_jitter"] == 0.0
    torch.manual_seed(0)
    a, b = views(grey), views(grey)
    assert a.shape == grey.shape and not torch.allclose(a, b)
    assert is_grey(a, mean, std)  # grey stays grey: no colour jitter was applied
    assert SimCLRViews((32, 32), mean, std, grey=False).colour
    with pytest.raises(HubError, match="crop_scale"):
        SimCLRViews((32, 32), mean, std, crop_scale=(0.9, 0.2))


# --- the output folder ----------------------------------------------------------------------


def test_checkpoint_has_exactly_the_backbones_keys_and_loads_strictly(pretrained):
    from safetensors.torch import load_file

    state = load_file(str(pretrained / "backbone.safetensors"))
    fresh = build_backbone(spec(), {}, False)
    assert set(state) == set(fresh.state_dict())
    fresh.load_state_dict(state, strict=True)
    info = json.loads((pretrained / "pretrain.json").read_text())
    assert info["backbone"]["name"] == BACKBONE and info["objective"] == "simclr"
    assert info["weights"]["sha256"] == sha256_file(pretrained / "backbone.safetensors")
    assert info["data"] == {**info["data"], "dataset": "digits", "split": "train", "images": 64, "labels_used": False}
    assert len(info["loss_curve"]) == 1 and info["steps"] == 2 and info["input"]["size"] == [32, 32]
    assert info["hub_version"] and info["seed"] == 0
    card = (pretrained / "README.md").read_text()
    assert card.startswith("---\n") and "license: apache-2.0" in card and "library_name: pytorch" in card
    assert "no labels were read" in card and "digits" in card


def test_supervised_objective_trains_through_a_temporary_head(tmp_path, capsys):
    out = tmp_path / "sup"
    code, _ = run_cli("pretrain", *TINY, "--objective", "supervised", "--out", str(out), capsys=capsys)
    assert code == 0
    info = json.loads((out / "pretrain.json").read_text())
    assert info["objective"] == "supervised" and info["data"]["labels_used"] is True
    assert info["data"]["classes"] == [str(d) for d in range(10)]
    from safetensors.torch import load_file

    assert set(load_file(str(out / "backbone.safetensors"))) == set(build_backbone(spec(), {}, False).state_dict())


UNLABELLED_PLUGIN = '''
    from hub.hookspecs import hookimpl
    from hub.specs import DatasetSpec
    HUB_CONTRACT = ">=1.0,<2"

    class Untouchable:
        """Labels that fail the test if anything reads them."""
        def __len__(self): return 40
        def __array__(self, *a, **k): raise AssertionError("SimCLR read a label")
        def __getitem__(self, i): raise AssertionError("SimCLR read a label")

    def build():
        import numpy as np
        from hub.data import Dataset, Split
        rng = np.random.default_rng(0)
        train = Split(rng.integers(0, 255, (40, 16, 16), dtype=np.uint8), Untouchable())
        extra = Split(rng.integers(0, 255, (24, 16, 16), dtype=np.uint8))
        return Dataset("shy", "image", ("a", "b"), {"train": train}, unlabelled=extra)

    @hookimpl
    def register_datasets(register):
        register(DatasetSpec(name="shy", factory="hubtest_shy:build", modality="image", task="image-classification"))
'''


def test_simclr_uses_the_unlabelled_split_and_never_reads_labels(plugin_dir, tmp_path, capsys):
    plugin_dir("shy", UNLABELLED_PLUGIN)
    out = tmp_path / "shy"
    code, err = run_cli("pretrain", "--backbone", BACKBONE, "--image-size", "32", "--dataset", "shy", "--epochs", "1",
                        "--batch-size", "8", "--no-progress", "--out", str(out), capsys=capsys)
    assert code == 0, err
    data = json.loads((out / "pretrain.json").read_text())["data"]
    assert (data["split"], data["images"], data["labels_used"]) == ("unlabelled", 24, False)


def test_out_refuses_a_foreign_folder_and_replaces_a_previous_output(pretrained, tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    code, err = run_cli("pretrain", *TINY, "--out", str(foreign), capsys=capsys)
    assert code == 1 and err.count("\n") == 1 and "is not a previous `hub pretrain` output" in err
    assert (foreign / "notes.txt").read_text() == "keep me" and len(list(foreign.iterdir())) == 1
    again = tmp_path / "again"
    again.mkdir()
    (again / "pretrain.json").write_text("{}")  # a previous output (even a broken one) is replaced whole
    code, _ = run_cli("pretrain", *TINY, "--seed", "3", "--out", str(again), capsys=capsys)
    assert code == 0 and json.loads((again / "pretrain.json").read_text())["seed"] == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left behind


@pytest.mark.parametrize("args, message", [
    (["--backbone", "minilm-l6", "--dataset", "rotten-tomatoes"], "trains image backbones"),
    (["--backbone", BACKBONE, "--dataset", "digits", "--set", "pretrain.temprature=0.1"], "did you mean 'temperature'"),
    (["--backbone", BACKBONE, "--dataset", "digits", "--set", "pretrain.objective='byol'"], "is not one of"),
    (["--backbone", BACKBONE, "--dataset", "digits", "--set", "backbone.weights=./no/such/folder"], "no such folder"),
])
def test_bad_input_is_one_line_and_exit_1(args, message, tmp_path, capsys):
    code, err = run_cli("pretrain", *args, "--out", str(tmp_path / "x"), "--no-progress", capsys=capsys)
    assert code == 1 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "x").exists()


def test_an_entry_without_a_pretrain_section_is_refused(tmp_path, capsys):
    zoo = tmp_path / "zoo.toml"
    zoo.write_text('[entries.plain]\nbackbone = "mobilenet-v3-small"\ndataset = "digits"\n')
    code, err = run_cli("pretrain", "plain", "--zoo", str(zoo), capsys=capsys)
    assert code == 1 and "has no [entries.plain.pretrain] section" in err
    code, err = run_cli("pretrain", "--zoo", str(zoo), capsys=capsys)
    assert code == 2  # usage: neither ENTRY nor --backbone/--dataset


def test_the_shipped_zoo_pretrain_entry_validates():
    from hub.pretrain.job import job_from_catalogue
    from hub.zoo import load_catalogue

    job = job_from_catalogue(load_catalogue(Path(__file__).resolve().parent.parent / "zoo.toml"),
                             "fashion-resnet18-simclr", load_hub().registry)
    assert job.config.objective == "simclr" and job.start == "random"
    assert job.recipe.backbone.name.endswith("resnet18") and job.recipe.input_size == {"image_size": 32}


def test_zoo_pretrain_section_errors_name_the_line(tmp_path):
    from hub.zoo import load_catalogue

    zoo = tmp_path / "zoo.toml"
    zoo.write_text('[entries.p]\nbackbone = "resnet18"\ndataset = "digits"\n\n[entries.p.pretrain]\nepochs = 0\n')
    with pytest.raises(ZooError, match=r"zoo.toml:6: entries.p.pretrain.epochs: must be >= 1"):
        load_catalogue(zoo)
    zoo.write_text('[entries.p]\nbackbone = { name = "resnet18", weights = "a/b@v1", pretrained = false }\n'
                   'dataset = "digits"\n')
    with pytest.raises(ZooError, match="backbone.weights: weights name the pretrained source, but pretrained = false"):
        load_catalogue(zoo)


# --- a local folder as a weight source ------------------------------------------------------


def test_a_local_folder_resolves_and_changes_the_starting_weights(pretrained):
    named = resolve_pretrain_weights(str(pretrained), spec())
    assert named.record["kind"] == "path" and named.record["sha256"] == sha256_file(pretrained / "backbone.safetensors")
    torch.manual_seed(0)
    scratch = build_backbone(spec(), {}, False).state_dict()
    torch.manual_seed(0)
    loaded = build_backbone(spec(), {}, True, str(pretrained)).state_dict()
    from safetensors.torch import load_file

    saved = load_file(str(pretrained / "backbone.safetensors"))
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)
    assert any(not torch.equal(loaded[k], scratch[k]) for k in saved if loaded[k].is_floating_point())


def _tampered(pretrained: Path, tmp_path: Path, edit) -> Path:
    """A copy of the output whose state dict was edited; pretrain.json's sha256 updated to match."""
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path / "tampered"
    shutil.copytree(pretrained, folder)
    state = load_file(str(folder / "backbone.safetensors"))
    save_file(edit(state), str(folder / "backbone.safetensors"))
    info = json.loads((folder / "pretrain.json").read_text())
    info["weights"]["sha256"] = sha256_file(folder / "backbone.safetensors")
    (folder / "pretrain.json").write_text(json.dumps(info))
    return folder


def test_wrong_architecture_is_refused_in_one_line(pretrained, tmp_path):
    with pytest.raises(WeightsError, match="weights for another architecture: pre-trained for backbone "
                                           "'mobilenet-v3-small', this recipe builds 'resnet18'"):
        build_backbone(spec("resnet18"), {}, True, str(pretrained))

    def reshape(state):  # a first conv for 4 input channels: same keys, other shapes
        key = next(k for k, v in state.items() if v.ndim == 4 and v.shape[1] == 3)
        state[key] = torch.zeros(state[key].shape[0], 4, *state[key].shape[2:])
        return state

    with pytest.raises(WeightsError, match=r"weights for another architecture: .* has shape"):
        build_backbone(spec(), {}, True, str(_tampered(pretrained, tmp_path, reshape)))


def test_missing_keys_are_refused_in_one_line(pretrained, tmp_path):
    def drop(state):
        state.pop(sorted(state)[0])
        return state

    with pytest.raises(WeightsError, match=r"does not fit backbone 'mobilenet-v3-small': missing 1 keys") as err:
        build_backbone(spec(), {}, True, str(_tampered(pretrained, tmp_path, drop)))
    assert "\n" not in str(err.value)


def test_a_sha256_mismatch_is_refused(pretrained, tmp_path):
    import shutil

    folder = tmp_path / "bad"
    shutil.copytree(pretrained, folder)
    info = json.loads((folder / "pretrain.json").read_text())
    info["weights"]["sha256"] = "0" * 64
    (folder / "pretrain.json").write_text(json.dumps(info))
    with pytest.raises(WeightsError, match="has sha256 .* pretrain.json says 000000000000...; refusing"):
        resolve_pretrain_weights(str(folder), spec())


@pytest.mark.slow  # a real training run; the hub-repo twin in tests/publish runs by default
def test_train_records_the_local_weights_in_run_json(pretrained, tmp_path, capsys):
    run = tmp_path / "run"
    code, err = run_cli("train", "--backbone", BACKBONE, "--dataset", "digits", "--epochs", "1", "--no-progress",
                        "--set", "backbone.image_size=32", "--set", f"backbone.weights={pretrained}",
                        "--out", str(run), capsys=capsys)
    assert code == 0, err
    record = json.loads((run / "run.json").read_text())
    weights = record["backbone"]["weights"]
    assert weights["kind"] == "path" and weights["sha256"] == sha256_file(pretrained / "backbone.safetensors")
    assert record["recipe"]["weights"] == str(pretrained)
    assert "base_model" not in record["backbone"]  # not the upstream timm weights
