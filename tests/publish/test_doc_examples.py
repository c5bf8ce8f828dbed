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
MARK = re.compile(r"^<!-- example: ([\w-]+)/(\d+) -->\n```(bash|python|javascript|html)\n(.*?)^```", re.M | re.S)
JS_MODULES = ROOT / "tests" / "js" / "node_modules"  # onnxruntime-node, sharp: `make setup` installs them
ORT_WEB = ROOT / "hub" / "server" / "web" / "vendor" / "node_modules" / "onnxruntime-web" / "dist"


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


def _walk(group: str, tmp_path: Path, chromium=None) -> dict[int, subprocess.CompletedProcess]:
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
            if language in ("javascript", "html"):
                results[step] = _node(code, work, env, step, where) if language == "javascript" else \
                    _browser(code, work, step, where, chromium)
                continue
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


def _node(code: str, work: Path, env: dict, step: int, where: str) -> subprocess.CompletedProcess:
    """A JavaScript step: an ES module run by Node in the walkthrough's folder, with the npm packages
    the docs tell readers to install (here: tests/js/node_modules, linked in)."""
    if not shutil.which("node") or not (JS_MODULES / "onnxruntime-node").is_dir():
        pytest.fail(f"{where}: needs node and tests/js/node_modules (`make setup` installs them)")
    if not (work / "node_modules").exists():
        (work / "node_modules").symlink_to(JS_MODULES)
    (work / f"step{step}.mjs").write_text(code)
    done = subprocess.run(["node", f"step{step}.mjs"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{where} failed (exit {done.returncode}):\n{done.stderr[-3000:]}"
    return done


def _browser(code: str, work: Path, step: int, where: str, chromium) -> subprocess.CompletedProcess:
    """An HTML step: the page, served over HTTP from the walkthrough's folder (with ``ort/`` copied from
    onnxruntime-web's dist as the docs say), opened in headless Chromium; its ``#result`` is the output."""
    import functools
    import http.server
    import threading

    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    if not (ORT_WEB / "ort.wasm.min.mjs").is_file():
        pytest.fail(f"{where}: needs onnxruntime-web in hub/server/web/vendor (`make setup` installs it)")
    (work / "ort").mkdir(exist_ok=True)
    for name in ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"):
        shutil.copy(ORT_WEB / name, work / "ort" / name)
    (work / f"step{step}.html").write_text(code)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(work))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    driver = chromium()
    try:
        driver.get(f"http://127.0.0.1:{httpd.server_address[1]}/step{step}.html")
        result = driver.find_element(By.ID, "result")
        try:
            WebDriverWait(driver, 120).until(lambda d: result.get_property("value") not in ("", "loading..."))
        except TimeoutException:
            pytest.fail(f"{where}: the page showed no result; browser console:\n"
                        + "\n".join(e.get("message", "") for e in driver.get_log("browser")))
        text = result.get_property("value")
        logs = "\n".join(e.get("message", "") for e in driver.get_log("browser"))
    finally:
        driver.quit()
        httpd.shutdown()
    return subprocess.CompletedProcess([where], 0, stdout=text + "\n", stderr=logs)


def test_the_digits_walkthrough_runs_as_written(tmp_path, chromium):
    import ast

    results = _walk("digits", tmp_path, chromium)
    labels = [line.split("\t")[0] for line in results[3].stdout.splitlines() if line.strip()]
    assert len(labels) == 2 and set(labels) <= {str(d) for d in range(10)}, results[3].stdout
    # The deployer's hub.runtime block loads the tag pushed in docs/publishing.md: the same answers as
    # `hub predict` on the local export (a broken push, pull or preprocessing would differ).
    loaded = ast.literal_eval(results[5].stdout.splitlines()[0])
    assert [p["label"] for p in loaded] == labels, (results[5].stdout, labels)
    # The plain-onnxruntime block prints a class of the export's first test sample.
    assert results[6].stdout.strip() in {str(d) for d in range(10)}, results[6].stdout
    # The e2e graph from Python, Node and a browser: digit-7.png gets hub.runtime's label in each.
    runtime = subprocess.run([sys.executable, "-c", "from hub.runtime import load; import sys; "
                              "print(load(sys.argv[1]).predict('docs/samples/digit-7.png')[0]['label'])",
                              str(tmp_path / "work" / "exports" / "digits")], cwd=tmp_path / "work",
                             capture_output=True, text=True, timeout=300)
    expected = runtime.stdout.strip()
    for step in (8, 9, 10, 11):  # 11: transformers.js pipeline() from the walkthrough's hub serve
        label, score = results[step].stdout.split()
        assert label == expected and 0 < float(score) <= 1, (step, results[step].stdout, expected)
    # The OpenVINO and LiteRT files `--format` kept give the ONNX model's answer through hub.runtime.
    answers = dict(line.split() for line in results[12].stdout.splitlines() if line.strip())
    assert answers == {"onnxruntime": expected, "openvino": expected, "litert": expected}, results[12].stdout


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


def test_the_datasets_walkthrough_runs_as_written(tmp_path):
    """docs/publishing.md "Sharing datasets": a parquet dataset repo pushed with huggingface_hub, read by `datasets`."""
    results = _walk("datasets", tmp_path)
    assert len(results[1].stdout.strip()) == 40, results[1].stdout  # the commit id upload_folder returned
    names, rows = results[2].stdout.splitlines()[0].rsplit(" ", 1)
    assert names == "['0', '1', '2']" and rows == "397", results[2].stdout
    size, label = results[2].stdout.splitlines()[1].rsplit(" ", 1)
    assert size == "(8, 8)" and label in {str(d) for d in range(10)}, results[2].stdout


def test_the_adaptation_walkthrough_runs_as_written(tmp_path):
    """docs/training.md "Which method?": `adapt.method = auto` from the CLI, its audit trail read back."""
    results = _walk("adaptation", tmp_path)
    assert re.search(r"^auto chose \S+ by rv \(none=", results[1].stdout, re.M), results[1].stdout
    lines = results[2].stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["none", "common:coral", "common:shot"], lines
    assert lines[3].split()[1] in ("none", "common:coral", "common:shot"), lines


def test_the_leaderboard_walkthrough_runs_as_written(tmp_path):
    """docs/zoo.md "Leaderboard": `hub zoo bench` measures and publishes, `hub zoo pick` answers, pandas reads it."""
    import json

    results = _walk("leaderboard", tmp_path)
    assert re.search(r"^digits-lite0\s+fp32\s+0\.\d{4}", results[1].stdout, re.M), results[1].stdout
    assert "published: zoo/leaderboard@" in results[1].stdout, results[1].stdout
    assert results[2].stdout.startswith("digits-lite0 "), results[2].stdout
    picked = json.loads((tmp_path / "work" / "pick.json").read_text())
    assert picked["best"]["runtime"] == "onnxruntime" and picked["best"]["latency_p50_ms"] <= 50
    rows = results[3].stdout.splitlines()
    assert rows[0].split() == ["entry", "variant", "metric_value", "latency_p50_ms", "size_mb"], rows
    assert {line.split()[1] for line in rows[1:]} >= {"eager", "fp32"}, rows


@pytest.mark.slow
def test_the_text_walkthrough_runs_as_written(tmp_path):
    results = _walk("text", tmp_path)
    labels = [line.split("\t")[0] for line in results[3].stdout.splitlines() if line.strip()]
    assert len(labels) == 2 and set(labels) <= {"negative", "positive"}, results[3].stdout
