"""``adapt.method = "auto"``: candidates trained as the runs they stand for, scored without target labels,
the choice recorded and audited, and every bad input one clear error.

Real components throughout: the tiny plugin backbone, scikit-learn digits as the labelled source and
MNIST-5k as the unlabelled target (tests/training/conftest.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hub.errors import HubError, ZooError
from hub.plugins import load_hub, set_hub
from hub.training import selection
from hub.training.api import train
from hub.training.rundir import load_run, read_run_info

from .test_adaptation import adapted


def auto(hub, **options):
    return adapted(hub, {"name": "auto", **options}, epochs=1)


def weights(folder):
    return load_file(str(folder / "weights.safetensors"))


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- the criteria --------------------------------------------------------------------------------

def test_reverse_validation_catches_consistently_swapped_target_labels():
    torch.manual_seed(0)
    centres = torch.eye(3, 6) * 4
    labels = torch.arange(3).repeat_interleave(20)
    source = centres[labels] + 0.3 * torch.randn(60, 6)
    target = centres[labels] + 0.3 * torch.randn(60, 6)
    right = selection.reverse_validation(target, labels, source, labels, 3)
    swapped = selection.reverse_validation(target, (labels + 1) % 3, source, labels, 3)  # confident, but wrong
    collapsed = selection.reverse_validation(target, torch.zeros(60, dtype=torch.long), source, labels, 3)
    assert right == 1.0 and swapped == 0.0 and collapsed == pytest.approx(1 / 3)
    # ... which information maximisation cannot see: the swapped predictions are just as confident
    sharp = torch.nn.functional.one_hot(labels, 3).float() * 10
    assert selection.im_score(sharp.softmax(1)) == pytest.approx(
        selection.im_score(sharp[:, [2, 0, 1]].softmax(1)))


def test_im_snd_and_dev_order_what_they_claim_to():
    sharp = torch.eye(4).repeat(10, 1) * 10
    assert selection.im_score(sharp.softmax(1)) > 0.95
    assert selection.im_score(torch.full((40, 4), 0.25)) == pytest.approx(0.0, abs=1e-6)
    # SND: tight clusters are dense, and a collapsed model densest of all (the failure mode the docs name)
    clusters = selection.soft_neighbourhood_density(sharp.softmax(1))
    assert clusters == pytest.approx(np.log(9) / np.log(39), abs=0.01)
    assert selection.soft_neighbourhood_density(torch.eye(4)[[0] * 40] * 10) == pytest.approx(1.0, abs=1e-4)
    rng = np.random.default_rng(0)
    source, target = rng.normal(0, 1, (200, 3)), rng.normal(0, 1, (200, 3))
    low, high = np.full(200, 0.1), np.full(200, 2.0)
    assert selection.deep_embedded_validation(source, low, target) < selection.deep_embedded_validation(source, high, target)
    assert selection.best([{"scores": {"dev": 2.0}}, {"scores": {"dev": 1.0}}, {"scores": {"dev": None}}], "dev") \
        == {"scores": {"dev": 1.0}}
    tied = [{"scores": {"rv": 0.5}}, {"scores": {"rv": 0.5}}]
    assert selection.best(tied, "rv") is tied[0]  # a tie goes to the earliest candidate (the recipe's order)


# -- end to end ---------------------------------------------------------------------------------

def test_auto_trains_each_candidate_records_every_score_and_ships_the_chosen_one(tiny_hub, tmp_path):
    result = train(auto(tiny_hub, candidates=["none", "coral", "mcc"]), tmp_path / "run", tiny_hub.registry,
                   progress=False)
    record = result.summary["adaptation"]["auto"]
    assert [c["method"] for c in record["candidates"]] == ["none", "common:coral", "common:mcc"]
    for c in record["candidates"]:
        assert set(c["scores"]) == {"rv", "im", "snd", "dev"} and 0 <= c["target_test_accuracy"] <= 1
        assert (tmp_path / "run" / c["run_dir"] / "weights.safetensors").is_file()
    assert record["data"]["target"].startswith("validation") and record["criterion"] == "rv"
    best = max(record["candidates"], key=lambda c: c["scores"]["rv"])
    assert record["chosen"] == best["method"] and record["fallback"] is None
    assert result.summary["adaptation"]["method"] == "auto"
    assert result.summary["target"]["test"]["accuracy"] == pytest.approx(best["target_test_accuracy"])
    # the auto run ships the chosen candidate's weights, loads like any run, and names the auto recipe
    assert same(weights(tmp_path / "run"), weights(tmp_path / "run" / best["run_dir"]))
    assert read_run_info(tmp_path / "run").recipe.adapt.method["name"] == "auto"
    load_run(tmp_path / "run", tiny_hub.registry)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["adaptation"]["auto"]["chosen"] == best["method"]
    # the model card shows the audit table: every candidate, every score, which one chose
    from hub.publish.card import adaptation_lines

    card = "\n".join(adaptation_lines(result.summary))
    assert f"{best['method']} (chosen by auto)" in card and "**rv** chose" in card
    assert all(f"| {c['method']}" in card or f"**{c['method']}** (chosen)" in card for c in record["candidates"])


def test_auto_with_one_candidate_is_that_method(tiny_hub, tmp_path):
    alone = train(auto(tiny_hub, candidates=["coral"]), tmp_path / "auto", tiny_hub.registry, progress=False)
    plain = train(adapted(tiny_hub, "coral", epochs=1), tmp_path / "plain", tiny_hub.registry, progress=False)
    assert alone.summary["adaptation"]["auto"]["chosen"] == "common:coral"
    assert same(weights(tmp_path / "auto"), weights(tmp_path / "plain"))
    assert alone.summary["target"]["test"]["accuracy"] == pytest.approx(plain.summary["target"]["test"]["accuracy"])


def target_accuracy(folder, hub):
    """What the shipped weights score on the target's test split, measured here from the files."""
    from hub.training.data import InputEncoder, batch_plan, iterate
    from hub_vision.data.embedded import mnist5k

    info, _, model = load_run(folder, hub.registry)
    test = mnist5k().split("test")
    right = 0
    with torch.no_grad():
        plan = batch_plan(len(test), 256, shuffle=False, seed=0, epoch=0)
        for inputs, labels in iterate(test, InputEncoder(info.input), plan, torch.device("cpu")):
            right += int((model(*inputs).argmax(1) == labels).sum())
    return right / len(test)


def test_a_short_budget_judges_then_trains_the_chosen_method_for_the_whole_run(tiny_hub, tmp_path):
    result = train(adapted(tiny_hub, {"name": "auto", "candidates": ["none", "coral"], "epochs": 1}, epochs=2),
                   tmp_path / "run", tiny_hub.registry, progress=False)
    record = result.summary["adaptation"]["auto"]
    assert record["epochs"] == 1 and record["retrained"].endswith("-full")
    assert json.loads((tmp_path / "run" / "candidates" / "none" / "summary.json").read_text())["epochs"] == 1
    assert result.summary["epochs"] == 2
    assert same(weights(tmp_path / "run"), weights(tmp_path / "run" / record["retrained"]))
    # the reported target accuracy is the shipped model's (whichever won, "none" included), not the short run's
    assert result.summary["target"]["test"]["accuracy"] == pytest.approx(target_accuracy(tmp_path / "run", tiny_hub))


def test_default_candidates_that_cannot_act_are_skipped_and_a_retrained_none_reports_its_own_accuracy(
        tiny_hub, tmp_path):
    # feature-extraction freezes the backbone: every gradient method is skipped, so "none" wins and is retrained
    options = {"name": "auto", "exclude": ["adabn", "instance-weighting"], "epochs": 1}
    result = train(adapted(tiny_hub, options, strategy="feature-extraction", epochs=2, lr=0.05), tmp_path / "run",
                   tiny_hub.registry, progress=False)
    record = result.summary["adaptation"]["auto"]
    skipped = [c for c in record["candidates"] if "error" in c]
    assert record["chosen"] == "none" and len(skipped) == 7
    assert all(c["error"].startswith("skipped:") and "freezes the backbone" in c["error"] for c in skipped)
    assert "only none of 8 candidates trained" in record["fallback"] and record["retrained"] == "candidates/none-full"
    assert result.summary["target"]["test"]["accuracy"] == pytest.approx(target_accuracy(tmp_path / "run", tiny_hub))


def test_one_candidate_with_a_budget_is_that_method_trained_once(tiny_hub, tmp_path):
    result = train(adapted(tiny_hub, {"name": "auto", "candidates": ["none"], "epochs": 1}, epochs=2),
                   tmp_path / "run", tiny_hub.registry, progress=False)
    assert result.summary["epochs"] == 2 and "retrained" not in result.summary["adaptation"]["auto"]
    assert sorted(p.name for p in (tmp_path / "run" / "candidates").iterdir()) == ["none"]
    assert result.summary["target"]["test"]["accuracy"] == pytest.approx(target_accuracy(tmp_path / "run", tiny_hub))


def test_an_interrupted_auto_run_resumes_without_retraining_finished_candidates(tiny_hub, tmp_path):
    recipe = auto(tiny_hub, candidates=["none", "coral"])
    calls = []

    def stop(logs):
        calls.append(logs)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the second candidate's first epoch

    with pytest.raises(KeyboardInterrupt):
        train(recipe, tmp_path / "run", tiny_hub.registry, progress=False, on_epoch=stop)
    first = (tmp_path / "run" / "candidates" / "none" / "summary.json").stat().st_mtime_ns
    assert not (tmp_path / "run" / "summary.json").exists()
    with pytest.raises(HubError, match="already holds a run"):
        train(recipe, tmp_path / "run", tiny_hub.registry, progress=False)
    with pytest.raises(HubError, match="did not finish"):  # an interrupted auto run is a run dir, unfinished
        load_run(tmp_path / "run", tiny_hub.registry)
    changed = adapted(tiny_hub, {"name": "auto", "candidates": ["none", "coral"]}, epochs=1, lr=0.1)
    with pytest.raises(HubError, match="different recipe.*train"):  # finished candidates must not mix recipes
        train(changed, tmp_path / "run", tiny_hub.registry, progress=False, resume=True)
    import hub

    result = hub.train(out=tmp_path / "run", resume=True, progress=False)  # as `hub train --resume RUN` does
    assert (tmp_path / "run" / "candidates" / "none" / "summary.json").stat().st_mtime_ns == first
    assert len(result.summary["adaptation"]["auto"]["candidates"]) == 2


# -- bad input and fallbacks ----------------------------------------------------------------------

@pytest.mark.parametrize("options, message", [
    ({"epochs": 0}, "at least one epoch"),
    ({"criterion": "accuracy"}, "unknown criterion 'accuracy'"),
    ({"candidates": ["corral"]}, "did you mean 'coral'"),
    ({"candidates": ["coral"], "exclude": ["coral"]}, "excludes every candidate"),
    ({"candidates": ["auto"]}, "cannot be its own candidate"),
    ({"budget": 3}, "auto has no option 'budget'"),
    ({"candidates": []}, "empty list; leave candidates out"),
])
def test_bad_auto_options_name_the_key(tiny_hub, options, message):
    with pytest.raises(ZooError, match=message):
        auto(tiny_hub, **options)


def test_a_budget_over_the_run_and_an_explicit_candidate_that_cannot_run_fail_before_training(tiny_hub, tmp_path):
    with pytest.raises(HubError, match="more than train.epochs"):
        train(adapted(tiny_hub, {"name": "auto", "epochs": 3}, epochs=1), tmp_path / "a", tiny_hub.registry,
              progress=False)
    assert not (tmp_path / "a").exists()
    with pytest.raises(HubError, match="candidate 'common:dann' cannot run.*freezes the backbone"):
        train(adapted(tiny_hub, {"name": "auto", "candidates": ["none", "dann"]}, strategy="feature-extraction",
                      epochs=1), tmp_path / "b", tiny_hub.registry, progress=False)
    assert not (tmp_path / "b").exists()  # refused before the folder was claimed or "none" trained


def test_resume_of_a_folder_that_never_started_an_auto_run_says_so(tiny_hub, tmp_path):
    with pytest.raises(HubError, match="nothing to resume"):
        train(auto(tiny_hub, candidates=["none"]), tmp_path / "run", tiny_hub.registry, progress=False, resume=True)


def test_a_strong_view_of_another_modality_is_refused_at_the_recipe(tiny_hub):
    with pytest.raises(ZooError, match="adapt.strong_augment: augmentation 'token-dropout' is for text data"):
        adapted(tiny_hub, "fixmatch", strong_augment="token-dropout")


def test_a_problem_every_candidate_shares_is_one_error_not_a_silent_source_only_run(tiny_hub, tmp_path):
    with pytest.raises(HubError, match="same label set"):
        train(adapted(tiny_hub, "auto", target="one-class", epochs=1), tmp_path / "run", tiny_hub.registry,
              progress=False)
    assert not (tmp_path / "run").exists()


SMALL_TARGETS = '''
from hub.hookspecs import hookimpl
from hub.specs import DatasetSpec

HUB_CONTRACT = ">=1.2,<2"


def mnist_without_validation():
    from hub_vision.data.embedded import mnist5k
    data = mnist5k()
    del data.splits["validation"]
    return data


def mnist_tiny_validation():
    from hub.data import Split
    from hub_vision.data.embedded import mnist5k
    data = mnist5k()
    held = data.splits["validation"]
    data.splits["validation"] = Split(held.inputs[:5], held.labels[:5])
    return data


@hookimpl
def register_datasets(register):
    for name in ("mnist_without_validation", "mnist_tiny_validation"):
        register(DatasetSpec(name=name.replace("_", "-"), factory="hubtest_smalltargets:" + name, modality="image",
                             task="image-classification"))
'''


def test_missing_or_tiny_target_validation_says_which_fallback_it_used(tiny_hub, plugin_dir, tmp_path):
    plugin_dir("smalltargets", SMALL_TARGETS, module="hubtest_smalltargets")
    hub = load_hub(strict=True)
    set_hub(hub)
    options = {"name": "auto", "candidates": ["none", "coral"]}
    result = train(adapted(hub, options, target="mnist-without-validation", epochs=1), tmp_path / "a", hub.registry,
                   progress=False)
    record = result.summary["adaptation"]["auto"]
    assert "no validation split" in record["fallback"] and record["data"]["target"] == "unlabelled training pool"
    assert all(c["scores"]["rv"] is not None for c in record["candidates"])
    result = train(adapted(hub, options, target="mnist-tiny-validation", epochs=1), tmp_path / "b", hub.registry,
                   progress=False)
    record = result.summary["adaptation"]["auto"]
    assert "could not be computed" in record["fallback"] and "source validation accuracy" in record["fallback"]
    best = max(record["candidates"], key=lambda c: c["source_validation_accuracy"])
    assert record["chosen"] == best["method"] and all(c["scores"] == {} for c in record["candidates"])


def test_cli_adapt_auto_prints_the_choice(tiny_hub, tmp_path, capsys):
    from hub.cli import main

    code = main(["train", "--backbone", "tiny-cnn", "--dataset", "digits", "--strategy", "fine-tune", "--epochs", "1",
                 "--target-dataset", "mnist-5k", "--set", "adapt.method={name='auto', candidates=['none','mcc']}",
                 "--no-progress", "--out", str(tmp_path / "run")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "auto chose" in out.out and "rv" in out.out
