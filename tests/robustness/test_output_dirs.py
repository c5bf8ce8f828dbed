"""No data loss: every verb that writes a folder refuses one that holds something else (issue 10).

Before the fix, ``hub export RUN --out DIR`` deleted DIR whatever it held, and ``--out RUN``
destroyed the run it was exporting.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.errors import HubError, OutputDirError
from hub.fsutil import check_output_dir


def _keepsake(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    note = folder / "notes.txt"
    note.write_text("keep me")
    return note


def test_new_empty_and_previous_outputs_pass(tmp_path):
    check_output_dir(tmp_path / "new", "export")
    (tmp_path / "empty").mkdir()
    check_output_dir(tmp_path / "empty", "export")
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text("{}")
    (old / "report.json").write_text("{}")
    check_output_dir(old, "export", markers=("config.json", "report.json"))


@pytest.mark.parametrize("markers", [(), ("config.json", "report.json")])
def test_unrelated_folder_or_file_is_refused(tmp_path, markers):
    _keepsake(tmp_path / "mine")
    (tmp_path / "mine" / "config.json").write_text("{}")  # one marker alone is not enough
    with pytest.raises(OutputDirError, match=r"exists and is not a previous export \(it holds config.json, notes.txt\)"):
        check_output_dir(tmp_path / "mine", "export", markers=markers)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputDirError, match="exists and is not a folder"):
        check_output_dir(tmp_path / "file", "export", markers=markers)
    assert issubclass(OutputDirError, HubError)


@pytest.mark.parametrize("hidden", [(".git", "HEAD"), (".env", None)])
def test_a_folder_of_hidden_entries_is_not_empty(tmp_path, hidden):
    """``.git/`` or ``.env`` alone is somebody's work: never taken for an empty folder and replaced."""
    folder = tmp_path / "project"
    folder.mkdir()
    name, inner = hidden
    if inner:
        (folder / name).mkdir()
        (folder / name / inner).write_text("ref: refs/heads/main\n")
    else:
        (folder / name).write_text("TOKEN=keep-me\n")
    with pytest.raises(OutputDirError, match=rf"is not a previous export \(it holds \{name}\)"):
        check_output_dir(folder, "export", markers=("config.json", "report.json"))
    with pytest.raises(OutputDirError, match=rf"it holds \{name}"):
        check_output_dir(folder, "export")
    (folder / ".config.json.abc123.tmp").write_text("")  # what a killed atomic write leaves does not count
    check_output_dir(tmp_path / "fresh", "export")
    leftover_only = tmp_path / "killed"
    leftover_only.mkdir()
    (leftover_only / ".config.json.abc123.tmp").write_text("")
    check_output_dir(leftover_only, "export")


def test_the_commands_own_input_is_never_the_output(tmp_path):
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    with pytest.raises(OutputDirError, match="--out is the export's own input"):
        check_output_dir(run, "export", inputs=(run,))
    with pytest.raises(OutputDirError, match="--out lies inside the export's own input"):
        check_output_dir(run / "onnx", "export", inputs=(run,))
    with pytest.raises(OutputDirError, match="--out contains the export's own input"):
        check_output_dir(tmp_path / "runs", "export", inputs=(run,))
    os.symlink(run, tmp_path / "link")
    with pytest.raises(OutputDirError, match="--out is the export's own input"):
        check_output_dir(tmp_path / "link", "export", inputs=(run,))
    check_output_dir(tmp_path / "runs" / "sibling", "export", inputs=(run,))


def test_hub_export_refuses_its_run_dir_and_unrelated_folders(finished_run, hub_cli, one_clean_line, tmp_path):
    run = finished_run()
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    for out, expect in ((run, "is the export's own input"), (run / "export", "lies inside the export's own input"),
                        (run.parent, "contains the export's own input")):
        code, _, err = hub_cli("export", run, "--out", out, "--max-samples", "8")
        one_clean_line(code, err, expect=expect)
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
    note = _keepsake(tmp_path / "mine")
    code, _, err = hub_cli("export", run, "--out", note.parent, "--max-samples", "8")
    one_clean_line(code, err, expect="exists and is not a previous export")
    assert note.read_text() == "keep me"


def test_hub_train_and_hub_run_refuse_an_unrelated_folder(tiny_hub, hub_cli, one_clean_line, tmp_path):
    note = _keepsake(tmp_path / "mine")
    args = ["--backbone", "tiny-cnn", "--dataset", "digits", "--epochs", "1", "--no-progress", "--out", note.parent]
    code, _, err = hub_cli("train", *args)
    one_clean_line(code, err, expect="exists and is not a previous run directory")
    code, _, err = hub_cli("run", *args, "--no-push")
    one_clean_line(code, err, expect="exists and is not a previous `hub run` folder")
    assert sorted(p.name for p in note.parent.iterdir()) == ["notes.txt"] and note.read_text() == "keep me"
