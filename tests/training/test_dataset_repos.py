"""Training from dataset repos (``hf:NS/NAME[@REV]`` on a real ``hub serve``) and parquet folders, and
``hub dataset push``/``export``: real ``datasets``, real huggingface_hub, a real server on loopback.

Cheap on purpose: the tiny test backbone (tests/training/conftest.py), one epoch, digits."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np
import pytest

from hub.cli import main
from hub.errors import DataError

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TRAIN = ["--backbone", "tiny-cnn", "--epochs", "1", "--no-progress"]


@pytest.fixture(autouse=True)
def _own_caches(tmp_path, monkeypatch):
    """``datasets`` and the client cache under this test's folder, never the user's ~/.cache."""
    import datasets.config
    from huggingface_hub import constants

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "ds-cache")
    monkeypatch.setattr(datasets.config, "DOWNLOADED_DATASETS_PATH", tmp_path / "ds-cache" / "downloads")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    for var in ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from hub.server.serving import start_background

    handle = start_background(tmp_path_factory.mktemp("serve"), tokens={"alice-token": "alice"})
    yield handle
    handle.stop()


@pytest.fixture
def on_server(server, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_TOKEN", "alice-token")
    return server


def write_digits(folder: Path, splits=("train", "test"), names=NAMES, rows: int = 600, seed: int = 0) -> Path:
    """Digits as parquet with an Image and a ClassLabel column (written by `datasets`, as users write them)."""
    import datasets
    from hub_vision.data.embedded import digits

    data = digits(seed=seed)
    features = datasets.Features({"image": datasets.Image(), "digit": datasets.ClassLabel(names=list(names))})
    folder.mkdir(parents=True, exist_ok=True)
    for split in splits:
        part = data.splits[split]
        n = min(rows, len(part))
        table = datasets.Dataset.from_dict({"image": list(part.inputs[:n]), "digit": part.labels[:n].tolist()},
                                           features=features)
        table.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    return folder


def write_table(path: Path, columns: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


def run_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def test_train_on_a_parquet_folder_names_labels_from_its_classlabel(tiny_hub, tmp_path, capsys):
    folder = write_digits(tmp_path / "pq")  # train + test only: validation is carved from train
    code = main(["train", *TRAIN, "--dataset", f"parquet:{folder}", "--out", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
    info = run_json(tmp_path / "run")
    assert info["label_names"] == NAMES
    assert info["recipe"]["dataset"]["name"] == f"parquet:{folder.absolute()}"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test"]["accuracy"] > 0.1 or summary["validation"]  # it trained and evaluated

    from hub.data_sources.loading import load_source

    data = load_source(f"parquet:{folder}", "image")
    assert data.splits["validation"].inputs.shape == (90, 8, 8) and len(data.splits["train"]) == 510  # 15% of 600
    assert data.splits["test"].inputs.dtype == np.uint8 and len(data.splits["test"]) == 269
    assert data.info["carved"] == ["validation"]
    again = load_source(f"parquet:{folder}", "image", seed=1)
    assert not np.array_equal(again.splits["validation"].labels, data.splits["validation"].labels)  # seeded


def test_text_and_string_labels_are_guessed(tmp_path):
    from hub.data_sources.loading import load_source

    texts = [f"review number {i}" for i in range(40)]
    write_table(tmp_path / "t" / "train.parquet", {"id": list(range(40)), "text": texts,
                                                   "label": ["pos", "neg", "meh", "pos"] * 10})
    data = load_source(f"parquet:{tmp_path / 't'}", "text")
    assert data.label_names == ("meh", "neg", "pos") and data.modality == "text"
    assert set(data.splits) == {"train", "validation", "test"} and sum(map(len, data.splits.values())) == 40
    assert all(isinstance(t, str) for t in data.splits["train"].inputs)


def _error(capsys, *args: str) -> str:
    capsys.readouterr()
    code = main(list(args))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1, err
    return err[-1]


def test_bad_columns_are_one_line_naming_the_columns_and_the_option(tiny_hub, tmp_path, capsys):
    folder = write_digits(tmp_path / "pq", rows=60)
    line = _error(capsys, "train", *TRAIN, "--dataset", f"parquet:{folder}", "--set", "dataset.label_column=nope")
    assert line.startswith("error: dataset parquet:") and "no column 'nope'" in line
    assert "image: Image" in line and "digit: ClassLabel(10 names)" in line

    write_table(tmp_path / "f" / "train.parquet", {"image": [b"x"] * 4, "score": [0.5, 1.5, 2.5, 3.5]})
    line = _error(capsys, "train", *TRAIN, "--dataset", f"parquet:{tmp_path / 'f'}")
    assert "cannot tell which column holds the labels" in line and "score: float64" in line
    assert "dataset.label_column=NAME" in line
    line = _error(capsys, "train", *TRAIN, "--dataset", f"parquet:{tmp_path / 'f'}", "--set", "dataset.label_column=score")
    assert "label column 'score' is float64" in line and "ClassLabel, integer or string" in line

    write_table(tmp_path / "n" / "train.parquet", {"note": ["a", "b"], "label": [0, 1]})
    line = _error(capsys, "train", *TRAIN, "--dataset", f"parquet:{tmp_path / 'n'}")
    assert "cannot tell which column holds the image inputs" in line and "note: string" in line
    assert "dataset.image_column=NAME" in line

    line = _error(capsys, "train", *TRAIN, "--dataset", f"parquet:{tmp_path / 'missing'}")
    assert "does not exist" in line
    line = _error(capsys, "train", *TRAIN, "--dataset", f"parquet:{folder}", "--set", "dataset.colour=1")
    assert "has no option 'colour'" in line and "label_column" in line

    zoo = tmp_path / "zoo.toml"  # the same reference in a catalogue entry, its options in the dataset table
    zoo.write_text(f'schema = 1\n[entries.pq]\nbackbone = "tiny-cnn"\n'
                   f'dataset = {{ name = "parquet:{folder}", label_column = 3 }}\n')
    line = _error(capsys, "train", "pq", "--zoo", str(zoo), "--no-progress")
    assert f"{zoo}:4: entries.pq.dataset.label_column: must be a column name" in line


def test_bad_repo_references_are_one_line(tiny_hub, on_server, tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "run")
    line = _error(capsys, "train", *TRAIN, "--dataset", "hf:alice/no-such-dataset", "--out", out)
    assert "no dataset repo alice/no-such-dataset at http://127.0.0.1" in line
    alice = _push(tmp_path, capsys, rows=60)
    line = _error(capsys, "train", *TRAIN, "--dataset", f"hf:{alice}@no-such-branch", "--out", out)
    assert "revision 'no-such-branch' not found" in line
    line = _error(capsys, "train", *TRAIN, "--dataset", "hf:not a repo", "--out", out)
    assert "expected hf:NAMESPACE/NAME" in line
    folder = write_digits(tmp_path / "private", rows=60)
    assert main(["dataset", "push", str(folder), f"{alice}-private", "--private", "--no-progress"]) == 0
    monkeypatch.delenv("HF_TOKEN")  # an anonymous reader may not see a private dataset, nor learn it exists
    line = _error(capsys, "train", *TRAIN, "--dataset", f"hf:{alice}-private", "--out", out)
    assert f"no dataset repo {alice}-private" in line and "HF_TOKEN" in line
    monkeypatch.setenv("HF_TOKEN", "alice-token")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    line = _error(capsys, "train", *TRAIN, "--dataset", f"hf:{alice}", "--out", out)
    assert "cannot reach the hub at http://127.0.0.1:9" in line and "alice-token" not in line
    assert not (tmp_path / "run").exists()


def _push(tmp_path: Path, capsys, rows: int = 600, seed: int = 0, repo: str | None = None) -> str:
    repo = repo or f"alice/digits-{uuid.uuid4().hex[:6]}"
    folder = write_digits(tmp_path / f"push-{uuid.uuid4().hex[:6]}", splits=("train", "validation", "test"),
                          rows=rows, seed=seed)
    capsys.readouterr()
    assert main(["dataset", "push", str(folder), repo, "--no-progress"]) == 0, capsys.readouterr().err
    return repo


def test_hub_run_on_a_dataset_repo_reuses_by_commit(tiny_hub, on_server, tmp_path, capsys):
    repo = _push(tmp_path, capsys)
    out = tmp_path / "job"

    def run() -> list[str]:
        capsys.readouterr()
        code = main(["run", *TRAIN, "--dataset", f"hf:{repo}", "--no-push", "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 0, err
        return [line for line in err.splitlines() if line.startswith("== ")]

    assert run()[0].startswith("== train (not run before)")
    from huggingface_hub import HfApi

    api = HfApi(endpoint=on_server.url, token="alice-token")
    sha = api.dataset_info(repo).sha
    info = run_json(out / "run")
    assert info["recipe"]["dataset"]["name"] == f"hf:{repo}@{sha}" and info["label_names"] == NAMES
    assert run()[0].startswith("== train: reused")  # same commit: nothing is read again to decide

    _push(tmp_path, capsys, seed=3, repo=repo)  # a new commit on main
    notes = run()
    assert "data changed" in notes[0] and "train (" in notes[0], notes
    assert run_json(out / "run")["recipe"]["dataset"]["name"] == f"hf:{repo}@{api.dataset_info(repo).sha}"


def test_dataset_push_publishes_a_card_that_datasets_reads_back(on_server, tmp_path, capsys):
    import datasets
    from huggingface_hub import HfApi

    folder = write_digits(tmp_path / "pq", rows=50)
    (folder / "notes.txt").write_text("not data")
    (folder / "README.md").write_text("---\nlicense: other\n---\n# My digits\n\nHand-written.\n")
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()}
    repo = f"alice/pushed-{uuid.uuid4().hex[:6]}"
    capsys.readouterr()
    assert main(["dataset", "push", str(folder), repo, "--license", "cc-by-4.0", "--json", "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["splits"] == {"train": 50, "test": 50} and result["skipped"] == ["notes.txt"]
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()} == before  # untouched

    api = HfApi(endpoint=on_server.url, token="alice-token")
    assert api.dataset_info(repo).sha == result["commit_sha"]
    card = Path(api.hf_hub_download(repo, "README.md", repo_type="dataset")).read_text()
    assert "license: cc-by-4.0" in card and "# My digits" in card and "class_label" in card
    from hub.data_sources.hubrepo import endpoint

    with endpoint(on_server.url):  # `datasets` read HF_ENDPOINT when it was imported, maybe before this test set it
        loaded = datasets.load_dataset(repo, revision=result["commit_sha"], token="alice-token")
    assert set(loaded) == {"train", "test"} and loaded["train"].num_rows == 50
    assert loaded["train"].features["digit"].names == NAMES
    assert type(loaded["train"].features["image"]).__name__ == "Image"

    smaller = write_digits(tmp_path / "smaller", splits=("train",), rows=20)
    (smaller / "train-00000-of-00001.parquet").rename(smaller / "train-0.parquet")
    assert main(["dataset", "push", str(smaller), repo, "--no-progress"]) == 0
    remote = [f for f in api.list_repo_files(repo, repo_type="dataset") if f != ".gitattributes"]
    assert sorted(remote) == ["README.md", "train-0.parquet"]  # the repo mirrors the folder: old splits deleted
    (tmp_path / "empty").mkdir()
    line = _error(capsys, "dataset", "push", str(tmp_path / "empty"), "alice/x")
    assert "holds no .parquet files" in line
    line = _error(capsys, "dataset", "push", str(folder), "not-a-repo-id")
    assert "NAMESPACE/NAME" in line


def test_dataset_export_writes_what_train_reads(tmp_path, capsys):
    from hub.data_sources.loading import load_source

    assert main(["dataset", "export", "digits", str(tmp_path / "digits")]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == [
        "test-00000-of-00001.parquet", "train-00000-of-00001.parquet", "validation-00000-of-00001.parquet"]
    assert oct((tmp_path / "digits").stat().st_mode & 0o777) != oct(0o700) or os.umask(0o22) == 0o77
    data = load_source(f"parquet:{tmp_path / 'digits'}", "image")
    assert [len(data.splits[s]) for s in ("train", "validation", "test")] == [1258, 270, 269]
    assert data.label_names == tuple(str(d) for d in range(10)) and data.info["carved"] == []
    with pytest.raises(DataError, match="no 'train' split"):
        (tmp_path / "only-test").mkdir()
        os.link(tmp_path / "digits" / "test-00000-of-00001.parquet", tmp_path / "only-test" / "test-0.parquet")
        load_source(f"parquet:{tmp_path / 'only-test'}", "image")


@pytest.mark.slow  # ~30 s: six fresh `hub`/python processes (torch imports), two trainings
def test_the_datasets_walkthrough_in_training_md_runs_as_written(tmp_path):
    """docs/training.md's `train-data` steps, run by the doc-example runner (fresh processes, a real hub serve)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "publish" / "test_doc_examples.py"
    spec = importlib.util.spec_from_file_location("hubtest_doc_examples", path)
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    results = runner._walk("train-data", tmp_path)
    name, labels, same = results[3].stdout.split("\n")[:3]
    assert name.startswith("hf:alice/digits@") and len(name.rsplit("@", 1)[1]) == 40, results[3].stdout
    assert labels.split() == [str(d) for d in range(10)] and same == "True"
    assert "test: loss=" in results[1].stdout and "test: loss=" in results[2].stdout


def test_the_model_card_links_a_dataset_repo_and_never_a_local_folder():
    from hub.publish.card import _dataset

    sha = "a" * 40
    assert _dataset({"dataset": {"name": f"hf:alice/digits@{sha}"}}, {}) == ("alice/digits", f"hf:alice/digits@{sha}", True)
    assert _dataset({"dataset": {"name": "parquet:/data/x"}}, {})[2] is False
    assert _dataset({"dataset": {"name": "arrow:/data/x"}}, {})[2] is False


def test_an_arrow_folder_saved_by_datasets_is_read_by_its_arrow_files_only(tmp_path):
    import datasets

    from hub.data_sources.loading import load_source

    parquet = write_digits(tmp_path / "pq", splits=("train", "validation", "test"), rows=40)
    datasets.load_dataset("parquet", data_dir=str(parquet)).save_to_disk(str(tmp_path / "saved"))  # + state.json
    data = load_source(f"arrow:{tmp_path / 'saved'}", "image")
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 40, "validation": 40, "test": 40}
    assert data.label_names == tuple(NAMES) and data.info["carved"] == []
    (tmp_path / "saved" / "extra.arrow").write_bytes(b"")  # neither train, validation nor test
    with pytest.raises(DataError, match="extra.arrow: cannot tell which split"):
        load_source(f"arrow:{tmp_path / 'saved'}", "image")
