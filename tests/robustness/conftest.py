"""Fixtures for the robustness suite: the tiny trainable plugin, one finished run, CLI capture.

The tiny plugin (a real installed distribution, see tests/training/conftest.py) is loaded from that
file rather than copied, so both suites train the same backbone.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.cli import main

_spec = importlib.util.spec_from_file_location("_robustness_train_fixtures",
                                               Path(__file__).parent.parent / "training" / "conftest.py")
_train = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_train)
tiny_site = _train.tiny_site
tiny_hub = _train.tiny_hub

_RUNS: dict[str, Path] = {}


@pytest.fixture
def finished_run(tiny_hub, tmp_path_factory, tmp_path) -> Callable[[], Path]:
    """A copy of one real finished run (tiny CNN, digits, 1 epoch of feature extraction) that a test may damage."""
    if "run" not in _RUNS:
        from hub.training.api import train
        from hub.zoo import recipe_from_table

        recipe = recipe_from_table("tiny", {"backbone": "tiny-cnn", "dataset": "digits",
                                            "train": {"epochs": 1, "batch_size": 256}},
                                   tiny_hub.registry, "test")
        run = tmp_path_factory.mktemp("finished") / "run"
        train(recipe, run, tiny_hub.registry, progress=False)
        _RUNS["run"] = run
    count = iter(range(1000))

    def copy() -> Path:
        target = tmp_path / f"run{next(count)}"
        shutil.copytree(_RUNS["run"], target)
        return target

    return copy


@pytest.fixture
def hub_cli(capsys) -> Callable[..., tuple[int, str, str]]:
    """Run ``hub.cli.main(args)`` in-process; returns (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _one_clean_line(code: int, err: str, *, expect: str | None = None) -> None:
    """Exit 1 with exactly one ``error:`` line on stderr (no traceback, no internal error)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1, err
    errors = [line for line in lines if line.startswith("error: ")]  # progress lines may come first
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert "internal error" not in err and "Traceback" not in err, err
    if expect is not None:
        assert expect in errors[0], errors[0]


@pytest.fixture
def one_clean_line() -> Callable[..., None]:
    """``one_clean_line(code, err, expect=...)``: the CLI failed the way docs/cli.md promises."""
    return _one_clean_line
