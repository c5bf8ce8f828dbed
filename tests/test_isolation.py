"""Test modules must not change the environment of the tests collected after them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PROBE = textwrap.dedent('''
    import os

    def test_offline_mode_did_not_leak():
        from huggingface_hub import constants

        assert "HF_HUB_OFFLINE" not in os.environ
        assert constants.HF_HUB_OFFLINE is False
''')


def test_text_plugin_tests_do_not_leave_the_session_offline(tmp_path: Path) -> None:
    """The text plugin's modules run offline, through a fixture; a probe collected after them is online."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    modules = [str(REPO / "plugins/text/tests" / name) for name in ("test_text_data.py", "test_text_models.py")]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
         "--rootdir", str(REPO), *modules, str(probe), "-k", "split_fractions_are_checked or probe"],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout, result.stdout[-2000:]
