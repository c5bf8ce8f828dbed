"""``hub run`` into the same folder again: finished stages whose inputs did not change are reused,
the rest (and everything after) is redone, and a redo that fails gives the old output back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hub import fingerprints, stages
from hub.cli import main
from hub.data import Dataset, Split

ARGS = ["--backbone", "tiny-cnn", "--dataset", "digits", "--epochs", "1", "--no-push", "--no-progress"]


def _run(capsys, out: Path, *extra: str) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = main(["run", *ARGS, "--out", str(out), *extra])
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.startswith("== ")], err


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_a_rerun_reuses_unchanged_stages_and_redoes_changed_ones(tiny_hub, tmp_path, capsys):
    out = tmp_path / "job"
    code, notes, err = _run(capsys, out)
    assert code == 0, err
    assert notes[0].startswith("== train (not run before)"), notes
    run_files, export_files = _mtimes(out / "run"), _mtimes(out / "export")

    code, notes, err = _run(capsys, out)  # the same command again: nothing is redone
    assert code == 0, err
    assert notes[0].startswith("== train: reused") and notes[1].startswith("== export + validation gate: reused"), notes
    assert _mtimes(out / "run") == run_files and _mtimes(out / "export") == export_files

    code, notes, err = _run(capsys, out, "--set", "export.max_metric_drop=2.5")  # only the export section changed
    assert code == 0, err
    assert notes[0].startswith("== train: reused") and "(recipe changed)" in notes[1], notes
    assert _mtimes(out / "run") == run_files
    assert json.loads((out / "export" / "config.json").read_text())["gate"]["tolerances"]["fp32"]["max_metric_drop"] \
        == 2.5

    code, notes, err = _run(capsys, out, "--set", "export.max_metric_drop=2.5", "--set", "train.lr=0.002")
    assert code == 0, err
    assert "train (recipe changed)" in notes[0] and "(an earlier stage was redone)" in notes[1], notes
    assert json.loads((out / "run" / "run.json").read_text())["recipe"]["train"]["lr"] == 0.002
    assert not [p for p in out.iterdir() if p.name.endswith(".old")]  # the superseded run was removed

    code, notes, err = _run(capsys, out, "--set", "export.max_metric_drop=2.5", "--set", "train.lr=0.002", "--force")
    assert code == 0, err
    assert "train (forced)" in notes[0] and "(forced)" in notes[1], notes


def test_a_damaged_stage_log_means_reuse_nothing(tiny_hub, tmp_path, capsys):
    out = tmp_path / "job"
    assert _run(capsys, out)[0] == 0
    (out / "stages.json").write_text("{not json")
    code, notes, err = _run(capsys, out)
    assert code == 0, err
    assert notes[0].startswith("== train (not run before)"), notes
    assert json.loads((out / "stages.json").read_text())["format"] == stages.FORMAT


def test_a_failed_redo_gives_the_previous_run_back(tiny_hub, tmp_path, capsys, monkeypatch):
    out = tmp_path / "job"
    assert _run(capsys, out)[0] == 0
    before = (out / "run" / "weights.safetensors").read_bytes()

    import hub.training.api as train_api

    def broken(recipe, run_dir, registry, **kw):
        Path(run_dir).mkdir(parents=True)
        (Path(run_dir) / "half-written").write_text("x")
        raise train_api.HubError("planted failure in the middle of training")

    monkeypatch.setattr(train_api, "train", broken)
    code, _, err = _run(capsys, out, "--set", "train.lr=0.005")
    assert code == 1 and "planted failure" in err
    assert (out / "run" / "weights.safetensors").read_bytes() == before
    assert not (out / "run" / "half-written").exists()
    assert "train" not in json.loads((out / "stages.json").read_text())["stages"]  # never looks finished


def test_replacing_after_a_killed_attempt_keeps_the_last_good_output(tmp_path):
    folder, aside = tmp_path / "run", tmp_path / ".run.previous.old"
    aside.mkdir()
    (aside / "good").write_text("good")
    folder.mkdir()
    (folder / "partial").write_text("partial")  # what the killed attempt left
    with pytest.raises(RuntimeError), stages.replacing(folder):
        folder.mkdir()
        raise RuntimeError("fails again")
    assert sorted(p.name for p in folder.iterdir()) == ["good"] and not aside.exists()
    with stages.replacing(folder):
        folder.mkdir()
        (folder / "new").write_text("new")
    assert sorted(p.name for p in folder.iterdir()) == ["new"] and not aside.exists()


def _dataset(labels):
    images = np.arange(4 * 8 * 8, dtype=np.uint8).reshape(4, 8, 8)
    return Dataset(name="d", modality="image", label_names=("a", "b"), splits={"train": Split(images, np.asarray(labels))})


def test_data_fingerprint_sees_one_changed_label_and_one_changed_pixel():
    base = fingerprints.data_fingerprint(_dataset([0, 1, 0, 1]))
    assert fingerprints.data_fingerprint(_dataset([0, 1, 0, 1])) == base
    assert fingerprints.data_fingerprint(_dataset([0, 1, 1, 1])) != base
    pixel = _dataset([0, 1, 0, 1])
    pixel.splits["train"].inputs[2, 3, 4] ^= 1
    assert fingerprints.data_fingerprint(pixel) != base
    texts = Dataset(name="t", modality="text", label_names=("a", "b"), splits={"train": Split(["ab", "c"], np.array([0, 1]))})
    joined = Dataset(name="t", modality="text", label_names=("a", "b"), splits={"train": Split(["a", "bc"], np.array([0, 1]))})
    assert fingerprints.data_fingerprint(texts) != fingerprints.data_fingerprint(joined)  # strings are delimited


def test_images_listed_by_path_are_fingerprinted_by_content(tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(b"first")
    listed = Dataset(name="f", modality="image", label_names=("a",), splits={"train": Split([str(image)], np.array([0]))})
    before = fingerprints.data_fingerprint(listed)
    image.write_bytes(b"second")
    assert fingerprints.data_fingerprint(listed) != before


def test_code_fingerprint_sees_an_edit_in_a_plugin_module(tmp_path, monkeypatch):
    (tmp_path / "hubtest_fp_plugin.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = {"fp": "hubtest_fp_plugin"}
    before = fingerprints.code_fingerprint(plugins)
    assert fingerprints.code_fingerprint(plugins) == before
    (tmp_path / "hubtest_fp_plugin.py").write_text("X = 2\n")
    assert fingerprints.code_fingerprint(plugins) != before


def test_one_hub_run_loads_a_third_party_dataset_once(tiny_hub, tmp_path, capsys, monkeypatch):
    """Train, export + gate, publish, pull + verify: one call of the dataset plugin's factory (it was 5)."""
    from hub.server.serving import start_background

    calls = tmp_path / "calls.txt"
    calls.write_text("")
    monkeypatch.setenv("HUBTEST_DATASET_CALLS", str(calls))
    monkeypatch.setenv("HF_TOKEN", "job-token")
    with start_background(tmp_path / "serve", tokens={"job-token": "alice"}) as server:
        capsys.readouterr()
        code = main(["run", "--backbone", "tiny-cnn", "--dataset", "counted-digits", "--epochs", "1", "--no-progress",
                     "--out", str(tmp_path / "job"), "--endpoint", server.url, "--repo", "alice/counted"])
        err = capsys.readouterr().err
    assert code == 0, err
    assert (tmp_path / "job" / "pulled" / "hub_manifest.json").is_file()  # every stage ran, verify included
    assert calls.read_text().count("called") == 1
