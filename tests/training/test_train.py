"""The shared trainer end to end on digits with a tiny real plugin backbone."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from hub.errors import DataError, HubError, SpecError
from hub.training.api import train
from hub.training.rundir import RunDirError, load_run
from hub.training.trainer import TrainingDiverged
from hub.zoo import recipe_from_table


def recipe(hub, **train_cfg):
    raw = {"backbone": train_cfg.pop("backbone", "tiny-cnn"), "dataset": train_cfg.pop("dataset", "digits")}
    if "head" in train_cfg:
        raw["head"] = train_cfg.pop("head")
    raw["train"] = {"epochs": 4, "batch_size": 64, "lr": 0.01, **train_cfg}
    return recipe_from_table("t", raw, hub.registry, "test")


def history(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("strategy, extra", [
    ("feature-extraction", {"lr": 0.05, "epochs": 8}),
    ("fine-tune", {"layer_lr_decay": 0.5}),
    ("partial", {"trainable_groups": 2}),
    ("gradual-unfreeze", {"unfreeze_every": 1, "layer_lr_decay": 0.7}),
])
def test_each_strategy_beats_chance(tiny_hub, tmp_path, strategy, extra):
    result = train(recipe(tiny_hub, strategy=strategy, **extra), tmp_path / "run", tiny_hub.registry, progress=False)
    assert result.summary["test"]["accuracy"] > 0.5, result.summary  # chance is 0.1
    for name in ("run.json", "weights.safetensors", "metrics.jsonl", "summary.json", "curves.png", "confusion.png"):
        assert (tmp_path / "run" / name).is_file(), name


def test_feature_extraction_caches_features_and_leaves_the_backbone_alone(tiny_hub, tmp_path):
    result = train(recipe(tiny_hub, epochs=2), tmp_path / "run", tiny_hub.registry, progress=False)
    assert result.summary["cached_features"] is True
    _, comps, model = load_run(tmp_path / "run", tiny_hub.registry)
    pretrained = load_file(comps.backbone_spec.weights[0].location)
    for name, tensor in pretrained.items():
        assert torch.equal(model.backbone.state_dict()[name], tensor), name


def test_gradual_unfreeze_adds_one_group_per_epoch(tiny_hub, tmp_path):
    train(recipe(tiny_hub, strategy="gradual-unfreeze", epochs=4), tmp_path / "run", tiny_hub.registry, progress=False)
    groups = [h["trainable_groups"] for h in history(tmp_path / "run")]
    assert groups == [[], ["proj"], ["block", "proj"], ["stem", "block", "proj"]]


def test_early_stopping_restores_the_best_weights(tiny_hub, tmp_path):
    cfg = recipe(tiny_hub, strategy="fine-tune", epochs=12, lr=0.3, optimizer="sgd",
                 early_stopping={"metric": "val_accuracy", "patience": 2})
    result = train(cfg, tmp_path / "run", tiny_hub.registry, progress=False)
    best = max(h["val_accuracy"] for h in history(tmp_path / "run"))
    assert result.summary["validation"]["accuracy"] == pytest.approx(best)
    assert result.summary["best_epoch"] <= result.summary["epochs"]


def test_same_seed_same_weights(tiny_hub, tmp_path):
    cfg = recipe(tiny_hub, strategy="fine-tune", epochs=2, mixup=0.2)
    train(cfg, tmp_path / "a", tiny_hub.registry, progress=False)
    train(cfg, tmp_path / "b", tiny_hub.registry, progress=False)
    a, b = load_file(tmp_path / "a" / "weights.safetensors"), load_file(tmp_path / "b" / "weights.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(tiny_hub, tmp_path):
    cfg = recipe(tiny_hub, strategy="fine-tune", head={"name": "nan-head", "after": 25}, epochs=4)
    with pytest.raises(TrainingDiverged, match="training loss became nan at step 26"):
        train(cfg, tmp_path / "run", tiny_hub.registry, progress=False)
    pointer = json.loads((tmp_path / "run" / "checkpoints" / "last.json").read_text())
    assert pointer["epoch"] == 1  # 20 steps per epoch: epoch 1 was good, epoch 2 diverged
    assert not (tmp_path / "run" / "weights.safetensors").exists()


@pytest.mark.parametrize("kwargs, error, message", [
    ({"dataset": "one-class"}, DataError, "the training split has a single class"),
    ({"dataset": "no-validation", "early_stopping": {"patience": 1}}, DataError, "has no validation split, but early_stopping"),
    ({"backbone": {"name": "liar-cnn", "pretrained": False}}, SpecError,
     "built with 32 features but its spec says feature_dim=99"),
    ({"backbone": {"name": "silent-liar-cnn", "pretrained": False, "announce": False}}, SpecError,
     r"returns \(2, 32\) for a batch of 2, but its spec says \(batch, feature_dim=99\)"),
    ({"strategy": "partial", "trainable_groups": 5}, HubError, "trainable_groups = 5 but the backbone has 3 layer groups"),
    ({"early_stopping": {"metric": "val_acc"}}, HubError, "early_stopping.metric 'val_acc' is not computed; choose one of"),
    ({"augment": {"name": "custom", "flip": 2.0}}, HubError, "augmentation 'vision:custom'"),
    ({"dataset": "float-images"}, DataError, r"images must be a uint8 array .* got float32 \(6, 8, 8\)"),
    ({"dataset": "not-a-dataset"}, DataError, r"dataset 'tinytrain:not-a-dataset' \(factory .*\) returned a dict, "
                                              "not a hub.data.Dataset"),
    ({"dataset": "bad-labels"}, DataError, r"the 'train' split needs one integer label in 0..1 per example"),
    # any exception of a third-party factory is one DataError line naming the dataset (RuntimeError was a traceback)
    ({"dataset": "explodes"}, DataError, r"^dataset 'explodes' failed to load: the data server is down$"),
])
def test_bad_input_fails_before_training(tiny_hub, tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        train(recipe(tiny_hub, **kwargs), tmp_path / "run", tiny_hub.registry, progress=False)
    assert not (tmp_path / "run").exists()  # nothing claimed: the same command can simply be rerun


def test_run_dir_is_never_overwritten_and_resume_checks_the_recipe(tiny_hub, tmp_path):
    train(recipe(tiny_hub, epochs=1), tmp_path / "run", tiny_hub.registry, progress=False)
    with pytest.raises(RunDirError, match="already holds a run; pass --resume"):
        train(recipe(tiny_hub, epochs=1), tmp_path / "run", tiny_hub.registry, progress=False)
    with pytest.raises(RunDirError, match=r"different recipe \(differs in: train\)"):
        train(recipe(tiny_hub, epochs=2), tmp_path / "run", tiny_hub.registry, resume=True, progress=False)


def test_bf16_autocast_trains_on_cpu(tiny_hub, tmp_path):
    result = train(recipe(tiny_hub, strategy="fine-tune", precision="bf16", epochs=3), tmp_path / "run",
                   tiny_hub.registry, progress=False)
    assert result.summary["test"]["accuracy"] > 0.5


def test_trainable_backbone_parts_train_with_dropout_and_frozen_ones_do_not(tiny_hub):
    from hub.training.trainer import Trainer

    model = torch.nn.Module()
    model.backbone = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(2, 2)))
    model.head = torch.nn.Linear(2, 2)
    model.backbone[0].requires_grad_(False)
    trainer = Trainer.__new__(Trainer)
    trainer.model = model
    trainer._set_train_mode(cached=False)
    assert not model.backbone[0].training and model.backbone[1][0].training and model.head.training


def test_augmentation_component_is_applied_and_disables_the_cache(tiny_hub, tmp_path):
    result = train(recipe(tiny_hub, epochs=2, augment={"name": "custom", "flip": 0.0, "crop_scale": [0.8, 1.0]}),
                   tmp_path / "run", tiny_hub.registry, progress=False)
    assert result.summary["cached_features"] is False
    assert json.loads((tmp_path / "run" / "run.json").read_text())["recipe"]["train"]["augment"] == {
        "name": "vision:custom", "flip": 0.0, "crop_scale": [0.8, 1.0]}


@pytest.mark.parametrize("select", ["best", "last"])
def test_the_best_validation_epoch_ships_unless_last_is_asked_for(tiny_hub, tmp_path, select):
    # digits: 20 steps per epoch; the head is sabotaged on the last step of epoch 3 of 3 (no early stopping).
    cfg = recipe(tiny_hub, strategy="feature-extraction", epochs=3, lr=0.05, head={"name": "flip-head", "at": 60},
                 select=select)
    result = train(cfg, tmp_path / "run", tiny_hub.registry, progress=False)
    hist = history(tmp_path / "run")
    assert hist[-1]["val_accuracy"] < 0.2 < max(h["val_accuracy"] for h in hist[:-1])  # the sabotage worked
    shipped = result.summary["validation"]["accuracy"]
    if select == "best":
        assert shipped == pytest.approx(max(h["val_accuracy"] for h in hist))
        assert result.summary["selected"] == {"select": "best", "epoch": result.summary["best_epoch"]}
        assert result.summary["best_epoch"] < 3
    else:
        assert shipped == pytest.approx(hist[-1]["val_accuracy"])
        assert result.summary["selected"] == {"select": "last", "epoch": 3}
    assert all(0 <= h["train_accuracy"] <= 1 for h in hist)


def test_metrics_also_go_to_tensorboard_and_mlflow(tiny_hub, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train(recipe(tiny_hub, epochs=2, loggers=["tensorboard", "mlflow"]), tmp_path / "run",
                   tiny_hub.registry, progress=False)
    hist = history(tmp_path / "run")
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    scalars = events.Scalars("val_accuracy")
    assert [s.step for s in scalars] == [1, 2]
    assert [s.value for s in scalars] == pytest.approx([h["val_accuracy"] for h in hist])
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=(tmp_path / "run" / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("hub").experiment_id])
    metric = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [m.value for m in sorted(metric, key=lambda m: m.step)] == pytest.approx([h["val_accuracy"] for h in hist])
    assert run.data.params["train.epochs"] == "2" and run.info.status == "FINISHED"
    assert result.summary["epochs"] == 2


def test_a_logger_whose_package_is_missing_is_refused_before_the_run_dir_is_claimed(tiny_hub, tmp_path, monkeypatch):
    from hub.training import loggers

    monkeypatch.setitem(loggers._PACKAGES, "mlflow", "no_such_mlflow_package")  # as on a machine without the extra
    with pytest.raises(HubError, match="pip install 'zoohub\\[loggers\\]'"):
        train(recipe(tiny_hub, epochs=1, loggers=["mlflow"]), tmp_path / "run", tiny_hub.registry, progress=False)
    assert not (tmp_path / "run").exists()


def test_a_dataset_declaring_an_unknown_task_is_the_plugins_mistake(tiny_hub):
    from hub.zoo import recipe_from_table

    with pytest.raises(HubError) as err:
        recipe_from_table("x", {"backbone": "tiny-cnn", "dataset": "taskless"}, tiny_hub.registry, "command line")
    message = str(err.value)
    assert "dataset 'tinytrain:taskless' declares task 'no-such-task', which is not installed" in message
    assert "fix task in the plugin's DatasetSpec" in message


def test_a_wrong_parameter_count_is_named_and_a_negative_one_refused(tiny_hub, caplog):
    import dataclasses

    from hub.errors import SpecError
    from hub.model import build_backbone
    from hub.specs import validate_spec

    spec = tiny_hub.registry.get("backbone", "tiny-cnn").spec
    with caplog.at_level("WARNING", logger="hub.model"):
        build_backbone(dataclasses.replace(spec, num_params=5), {}, False)
    assert "declares num_params=5 but the built module has 9664 parameters" in caplog.text
    with pytest.raises(SpecError, match="num_params must be a positive int"):
        validate_spec(dataclasses.replace(spec, num_params=-3), "backbone")
