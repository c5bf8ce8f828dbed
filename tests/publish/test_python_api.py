"""The top-level API (`hub.train/export/push/load`) as documented: the docs' example is run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "training.md"


def test_import_hub_stays_torch_free_and_exposes_the_verbs():
    code = ("import sys, hub; assert 'torch' not in sys.modules; "
            "import hub.training.api, hub.exporting.pipeline; "
            "assert all(callable(getattr(hub, n)) for n in ('train', 'export', 'push', 'run', 'load', 'recipe')); "
            "print(type(hub.train).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "function"  # a plain function, not a callable module


def test_the_documented_python_example_runs(tmp_path, server, token, monkeypatch):
    block = re.search(r"## Using it from Python.*?```python\n(.*?)```", DOCS.read_text(), re.S).group(1)
    block = block.replace("docs/samples/", str(DOCS.parent / "samples") + "/")
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_TOKEN", token)
    repo_ns = "alice"
    script = tmp_path / "example.py"
    script.write_text(block.replace("me/digits-py", f"{repo_ns}/digits-py"))
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    accuracy, label = out.stdout.split()
    assert float(accuracy) > 0.5 and label == "0"
    assert (tmp_path / "runs" / "py-onnx" / "onnx" / "model.onnx").is_file()
