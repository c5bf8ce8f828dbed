"""`hub plugins new` end to end: the scaffold pip-installs into this environment, `hub plugins` lists it,
`hub plugins check` passes, a short `hub train` + `hub export` use its backbone, dataset and head, and the
scaffold's own tests pass. Uninstalled afterwards. Real pip, real entry points, real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hub.cli import main

BIN = Path(sys.executable).parent


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
    env.pop("PYTHONPATH", None)  # what a user's shell sees: only what pip installed
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # the plugin tutorial's walkthrough (tests/publish/test_doc_examples.py) scaffolds, installs,
# checks and trains the same way in the default run; this one also exports
def test_a_scaffolded_plugin_installs_conforms_trains_and_exports(tmp_path):
    name = f"acme{uuid.uuid4().hex[:6]}"
    folder = tmp_path / f"hub-plugin-{name}"
    assert main(["plugins", "new", name, "--dir", str(folder)]) == 0
    plugin = (folder / "src" / f"hubplugin_{name}" / "plugin.py").read_text()
    assert "import torch" not in plugin and 'WeightSource("package"' in plugin
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps", "-e", str(folder)]
    installed = _run(*pip, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-2000:]
    try:
        listed = _run(str(BIN / "hub"), "plugins", "--json", cwd=tmp_path)
        mine = [p for p in json.loads(listed.stdout) if p["name"] == name]
        assert mine and mine[0]["status"] == "ok" and len(mine[0]["components"]) == 3, listed.stdout
        checked = _run(str(BIN / "hub"), "plugins", "check", name, cwd=tmp_path)
        assert checked.returncode == 0 and "0 failed, 0 skipped" in checked.stdout, checked.stdout + checked.stderr
        trained = _run(str(BIN / "hub"), "train", "--backbone", f"{name}:{name}-cnn", "--dataset",
                       f"{name}:{name}-digits", "--head", f"{name}:{name}-head", "--epochs", "1", "--no-progress",
                       "--out", "runs/r", cwd=tmp_path)
        assert trained.returncode == 0, trained.stderr[-2000:]
        exported = _run(str(BIN / "hub"), "export", "runs/r", "--out", "exports/r", cwd=tmp_path)
        assert exported.returncode == 0 and (tmp_path / "exports/r/onnx/model.onnx").is_file(), exported.stderr[-2000:]
        own_tests = _run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=folder)
        assert own_tests.returncode == 0, own_tests.stdout[-2000:]
    finally:
        removed = _run(sys.executable, "-m", "pip", "uninstall", "-y", "--quiet", f"hub-plugin-{name}", cwd=tmp_path)
        assert removed.returncode == 0, removed.stderr


@pytest.mark.parametrize("name, expect", [("Bad_Name", "use 2-31 lowercase letters"), ("x", "use 2-31")])
def test_a_bad_name_is_one_clean_error(name, expect, tmp_path, capsys):
    assert main(["plugins", "new", name, "--dir", str(tmp_path / "p")]) == 1
    assert expect in capsys.readouterr().err and not (tmp_path / "p").exists()


def test_it_never_writes_into_a_folder_that_holds_something(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert main(["plugins", "new", "acme", "--dir", str(tmp_path / "mine")]) == 1
    assert "exists and is not a previous" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
