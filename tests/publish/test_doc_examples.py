"""The examples in README.md and docs/ run as written.

A fenced ``bash`` or ``python`` block preceded by ``<!-- example: GROUP/STEP -->`` is one step of
a walkthrough: the steps of a group run in STEP order, in one fresh working folder (holding a copy
of docs/samples), as separate processes with the venv's ``hub`` and ``python`` — what a reader
pasting them into a shell does (a Python block defining ``test_`` functions runs under pytest). The hub is a real ``hub serve`` on 127.0.0.1 (``HF_ENDPOINT`` and
``HF_TOKEN`` set, as docs/publishing.md tells readers to), started for the group and stopped after.
The ``digits`` walkthrough is cheap and runs in the default suite; ``text`` (MiniLM feature
caching, an edge export with int8 variants) is marked slow and runs with ``make test-all``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hub.server.serving import start_background

ROOT = Path(__file__).resolve().parents[2]
MARK = re.compile(r"^<!-- example: ([\w-]+)/(\d+) -->\n```(bash|python)\n(.*?)^```", re.M | re.S)


def examples() -> dict[str, list[tuple[int, str, str, str]]]:
    """GROUP -> [(step, language, code, 'file:line')] in step order."""
    groups: dict[str, list[tuple[int, str, str, str]]] = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        for m in MARK.finditer(text):
            where = f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}"
            groups.setdefault(m.group(1), []).append((int(m.group(2)), m.group(3), m.group(4), where))
    for steps in groups.values():
        steps.sort()
    return groups


def test_every_marked_walkthrough_has_numbered_steps_without_gaps():
    groups = examples()
    assert {"digits", "text", "plugin"} <= set(groups), sorted(groups)
    for name, steps in groups.items():
        assert [s[0] for s in steps] == list(range(1, len(steps) + 1)), (name, [(s[0], s[3]) for s in steps])


def _walk(group: str, tmp_path: Path) -> dict[int, subprocess.CompletedProcess]:
    work = tmp_path / "work"
    shutil.copytree(ROOT / "docs" / "samples", work / "docs" / "samples")
    token = "tok-" + uuid.uuid4().hex
    server = start_background(tmp_path / "serve", tokens={token: "alice"}, allow_any_namespace=True)
    env = {**os.environ, "HF_ENDPOINT": server.url, "HF_TOKEN": token, "HF_XET_CACHE": str(tmp_path / "xet"),
           "HF_HUB_CACHE": str(tmp_path / "hf-cache"), "HUB_HOME": str(tmp_path / "hub-home"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("HF_HUB_DISABLE_XET", None)  # as a reader's shell has it: the stock client uses Xet
    results = {}
    try:
        for step, language, code, where in examples()[group]:
            if language == "bash":
                command = ["bash", "-euo", "pipefail", "-c", code]
            elif re.search(r"^def test_", code, re.M):  # a block of pytest tests: run them as a reader's suite would
                (work / f"test_doc_step{step}.py").write_text(code)
                command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"test_doc_step{step}.py"]
            else:
                command = [sys.executable, "-c", code]
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
            assert done.returncode == 0, f"{where} failed (exit {done.returncode}):\n{done.stderr[-3000:]}"
            results[step] = done
    finally:
        server.stop()
    return results


def test_the_digits_walkthrough_runs_as_written(tmp_path):
    import ast

    results = _walk("digits", tmp_path)
    labels = [line.split("\t")[0] for line in results[3].stdout.splitlines() if line.strip()]
    assert len(labels) == 2 and set(labels) <= {str(d) for d in range(10)}, results[3].stdout
    # The deployer's hub.runtime block loads the tag pushed in docs/publishing.md: the same answers as
    # `hub predict` on the local export (a broken push, pull or preprocessing would differ).
    loaded = ast.literal_eval(results[5].stdout.splitlines()[0])
    assert [p["label"] for p in loaded] == labels, (results[5].stdout, labels)
    # The plain-onnxruntime block prints a class of the export's first test sample.
    assert results[6].stdout.strip() in {str(d) for d in range(10)}, results[6].stdout


def test_the_plugin_tutorial_runs_as_written(tmp_path):
    """docs/plugins.md from an empty folder: scaffold, pip install, conformance check, train (then uninstall)."""
    try:
        results = _walk("plugin", tmp_path)
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "--quiet", "hub-plugin-acme"],
                       capture_output=True, timeout=300)
    assert "0 failed" in results[1].stdout, results[1].stdout
    for step in (2, 3, 4):  # the test blocks ran as pytest files and their tests passed
        assert re.search(r"\b[12] passed\b", results[step].stdout), results[step].stdout


@pytest.mark.slow
def test_the_text_walkthrough_runs_as_written(tmp_path):
    results = _walk("text", tmp_path)
    labels = [line.split("\t")[0] for line in results[3].stdout.splitlines() if line.strip()]
    assert len(labels) == 2 and set(labels) <= {"negative", "positive"}, results[3].stdout
