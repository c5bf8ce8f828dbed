"""Knowledge distillation: the loss is Hinton's, the teacher (export folder or run folder) is run once and
cached, transfer data is labelled by the teacher only, the export is the student alone, and a teacher with
other labels is one clear error before anything is written.

Real components: the tiny plugin backbone (tests/training/conftest.py), scikit-learn digits, a real
`hub export` of the teacher read back through hub.runtime (onnxruntime)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from hub.errors import DataError, HubError, ZooError
from hub.training.api import train
from hub.training.distill import UNLABELLED, distill_loss
from hub.zoo import recipe_from_table


def recipe(hub, distill=None, epochs=2, **train_options):
    raw = {"backbone": "tiny-cnn", "dataset": "digits",
           "train": {"epochs": epochs, "batch_size": 64, "lr": 0.01, "strategy": "fine-tune", **train_options}}
    if distill is not None:
        raw["distill"] = distill
    return recipe_from_table("t", raw, hub.registry, "test")


_TEACHER: dict[str, object] = {}


@pytest.fixture
def teacher(tiny_hub, tmp_path_factory):
    """A trained teacher run and its export (gate on digits' 269 test images), made once per session."""
    from hub.exporting.pipeline import export_run

    if "root" not in _TEACHER:
        root = tmp_path_factory.mktemp("teacher")
        train(recipe(tiny_hub, epochs=4), root / "run", tiny_hub.registry, progress=False)
        export_run(root / "run", root / "export")
        _TEACHER["root"] = root
    return _TEACHER["root"]


def test_the_loss_is_hintons_and_skips_the_cross_entropy_on_unlabelled_examples():
    student, teacher = torch.randn(6, 4), torch.randn(6, 4)
    labels = torch.tensor([0, 1, 2, 3, UNLABELLED, UNLABELLED])
    t, alpha = 3.0, 0.7
    p = F.softmax(teacher / t, 1)
    kl = (p * (p.log() - F.log_softmax(student / t, 1))).sum(1).mean() * t * t
    ce = F.cross_entropy(student[:4], labels[:4])
    assert float(distill_loss(student, teacher, labels, t, alpha, F.cross_entropy)) == pytest.approx(
        float(alpha * kl + (1 - alpha) * ce), rel=1e-5)
    assert float(distill_loss(teacher * t / t, teacher, labels, t, 1.0, F.cross_entropy)) == pytest.approx(0, abs=1e-5)
    only_unlabelled = torch.full((6,), UNLABELLED)
    assert float(distill_loss(student, teacher, only_unlabelled, t, alpha, F.cross_entropy)) == pytest.approx(
        float(alpha * kl), rel=1e-5)


@pytest.mark.parametrize("source", ["export", "run"])
def test_a_student_learns_from_an_export_or_a_run_and_ships_alone(tiny_hub, teacher, tmp_path, monkeypatch, source):
    monkeypatch.setenv("HUB_FEATURE_CACHE_DIR", str(tmp_path / "cache"))
    ref = str(teacher / source)
    result = train(recipe(tiny_hub, {"teacher": ref, "temperature": 2.0, "alpha": 0.7}), tmp_path / "student",
                   tiny_hub.registry, progress=False)
    record = result.summary["distillation"]
    assert record["teacher"]["kind"] == source and record["teacher"]["location"] == ref
    assert len(record["teacher"]["sha256"]) == 64 and 0.5 < record["teacher"]["test_accuracy"] <= 1
    assert record["temperature"] == 2.0 and record["alpha"] == 0.7 and record["transfer_examples"] == 0
    assert result.summary["test"]["accuracy"] > 0.3
    # the student alone: same tensors as a plain run of the same recipe
    plain = train(recipe(tiny_hub, epochs=1), tmp_path / "plain", tiny_hub.registry, progress=False)
    assert set(load_file(str(tmp_path / "student" / "weights.safetensors"))) == \
        set(load_file(str(plain.run_dir / "weights.safetensors")))
    # the teacher ran once: its logits are cached, keyed by its weights and the data
    cached = sorted((tmp_path / "cache" / "teachers").glob("*.npy"))
    assert len(cached) == 2  # the training split and the test split
    stamps = [p.stat().st_mtime_ns for p in cached]
    train(recipe(tiny_hub, {"teacher": ref}), tmp_path / "again", tiny_hub.registry, progress=False)
    assert [p.stat().st_mtime_ns for p in cached] == stamps


def test_distillation_changes_what_the_student_learns(tiny_hub, teacher, tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_FEATURE_CACHE", "off")
    alone = train(recipe(tiny_hub), tmp_path / "alone", tiny_hub.registry, progress=False)
    taught = train(recipe(tiny_hub, {"teacher": str(teacher / "export"), "alpha": 1.0}), tmp_path / "taught",
                   tiny_hub.registry, progress=False)
    a, b = load_file(str(alone.run_dir / "weights.safetensors")), load_file(str(taught.run_dir / "weights.safetensors"))
    assert any(not torch.equal(a[k], b[k]) for k in a)  # same seed, same data: only the targets differ


def test_transfer_data_is_labelled_by_the_teacher_only(tiny_hub, teacher, tmp_path):
    result = train(recipe(tiny_hub, {"teacher": str(teacher / "export"), "transfer": "mnist-5k"}, epochs=1),
                   tmp_path / "run", tiny_hub.registry, progress=False)
    assert result.summary["distillation"]["transfer_examples"] == 3500  # mnist-5k's training split
    assert 0 <= result.summary["test"]["accuracy"] <= 1


def test_several_teachers_average_their_probabilities(tiny_hub, teacher, tmp_path, monkeypatch):
    from hub.training.distill import Teacher, averaged_logits

    monkeypatch.setenv("HUB_FEATURE_CACHE", "off")
    a, b = np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([[0.0, 3.0], [1.0, 1.0]])
    pair = [Teacher({"sha256": s}, ("x", "y"), "image", lambda x, z=z: z[:len(x)]) for s, z in (("a", a), ("b", b))]
    mean = (F.softmax(torch.tensor(a), 1) + F.softmax(torch.tensor(b), 1)) / 2
    assert np.allclose(np.exp(averaged_logits(pair, np.zeros((2, 1)))), mean.numpy(), atol=1e-6)

    # the same teacher twice (export and run folder): the mixture predicts what it predicts
    monkeypatch.delenv("HUB_FEATURE_CACHE")
    single = train(recipe(tiny_hub, {"teacher": str(teacher / "export")}, epochs=1), tmp_path / "one",
                   tiny_hub.registry, progress=False).summary["distillation"]["teacher"]
    both = train(recipe(tiny_hub, {"teacher": [str(teacher / "export"), str(teacher / "run")]}, epochs=1),
                 tmp_path / "two", tiny_hub.registry, progress=False).summary["distillation"]["teacher"]
    assert both["kind"] == "ensemble" and [m["kind"] for m in both["members"]] == ["export", "run"]
    assert both["test_accuracy"] == pytest.approx(single["test_accuracy"], abs=2 / 269)
    from hub.publish.card import distillation_lines

    card = "\n".join(distillation_lines({"distillation": {"teacher": both, "temperature": 2, "alpha": 0.5}}))
    assert "2 teachers, probabilities averaged" in card and both["sha256"][:16] not in card
    assert all(f"`{m['location']}` ({m['kind']}, sha256 `{m['sha256'][:16]}…`)" in card for m in both["members"])
    assert str(teacher / "export") in both["location"] and str(teacher / "run") in both["location"]
    from hub.distill_recipe import teacher_identity  # what stage reuse keys on: every member's weights

    pair = [str(teacher / "export"), str(teacher / "run")]
    assert teacher_identity(pair) == teacher_identity(list(pair)) != teacher_identity(pair[0])
    assert teacher_identity(pair) == teacher_identity(pair[::-1])  # a mean of probabilities has no order
    assert teacher_identity(pair) != teacher_identity([pair[0], pair[0]])  # but every member counts


def test_text_views_are_seeded_word_subsequences_and_count_once_per_copy():
    from hub.training.distill import text_views

    texts = ["a sharp and very funny film about two brothers", "dull", "", "one two three four five six"]
    views = text_views(texts, 3)
    assert views == text_views(texts, 3) and len(views) == 12  # fixed seed: one transfer set for every student
    assert views[:4] != views[4:8]  # each copy is drawn afresh
    for original, view in zip(texts * 3, views):
        words, it = view.split(), iter(original.split())
        assert all(w in it for w in words)  # the words, in order, a subset of the original's
        assert bool(words) == bool(original.split())  # one word at least is kept
    assert text_views(texts, 3, seed=1) != views


def test_a_transfer_dataset_gives_its_unlabelled_split_not_its_training_labels():
    """rotten-tomatoes with unlabelled = true as transfer data: the 7,887 other-movie reviews join the
    training split as label -100; the labelled splits and their labels are untouched."""
    from hub.plugins import get_hub
    from hub.training.distill import with_transfer
    from hub_text.factory import rotten_tomatoes

    data, extra = rotten_tomatoes(), rotten_tomatoes(unlabelled=True)
    merged = with_transfer(data, extra).split("train")
    n = len(data.split("train"))
    assert len(merged) == n + 7887 and list(merged.inputs[n:]) == list(extra.unlabelled.inputs)
    assert (merged.labels[n:] == UNLABELLED).all() and (merged.labels[:n] == data.split("train").labels).all()
    raw = {"backbone": "minilm-l6", "dataset": "rotten-tomatoes",
           "distill": {"teacher": "runs/x", "transfer": {"name": "rotten-tomatoes", "unlabelled": True}}}
    transfer = recipe_from_table("t", raw, get_hub().registry, "test").distill.transfer
    assert transfer["unlabelled"] is True and transfer["name"].split(":")[-1] == "rotten-tomatoes"


def test_views_of_the_training_texts_are_labelled_by_the_teacher(tmp_path, monkeypatch):
    """A MiniLM teacher run on a 60-row text-file dataset; the student learns it on 2 perturbed copies too."""
    from hub.data import load_dataset
    from hub.plugins import get_hub
    from hub_text.data import rotten_tomatoes

    monkeypatch.setenv("HUB_FEATURE_CACHE_DIR", str(tmp_path / "cache"))
    data = rotten_tomatoes(None)
    path = tmp_path / "rt.csv"
    path.write_text("text,label\n" + "".join(f'"{t.replace(chr(34), "")}",{data.label_names[y]}\n'
                                             for t, y in list(zip(data.texts, data.labels))[:60]))
    registry = get_hub().registry

    def text_recipe(distill=None):
        raw = {"backbone": {"name": "minilm-l6", "max_length": 16}, "dataset": {"name": "text-file", "path": str(path)},
               "train": {"epochs": 1, "lr": 0.01, "batch_size": 16}}
        return recipe_from_table("t", {**raw, "distill": distill} if distill else raw, registry, "test")

    train(text_recipe(), tmp_path / "teacher", registry, progress=False)
    sampled = recipe_from_table("t", {"backbone": {"name": "minilm-l6", "max_length": 16},
                                      "dataset": {"name": "text-file", "path": str(path)},
                                      "train": {"epochs": 1, "class_balance": "sampler"},
                                      "distill": {"teacher": str(tmp_path / "teacher"), "views": 1}}, registry, "test")
    with pytest.raises(HubError, match="class_balance = 'sampler'.*distill.views"):  # views carry no labels
        train(sampled, tmp_path / "sampled", registry, progress=False)
    assert not (tmp_path / "sampled").exists()
    result = train(text_recipe({"teacher": str(tmp_path / "teacher"), "views": 2}), tmp_path / "student", registry,
                   progress=False)
    record = result.summary["distillation"]
    n_train = len(load_dataset(registry, "text-file", {"path": str(path)}).split("train"))
    n_test = int(np.sum(result.summary["confusion"]["test"]))
    assert record["views"] == 2 and record["transfer_examples"] == 2 * n_train > 0
    cached = [np.load(f) for f in (tmp_path / "cache" / "teachers").glob("*.npy")]
    assert sorted(len(c) for c in cached) == sorted([3 * n_train, n_test])  # labelled once: originals + views


def test_a_teacher_with_other_labels_or_missing_is_one_error_before_anything_is_written(tiny_hub, teacher, tmp_path):
    other = recipe_from_table("t", {"backbone": "tiny-cnn", "dataset": "no-validation", "train": {"epochs": 1},
                                    "distill": {"teacher": str(teacher / "export")}}, tiny_hub.registry, "test")
    with pytest.raises(DataError) as info:
        train(other, tmp_path / "a", tiny_hub.registry, progress=False)
    assert "predicts ['0', '1'" in str(info.value) and "['a', 'b']" in str(info.value)
    assert not (tmp_path / "a").exists()
    with pytest.raises(HubError, match="distill.teacher 'nowhere/none@x': cannot load it"):
        train(recipe(tiny_hub, {"teacher": "nowhere/none@x"}), tmp_path / "b", tiny_hub.registry, progress=False)
    assert not (tmp_path / "b").exists()
    with pytest.raises(HubError, match="mixup"):
        train(recipe(tiny_hub, {"teacher": str(teacher / "export")}, mixup=0.2), tmp_path / "c", tiny_hub.registry,
              progress=False)
    with pytest.raises(HubError, match="class_balance = 'sampler'.*transfer data has none"):
        train(recipe(tiny_hub, {"teacher": str(teacher / "export"), "transfer": "mnist-5k"}, class_balance="sampler"),
              tmp_path / "d", tiny_hub.registry, progress=False)
    adapted = recipe_from_table("t", {"backbone": "tiny-cnn", "dataset": "digits", "train": {"strategy": "fine-tune"},
                                      "adapt": {"method": "coral", "target": "mnist-5k"},
                                      "distill": {"teacher": str(teacher / "export")}}, tiny_hub.registry, "test")
    with pytest.raises(HubError, match="distillation and domain adaptation do not combine"):
        train(adapted, tmp_path / "e", tiny_hub.registry, progress=False)
    assert not any((tmp_path / name).exists() for name in "bcde")


@pytest.mark.parametrize("section, message", [
    ({}, "needs teacher"),
    ({"teacher": "x", "alpha": 1.5}, "alpha: must be <= 1"),
    ({"teacher": "x", "temperature": 0}, "temperature: must be >= 0.05"),
    ({"teacher": "x", "transfer": "mnist-5kk"}, "did you mean 'mnist-5k'"),
    ({"teacher": "x", "tempreature": 2}, "tempreature"),
    ({"teacher": "x", "transfer": "rotten-tomatoes"}, "distill.transfer: dataset 'rotten-tomatoes' is for text data"),
    ({"teacher": "x", "views": 2}, "distill.views: views perturbs texts, and this backbone reads image data"),
    ({"teacher": []}, "distill.teacher: a list of teachers holds 1 to 8"),
    ({"teacher": ["x", ""]}, "distill.teacher: a list of teachers holds 1 to 8"),
    ({"teacher": "x", "views": 17}, "views: must be <= 16"),
])
def test_bad_distill_sections_name_the_key(tiny_hub, section, message):
    with pytest.raises(ZooError, match=message):
        recipe(tiny_hub, section)


def test_the_run_records_and_card_name_the_teacher(tiny_hub, teacher, tmp_path):
    from hub.publish.card import distillation_lines

    train(recipe(tiny_hub, {"teacher": str(teacher / "export")}, epochs=1), tmp_path / "run", tiny_hub.registry,
          progress=False)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["recipe"]["distill"]["teacher"] == str(teacher / "export")
    card = "\n".join(distillation_lines(summary))
    assert str(teacher / "export") in card and f"{summary['distillation']['teacher']['test_accuracy']:.4f}" in card
    assert np.isfinite(summary["test"]["accuracy"])


@pytest.mark.parametrize("strategy", [{"strategy": "feature-extraction", "lr": 0.05, "epochs": 6},
                                      {"strategy": "lora", "lora_targets": ["proj"], "lr": 0.01, "epochs": 2}])
def test_distillation_works_with_cached_features_and_lora(tiny_hub, teacher, tmp_path, strategy):
    # (softened targets, T = 2, move a head-only student more slowly than labels do: six cheap cached epochs)
    result = train(recipe(tiny_hub, {"teacher": str(teacher / "export"), "alpha": 0.9}, **strategy),
                   tmp_path / "run", tiny_hub.registry, progress=False)
    assert result.summary["distillation"]["alpha"] == 0.9
    assert result.summary["cached_features"] == (strategy["strategy"] == "feature-extraction")
    assert result.summary["test"]["accuracy"] > 0.3


def test_an_interrupted_distillation_resumes_to_the_uninterrupted_weights(tiny_hub, teacher, tmp_path):
    section = {"teacher": str(teacher / "export"), "transfer": "mnist-5k"}
    train(recipe(tiny_hub, section), tmp_path / "full", tiny_hub.registry, progress=False)

    def stop(logs):
        if logs["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(recipe(tiny_hub, section), tmp_path / "cut", tiny_hub.registry, progress=False, on_epoch=stop)
    train(recipe(tiny_hub, section), tmp_path / "cut", tiny_hub.registry, progress=False, resume=True)
    a = load_file(str(tmp_path / "full" / "weights.safetensors"))
    b = load_file(str(tmp_path / "cut" / "weights.safetensors"))
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
