"""Property-based fuzzing of the command line: ``hub.cli.main`` with random verbs, flags and values.

Whatever the arguments, the exit code is 0, 1 (one ``error:`` line) or 2 (a usage error), and
no input reaches ``internal error`` or a traceback. Training can only ever run on the tiny
test plugin's six-image dataset for at most two epochs (``--epochs`` is always drawn from
-1..2, and it wins over any ``--set train.epochs``), so a valid draw costs under a second.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.cli import main

QUICK = settings(max_examples=25, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
LONG = settings(max_examples=2_000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

junk = st.one_of(st.text(max_size=12), st.sampled_from(["", "-", "--", "nan", "inf", "-1", "0", "1e999",
                                                        "99999999999999999999", "\x1b[2J", "a\nb", "../..", "/"]))
numbers = st.one_of(st.integers(-5, 30).map(str), st.floats().map(str), junk)
set_keys = st.sampled_from(["train.lr", "train.strategy", "train.batch_size", "train.seed", "train.weight_decay",
                            "train.label_smoothing", "train.optimizer", "train.scheduler", "train.mixup",
                            "train.early_stopping", "train.augment", "train.device", "train.precision",
                            "export.opset", "export.quantize", "head", "head.hidden", "head.dropout",
                            "backbone.image_size", "backbone.pretrained", "backbone.width", "dataset.path",
                            "nope", "train.nope", "train", ""])
set_values = st.one_of(junk, st.sampled_from(["1", "0.5", "-1", "nan", "inf", "true", "'sgd'", "[1, 2]",
                                              "{ name = 'mlp', hidden = [-1] }", "{ name = 'mlp', hidden = [4] }",
                                              "{ patience = 1 }", "'light'", "[[[[[[[[1]]]]]]]]", "1e400"]))
sets = st.lists(st.builds(lambda k, v: ["--set", f"{k}={v}"], set_keys, set_values), max_size=3).map(
    lambda items: list(itertools.chain.from_iterable(items)))
flags = st.lists(st.sampled_from(["--json", "--no-progress", "--bogus", "-h", "--debug-nope"]), max_size=2)


class Places:
    """Paths a draw may name: new, empty, unrelated, a file, damaged runs and exports."""

    def __init__(self, root: Path, damaged_run: Path) -> None:
        self.root, self.count = root, itertools.count()
        (root / "empty").mkdir()
        (root / "mine").mkdir()
        (root / "mine" / "notes.txt").write_text("keep me")
        (root / "file.txt").write_text("x")
        (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
        self.damaged_run = damaged_run
        self.fixed = ["empty", "mine", "file.txt", "image.png", "nope", str(damaged_run)]

    def new(self) -> str:
        return str(self.root / f"new{next(self.count)}")

    def pick(self, choice: str) -> str:
        return self.new() if choice == "new" else str(self.root / choice)


@pytest.fixture
def places(finished_run, tmp_path, monkeypatch) -> Iterator[Places]:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # `predict ns/name` must not reach for a network
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    run = finished_run()
    (run / "weights.safetensors").write_bytes(b"\x00" * 10)  # exports of it fail in load_run, after arg checks
    (tmp_path / "p").mkdir()
    places = Places(tmp_path / "p", run)
    zoo = tmp_path / "p" / "zoo.toml"
    zoo.write_text('schema = 1\n[entries.t]\nbackbone = "tiny-cnn"\ndataset = "no-validation"\n'
                   '[entries.t.train]\nstrategy = "fine-tune"\n')
    export = tmp_path / "p" / "export"
    export.mkdir()
    (export / "config.json").write_text(json.dumps({"format": 1, "modality": "image", "label_names": ["a", "b"],
                                                    "variants": {"fp32": {"file": "../../etc/passwd"}},
                                                    "preprocessing": {"size": 8, "mean": [0.5], "std": [0.5]}}))
    places.fixed += ["zoo.toml", "export"]
    yield places
    from hub.publish.embedded import stop_server

    stop_server()  # a fuzzed command may have started the embedded hub over HUB_HOME: never leave it running


where = st.sampled_from(["new", "empty", "mine", "file.txt", "nope", "zoo.toml", "export"])


@st.composite
def argv(draw, places: Places) -> list[str]:
    verb = draw(st.sampled_from(["train", "export", "predict", "zoo", "validate", "bogus"]))
    if verb == "zoo":
        args = ["zoo", draw(st.sampled_from(["list", "show", "nope"]))]
        if args[1] == "show":
            args.append(draw(st.one_of(st.sampled_from(["t", "digits-lite0"]), junk)))
        if draw(st.booleans()):
            args += ["--zoo", places.pick(draw(where))]
    elif verb == "train":
        form = draw(st.sampled_from(["adhoc", "entry", "resume"]))
        if form == "adhoc":
            args = ["train", "--backbone", draw(st.sampled_from(["tiny-cnn", "liar-cnn", "nope", ""])),
                    "--dataset", draw(st.sampled_from(["no-validation", "one-class", "bad-labels", "nope"]))]
        elif form == "entry":
            args = ["train", draw(st.sampled_from(["t", "nope"])), "--zoo", places.pick("zoo.toml")]
        else:
            args = ["train", "--resume", draw(st.sampled_from([places.damaged_run, places.pick("mine"),
                                                               places.pick("nope")]))]
        if draw(st.booleans()):
            args += ["--strategy", draw(st.one_of(st.sampled_from(["fine-tune", "partial", "gradual-unfreeze"]), junk))]
        if draw(st.booleans()):
            args += ["--head", draw(st.one_of(st.sampled_from(["mlp", "linear", "nan-head"]), junk))]
        args += draw(sets)
        if form != "resume":
            args += ["--epochs", draw(st.sampled_from(["-1", "0", "1", "2"])), "--no-progress"]
        if draw(st.booleans()):
            args += ["--out", places.pick(draw(where))]
        elif form != "resume":
            args += ["--out", places.new()]
    elif verb in ("export", "validate"):
        source = draw(st.sampled_from([str(places.damaged_run), places.pick("empty"), places.pick("export"),
                                       places.pick("file.txt"), places.pick("nope")]))
        args = [verb, source]
        if verb == "export":
            args += ["--out", places.pick(draw(st.sampled_from(["new", "empty", "mine", "file.txt"])))]
        for flag, value in draw(st.lists(st.tuples(
                st.sampled_from(["--opset", "--quantize", "--target", "--atol", "--rtol", "--max-metric-drop",
                                 "--tolerance", "--max-samples", "--threads"]),
                st.one_of(numbers, st.sampled_from(["fp16", "int8-dynamic", "edge", "fp16=0.05,0.05",
                                                    "int8-dynamic=none,0,1.5", "x=1,2", "fp32=nan,nan"]))),
                max_size=3)):
            args += [flag, value]
    elif verb == "predict":
        model = draw(st.sampled_from([places.pick("export"), places.pick("empty"), places.pick("nope"),
                                      "ns/name", "ns/name@v1", places.pick("file.txt")]))
        args = ["predict", model] + draw(st.lists(st.one_of(st.just(places.pick("image.png")), junk),
                                                 min_size=0, max_size=2))
        if draw(st.booleans()):
            args.append("--text")
        if draw(st.booleans()):
            args += ["--variant", draw(st.one_of(st.sampled_from(["fp32", "fp16"]), junk))]
    else:
        args = ["bogus"]
    return args + draw(flags)


def _check(places: Places, args: list[str], capsys) -> None:
    capsys.readouterr()
    code = main(args)
    _, err = capsys.readouterr()
    assert code in (0, 1, 2), (args, code, err)
    assert "internal error" not in err and "Traceback" not in err, (args, err)
    if code == 1:
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], (args, err)
    assert (places.root / "mine" / "notes.txt").read_text() == "keep me", args  # never destroyed
    assert (places.damaged_run / "run.json").is_file(), args


@QUICK
@given(data=st.data())
def test_random_command_lines(places, tiny_hub, capsys, data):
    _check(places, data.draw(argv(places)), capsys)


@pytest.mark.slow
@LONG
@given(data=st.data())
def test_random_command_lines_long(places, tiny_hub, capsys, data):
    _check(places, data.draw(argv(places)), capsys)
