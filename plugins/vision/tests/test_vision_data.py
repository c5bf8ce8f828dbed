"""Image datasets: embedded offline data with documented splits, and the user's own folders and manifests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hub.errors import DataError
from hub_vision.data import embedded
from hub_vision.data.files import image_folder, manifest

FASHION_OK, FASHION_WHY = embedded.fashion_mnist_available()
needs_fashion = pytest.mark.skipif(not FASHION_OK, reason=FASHION_WHY)


def sizes(ds):
    return {name: len(split) for name, split in ds.splits.items()}


@pytest.fixture(scope="module")
def mnist():
    return embedded.mnist5k()


@pytest.fixture(scope="module")
def fashion():
    return embedded.fashion_mnist()


def test_digits_split_sizes():
    ds = embedded.digits()
    assert sizes(ds) == {"train": 1258, "validation": 270, "test": 269}
    assert ds.splits["train"].inputs.dtype == np.uint8


def test_mnist5k_sizes_dtype_and_range(mnist):
    assert embedded.mnist5k_available() == (True, "")
    assert sizes(mnist) == {"train": 3500, "validation": 750, "test": 750}
    train = mnist.splits["train"].inputs
    assert train.dtype == np.uint8 and train.shape[1:] == (28, 28) and train.max() == 255
    counts = sum(np.bincount(s.labels, minlength=10) for s in mnist.splits.values())
    assert counts.tolist() == [500] * 10 and mnist.label_names == tuple("0123456789")


def test_mnist5k_split_is_deterministic(mnist):
    again = embedded.mnist5k(seed=0)
    for name in ("train", "validation", "test"):
        np.testing.assert_array_equal(again.splits[name].labels, mnist.splits[name].labels)
        np.testing.assert_array_equal(again.splits[name].inputs, mnist.splits[name].inputs)
    other = embedded.mnist5k(seed=1)
    assert not np.array_equal(other.splits["test"].labels, mnist.splits["test"].labels)


@needs_fashion
def test_fashion_mnist_official_test_split_and_carved_validation(fashion):
    assert sizes(fashion) == {"train": 54000, "validation": 6000, "test": 10000}
    assert fashion.label_names[0] == "T-shirt/top" and fashion.label_names[9] == "Ankle boot"
    test = fashion.splits["test"]
    assert test.inputs.shape == (10000, 28, 28) and test.inputs.dtype == np.uint8 and test.inputs.flags.writeable
    assert np.bincount(test.labels).tolist() == [1000] * 10
    total = np.bincount(fashion.splits["train"].labels) + np.bincount(fashion.splits["validation"].labels)
    assert total.tolist() == [6000] * 10


@needs_fashion
def test_fashion_mnist_validation_is_deterministic(fashion):
    again = embedded.fashion_mnist(seed=0)
    np.testing.assert_array_equal(again.splits["validation"].inputs, fashion.splits["validation"].inputs)


def test_fashion_mnist_missing_root_says_what_to_install(tmp_path):
    ok, reason = embedded.fashion_mnist_available(root=str(tmp_path / "nowhere"))
    assert not ok and "apt-get install dataset-fashion-mnist" in reason
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist") as info:
        embedded.fashion_mnist(root=str(tmp_path / "nowhere"))
    assert "nowhere" in str(info.value)
    (tmp_path / "partial").mkdir()
    with pytest.raises(DataError, match="lacks train-images-idx3-ubyte.gz"):
        embedded.fashion_mnist(root=str(tmp_path / "partial"))


def test_fashion_mnist_truncated_idx_is_reported(tmp_path):
    import gzip

    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        with gzip.open(tmp_path / name, "wb") as fh:
            fh.write(bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\0" * 10)
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: header says shape"):
        embedded.fashion_mnist(root=str(tmp_path))


# --- the user's own images -------------------------------------------------------------------

def write_image(path: Path, value: int = 128, size=(6, 5), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, value, 0)).save(path)
    return path


def make_classes(root: Path, counts: dict[str, int], ext=".png") -> None:
    for cls, n in counts.items():
        for i in range(n):
            write_image(root / cls / f"{i}{ext}", value=i * 10)


def test_image_folder_class_folders_split_70_15_15(tmp_path):
    make_classes(tmp_path, {"cat": 10, "dog": 10})
    (tmp_path / "cat" / "notes.txt").write_text("not an image")  # ignored by suffix
    write_image(tmp_path / "dog" / ".hidden.png")  # hidden: ignored
    ds = image_folder(tmp_path)
    assert ds.label_names == ("cat", "dog") and ds.modality == "image"
    assert sizes(ds) == {"train": 14, "validation": 3, "test": 3}
    assert all(Path(p).is_file() and Path(p).suffix == ".png" for p in ds.splits["train"].inputs)
    again = image_folder(tmp_path)
    assert again.splits["test"].inputs == ds.splits["test"].inputs
    assert ds.info["layout"] == "class folders"


def test_image_folder_split_folders_and_labels_order(tmp_path):
    make_classes(tmp_path / "train", {"a": 4, "b": 3})
    make_classes(tmp_path / "val", {"a": 1, "b": 1}, ext=".jpg")
    make_classes(tmp_path / "test", {"b": 2})
    ds = image_folder(tmp_path, labels=["b", "a"])
    assert sizes(ds) == {"train": 7, "validation": 2, "test": 2}
    assert ds.label_names == ("b", "a") and ds.splits["test"].labels.tolist() == [0, 0]
    assert ds.info["carved"] == []
    flat = image_folder(tmp_path / "train", split=None)  # class folders only: split by seed
    assert sum(sizes(flat).values()) == 7


def test_image_folder_carves_missing_validation_from_train(tmp_path):
    make_classes(tmp_path / "train", {"a": 10, "b": 10})
    make_classes(tmp_path / "test", {"a": 2, "b": 2})
    ds = image_folder(tmp_path)
    assert sizes(ds) == {"train": 17, "validation": 3, "test": 4} and ds.info["carved"] == ["validation"]


def test_image_folder_verify_cost_is_small(tmp_path):
    make_classes(tmp_path, {"a": 100, "b": 100})
    import time

    start = time.perf_counter()
    image_folder(tmp_path)
    assert time.perf_counter() - start < 2.0  # 200 files; ~0.03 ms each when warm


@pytest.mark.parametrize("case, words", [
    ("corrupt", "b/bad.png"),
    ("truncated_png", "b/cut.png"),
    ("empty_class", "empty: class folder has no images"),
    ("no_classes", "no class folders"),
    ("bad_label", "label 'b' is not in the given labels"),
    ("unknown_test_class", "class 'c' has images in test but none in train"),
    ("mixed_layout", "mixes split folders"),
])
def test_image_folder_bad_data_names_the_problem(tmp_path, case, words):
    kw = {}
    if case == "no_classes":
        write_image(tmp_path / "loose.png")
    elif case == "unknown_test_class":
        make_classes(tmp_path / "train", {"a": 2})
        make_classes(tmp_path / "test", {"c": 1})
    elif case == "mixed_layout":
        make_classes(tmp_path / "train", {"a": 2})
        make_classes(tmp_path, {"cats": 1})
    else:
        make_classes(tmp_path, {"a": 2, "b": 2})
        if case == "corrupt":
            (tmp_path / "b" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
        elif case == "truncated_png":
            good = (tmp_path / "b" / "0.png").read_bytes()
            (tmp_path / "b" / "cut.png").write_bytes(good[: len(good) // 2])
        elif case == "empty_class":
            (tmp_path / "empty").mkdir()
        elif case == "bad_label":
            kw["labels"] = ["a"]
    with pytest.raises(DataError, match=words) as info:
        image_folder(tmp_path, **kw)
    assert str(tmp_path) in str(info.value)


def test_image_folder_missing_path(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        image_folder(tmp_path / "nope")


def write_manifest(path: Path, rows: list[dict], header=None) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        header = header or list(rows[0])
        lines = [",".join(header)] + [",".join(str(r.get(h, "")) for h in header) for r in rows]
        path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_manifest_happy_path_with_split_column(tmp_path, suffix):
    rows = []
    for i in range(6):
        write_image(tmp_path / "img" / f"{i}.png")
        rows.append({"file": f"img/{i}.png", "y": "dog" if i % 2 else "cat",
                     "split": ["train", "train", "train", "train", "val", "test"][i]})
    ds = manifest(write_manifest(tmp_path / f"m{suffix}", rows), path_column="file", label_column="y",
                  split_column="split")
    assert sizes(ds) == {"train": 4, "validation": 1, "test": 1} and ds.label_names == ("cat", "dog")
    assert ds.splits["train"].labels.tolist() == [0, 1, 0, 1]
    assert Path(ds.splits["test"].inputs[0]).is_absolute()


def test_manifest_without_split_and_with_root(tmp_path):
    for i in range(20):
        write_image(tmp_path / "data" / f"{i}.png")
    rows = [{"path": f"{i}.png", "label": i % 2} for i in range(20)]  # numeric labels, label 0 included
    ds = manifest(write_manifest(tmp_path / "m.jsonl", rows), root=tmp_path / "data")
    assert sizes(ds) == {"train": 14, "validation": 3, "test": 3} and ds.label_names == ("0", "1")


@pytest.mark.parametrize("case, words", [
    ("missing_file", r"m.csv:3: image .*gone.png does not exist"),
    ("bad_label", r"m.csv:2: label 'cow' is not in the given labels"),
    ("corrupt", r"bad.png \(.*m.csv:3\): not a readable image"),
    ("empty", r"m.csv: manifest is empty"),
    ("no_column", r"m.csv:2: no 'label' column"),
    ("bad_split", r"m.csv:2: split 'holdout' is not one of"),
])
def test_manifest_bad_data_names_file_and_row(tmp_path, case, words):
    write_image(tmp_path / "ok.png")
    rows = [{"path": "ok.png", "label": "cat", "split": "train"}, {"path": "ok.png", "label": "dog", "split": "test"}]
    kw = {"labels": ["cat", "dog"]}
    if case == "missing_file":
        rows[1]["path"] = "gone.png"
    elif case == "bad_label":
        rows[0]["label"] = "cow"
    elif case == "corrupt":
        (tmp_path / "bad.png").write_bytes(b"nope")
        rows[1]["path"] = "bad.png"
    elif case == "bad_split":
        rows[0]["split"] = "holdout"
        kw["split_column"] = "split"
    if case == "empty":
        (tmp_path / "m.csv").write_text("path,label\n")
    elif case == "no_column":
        write_manifest(tmp_path / "m.csv", rows, header=["path", "split"])
    else:
        write_manifest(tmp_path / "m.csv", rows)
    with pytest.raises(DataError, match=words):
        manifest(tmp_path / "m.csv", **kw)


def test_manifest_bad_json_and_format(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"path": "a.png", "label": "x"}\n{broken\n')
    write_image(tmp_path / "a.png")
    with pytest.raises(DataError, match=r"m.jsonl:2: not valid JSON"):
        manifest(tmp_path / "m.jsonl")
    (tmp_path / "m.txt").write_text("a.png x\n")
    with pytest.raises(DataError, match="use a .csv"):
        manifest(tmp_path / "m.txt")
