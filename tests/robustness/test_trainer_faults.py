"""Trainer fault injection: kill -9 at random moments, resume, and the result is bit-for-bit the same.

Each run is killed several times at random points drawn from a seeded generator: before the
run directory is claimed, mid-epoch, during a checkpoint write. After every kill the same
command is simply run again (``--resume`` once run.json exists, else the original command),
as a user would. The final weights must equal an uninterrupted run's and metrics.jsonl must
list every epoch exactly once. Each kill costs a fresh process (torch import included), so the
whole file is ``slow`` (about 45 s of CPU for the two-kill run); the default suite keeps its one
quick kill-and-resume in tests/training/test_resume_ddp.py.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

BIN = Path(sys.executable).parent
EPOCHS = 4
ARGS = ["train", "--backbone", "tiny-cnn", "--dataset", "digits", "--strategy", "fine-tune", "--no-progress",
        "--epochs", str(EPOCHS), "--set", "train.lr=0.01", "--set", "train.batch_size=128"]


def _reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    result = subprocess.run([str(BIN / "hub"), *ARGS, "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


_REF: dict[str, Path] = {}


def reference(tmp_path_factory) -> Path:
    if "run" not in _REF:
        _REF["run"] = _reference(tmp_path_factory)
    return _REF["run"]


def _epoch(run: Path) -> int:
    try:
        return int(json.loads((run / "checkpoints" / "last.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def run_with_kills(run: Path, kills: int, rng: random.Random) -> list[str]:
    """Run ARGS into ``run``, SIGKILL it ``kills`` times at random moments, finish; returns where each kill hit."""
    hits: list[str] = []
    while True:
        resume = (run / "run.json").is_file()
        cmd = [str(BIN / "hub"), *(["train", "--resume", str(run), "--no-progress"] if resume
                                   else [*ARGS, "--out", str(run)])]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if len(hits) < kills:
            # Either a delay after the start (can land before the claim), or a moment after the next
            # checkpoint appears plus a random offset (lands mid-epoch or inside a checkpoint write).
            target, delay = _epoch(run) + 1, rng.uniform(0.0, 0.6)
            wait_for_epoch = rng.random() < 0.7
            start = time.monotonic()
            while proc.poll() is None:
                if wait_for_epoch and _epoch(run) >= target or not wait_for_epoch and time.monotonic() - start > delay * 8:
                    time.sleep(delay if wait_for_epoch else 0)
                    break
                time.sleep(0.005)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                hits.append(f"{'claimed' if (run / 'run.json').is_file() else 'unclaimed'}, "
                            f"checkpoint epoch {_epoch(run)}")
                continue
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        return hits


def assert_same_run(run: Path, ref: Path) -> None:
    a, b = load_file(run / "weights.safetensors"), load_file(ref / "weights.safetensors")
    assert a.keys() == b.keys()
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert worst <= 1e-6, f"max difference {worst}"
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, EPOCHS + 1))
    assert not any(p.name.endswith(".tmp") for p in (run / "checkpoints").iterdir())


@pytest.mark.slow
def test_two_random_kills_then_resume_equal_an_uninterrupted_run(tiny_hub, tmp_path, tmp_path_factory):
    ref = reference(tmp_path_factory)
    hits = run_with_kills(tmp_path / "run", kills=2, rng=random.Random(10))
    print("kills:", hits)
    assert_same_run(tmp_path / "run", ref)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_many_random_kills_then_resume_equal_an_uninterrupted_run(tiny_hub, tmp_path, tmp_path_factory, seed):
    ref = reference(tmp_path_factory)
    hits = run_with_kills(tmp_path / "run", kills=4, rng=random.Random(seed))
    print("kills:", hits)
    assert_same_run(tmp_path / "run", ref)
