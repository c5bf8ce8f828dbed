"""Self-training adaptation (pseudo-label, MCC, FixMatch, SHOT): each does what it claims, and the one
trainer hands them what they need (the head's logits on the target, a strong view) through the public
``batch_loss`` point (contract 1.4)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from hub.adapt import AdaptBatch, AdaptationMethod
from hub.errors import HubError
from hub.specs import resolve
from hub.training.api import train
from hub.training.rundir import load_run

from .test_adaptation import adapted


def method(hub, name, **options):
    return resolve(hub.registry.get("adaptation", name).spec.factory)(feature_dim=8, num_classes=3, **options)


def batch(target_logits, strong=None, progress=1.0, features=None):
    n = len(target_logits)
    return AdaptBatch(source=torch.zeros(n, 8), target=features if features is not None else torch.randn(n, 8),
                      source_logits=torch.zeros(n, 3), target_logits=target_logits, labels=torch.zeros(n, dtype=torch.long),
                      progress=progress, target_strong_logits=strong)


def confident(classes, margin=8.0):
    return F.one_hot(torch.tensor(classes), 3).float() * margin


def test_ramp_starts_near_zero_and_reaches_one_at_warmup():
    from hub_common.self_training import ramp

    values = [ramp(p, 0.3) for p in (0.0, 0.1, 0.2, 0.3, 0.9)]
    assert values[0] < 0.01 and values == sorted(values) and values[3] == values[4] == 1.0
    assert ramp(0.0, 0.0) == 1.0


def test_pseudo_labels_only_the_predictions_above_the_threshold(tiny_hub):
    from hub_common.self_training import pseudo_label_loss

    logits = torch.tensor([[6.0, 0, 0], [0.2, 0.1, 0], [0, 0, 5.0], [0.1, 0.3, 0.2]], requires_grad=True)
    loss, mask = pseudo_label_loss(logits, threshold=0.9)
    assert mask.tolist() == [1.0, 0.0, 1.0, 0.0]
    loss.backward()
    assert logits.grad[[1, 3]].abs().sum() == 0 and logits.grad[[0, 2]].abs().sum() > 0
    # ... and the step makes the confident predictions more confident
    with torch.no_grad():
        assert pseudo_label_loss(logits - 1.0 * logits.grad, 0.9)[0] < loss
    pl = method(tiny_hub, "pseudo-label", threshold=0.9, warmup=0.5)
    assert float(pl.batch_loss(batch(logits.detach(), progress=0.0))) < 0.01 * float(pl.batch_loss(batch(logits.detach())))


def test_mcc_is_lower_for_confident_class_balanced_predictions(tiny_hub):
    mcc = method(tiny_hub, "mcc")
    sharp = confident([0, 1, 2, 0, 1, 2], margin=20.0)
    hedging = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0]] * 2)
    uniform = torch.zeros(6, 3)
    values = [float(mcc.batch_loss(batch(x))) for x in (sharp, hedging, uniform)]
    assert values[0] < 0.05 < values[1] < values[2]
    assert values[2] == pytest.approx(2 / 3, abs=1e-4)  # uniform: (K-1)/K of each class's mass is confusion


def test_fixmatch_trains_the_strong_view_toward_the_confident_weak_class(tiny_hub):
    fixmatch = method(tiny_hub, "fixmatch", threshold=0.95)
    assert fixmatch.wants_strong_view
    weak = torch.cat([confident([2, 0]), torch.zeros(1, 3)])  # third example unconfident: no label
    strong = torch.zeros(3, 3, requires_grad=True)
    loss = fixmatch.batch_loss(batch(weak, strong))
    loss.backward()
    assert loss > 0 and strong.grad[2].abs().sum() == 0
    assert strong.grad[0].argmin() == 2 and strong.grad[1].argmin() == 0  # descent raises the weak view's class
    with pytest.raises(ValueError, match="strong view"):
        fixmatch.batch_loss(batch(weak))


def test_information_maximisation_rewards_confident_and_diverse_not_collapsed(tiny_hub):
    from hub_common.self_training import information_maximisation

    diverse = information_maximisation(confident([0, 1, 2, 0, 1, 2]))
    collapsed = information_maximisation(confident([1, 1, 1, 1, 1, 1]))
    hedging = information_maximisation(torch.zeros(6, 3))
    assert diverse < collapsed and diverse < hedging
    assert float(diverse) == pytest.approx(-torch.log(torch.tensor(3.0)).item(), abs=0.01)


def test_shot_centroid_labels_follow_the_feature_clusters_not_the_classifier(tiny_hub):
    from hub_common.self_training import centroid_labels

    torch.manual_seed(0)
    centres = torch.eye(3, 8) * 5
    features = torch.cat([centres[c] + 0.3 * torch.randn(10, 8) for c in range(3)])
    truth = torch.arange(3).repeat_interleave(10)
    probs = F.one_hot(truth, 3).float() * 0.7 + 0.1
    probs[:3] = torch.tensor([0.1, 0.8, 0.1])  # the classifier is wrong on three cluster-0 points
    assert torch.equal(centroid_labels(features, probs), truth)
    shot = method(tiny_hub, "shot")
    assert float(shot.batch_loss(batch(torch.log(probs), features=features))) < float(
        shot.batch_loss(batch(torch.zeros(30, 3), features=features)))


def test_bad_options_are_one_clear_error(tiny_hub):
    with pytest.raises(ValueError, match="threshold"):
        method(tiny_hub, "pseudo-label", threshold=1.5)
    with pytest.raises(ValueError, match="temperature"):
        method(tiny_hub, "mcc", temperature=0)
    with pytest.raises(ValueError, match="beta"):
        method(tiny_hub, "shot", beta=-1)


def test_a_feature_only_method_still_gets_its_loss_call():
    class Old(AdaptationMethod):
        def loss(self, source, target, progress):
            return (source - target).mean() * progress

    old = Old()
    assert old.uses_loss and not old.wants_strong_view
    b = batch(torch.zeros(4, 3), progress=0.5)
    assert float(old.batch_loss(b)) == pytest.approx(float((b.source - b.target).mean()) * 0.5)
    assert not AdaptationMethod().uses_loss


@pytest.mark.parametrize("name", ["pseudo-label", "mcc", "fixmatch", "shot"])
def test_each_self_training_method_trains_through_the_one_trainer(tiny_hub, tmp_path, name):
    seen: list[AdaptBatch] = []
    cls = resolve(tiny_hub.registry.get("adaptation", name).spec.factory)
    original = cls.batch_loss
    cls.batch_loss = lambda self, b: (seen.append(b), original(self, b))[1]
    try:
        result = train(adapted(tiny_hub, name, epochs=1, strong_augment={"name": "custom", "flip": 0.0,
                                                                             "rotate": 20.0}),
                       tmp_path / "run", tiny_hub.registry, progress=False)
    finally:
        cls.batch_loss = original
    assert seen and seen[-1].target_logits.shape == (64, 10) and seen[-1].target_logits.requires_grad
    assert seen[0].progress == 0 < seen[-1].progress <= 1
    strong = seen[-1].target_strong_logits
    assert (strong is not None) == (name == "fixmatch")
    if strong is not None:
        assert strong.shape == (64, 10) and not torch.equal(strong, seen[-1].target_logits)
    summary = result.summary
    assert summary["adaptation"]["method"] == f"common:{name}" and 0 <= summary["target"]["test"]["accuracy"] <= 1
    keys = set(load_file(str(tmp_path / "run" / "weights.safetensors")))
    _, _, model = load_run(tmp_path / "run", tiny_hub.registry)
    assert {k for k in model.state_dict()} == keys  # backbone + head only


def test_fixmatch_without_a_strong_view_is_refused_before_anything_is_written(tiny_hub, tmp_path):
    with pytest.raises(HubError, match="strong_augment is \"none\""):
        train(adapted(tiny_hub, "fixmatch", strong_augment="none"), tmp_path / "run", tiny_hub.registry,
              progress=False)
    assert not (tmp_path / "run").exists()


def test_hub_list_adaptations_shows_the_self_training_methods(tiny_hub, capsys):
    from hub.cli import main

    assert main(["list", "adaptations"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert {"pseudo-label", "mcc", "fixmatch", "shot", "dann", "coral"} <= set(names)


def test_the_strong_view_starts_from_the_unaugmented_target_batch(tiny_hub, tmp_path, monkeypatch):
    """Weak and strong views are two augmentations of the same raw batch, never strong-on-top-of-weak."""
    import hub.training.adapting as adapting_module
    import hub.training.api as api_module

    weak_inputs, strong_inputs = [], []

    def spy(calls, shift):
        def apply(inputs):
            calls.append(inputs[0].clone())
            return (inputs[0] + shift, *inputs[1:])
        return apply

    real = adapting_module.build_augmentation
    monkeypatch.setattr(api_module, "build_augmentation",
                        lambda ref, registry, contract: spy(weak_inputs, 1.0) if ref != "none" else None)
    monkeypatch.setattr(adapting_module, "build_augmentation",
                        lambda ref, registry, contract: spy(strong_inputs, 2.0) if real(ref, registry, contract) else None)
    recipe = adapted(tiny_hub, "fixmatch", epochs=1)
    import dataclasses

    recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, augment={"name": "vision:custom"}))
    train(recipe, tmp_path / "run", tiny_hub.registry, progress=False)
    # the trainer augments source then target with the weak augmentation; the strong one gets the raw target
    assert strong_inputs and len(weak_inputs) == 2 * len(strong_inputs)
    for step, strong in enumerate(strong_inputs):
        assert torch.equal(strong, weak_inputs[2 * step + 1])
