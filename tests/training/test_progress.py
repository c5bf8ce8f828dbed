"""The slow steps outside the epoch loop draw a bar (feature caching, each export and gate step),
and ``--no-progress`` / ``progress=False`` silences every one of them."""

from __future__ import annotations

from hub import progress
from hub.cli import main

ARGS = ["run", "--backbone", "tiny-cnn", "--dataset", "digits", "--epochs", "1", "--no-push"]


def test_feature_caching_and_every_export_step_show_a_bar(tiny_hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(progress, "_disable", lambda: False)  # draw even though stderr is not a terminal here
    assert main([*ARGS, "--out", str(tmp_path / "job")]) == 0
    err = capsys.readouterr().err
    for step in ("caching features", "export + gate", "PyTorch reference on held-out data",
                 "torch.onnx.export fp32", "gate fp32", "test data, samples, config"):
        assert step in err, step


def test_no_progress_silences_them(tiny_hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(progress, "_disable", lambda: False)
    assert main([*ARGS, "--no-progress", "--out", str(tmp_path / "job")]) == 0
    err = capsys.readouterr().err
    assert "caching features" not in err and "export + gate" not in err and "gate fp32" not in err
    assert "== train" in err  # the stage lines stay


def test_shown_false_silences_the_hubs_bars_and_huggingface_hubs():
    """One switch for every verb (hub run, hub export): off means ours and huggingface_hub's."""
    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars

    try:
        with progress.enabled(True), progress.shown(False):
            assert progress.is_enabled() is False and are_progress_bars_disabled()
        with progress.enabled(True), progress.shown(True):
            assert progress.is_enabled() is True
    finally:
        enable_progress_bars()  # process-wide in huggingface_hub: leave it as other tests expect
