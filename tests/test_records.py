"""The shared row reader that every dataset plugin lists examples with."""

from __future__ import annotations

import gzip

import pytest

from hub.errors import DataError
from hub.records import read_records


def test_compressed_tsv_skips_blank_rows_and_keeps_line_numbers(tmp_path):
    path = tmp_path / "rows.tsv.gz"
    path.write_bytes(gzip.compress("path\tlabel\na.png\tcat\n\t\nb.png\tdog\n".encode()))
    assert [(line, r["label"]) for line, r in read_records(path)] == [(2, "cat"), (4, "dog")]


@pytest.mark.parametrize("name, content, message", [
    ("r.csv", "a,b\n1\n", r"r\.csv:2: fewer fields"),
    ("r.csv", "a\n1\n", r"r\.csv:1: no column 'b'"),
    ("r.jsonl", '{"a": 1}\n', r"r\.jsonl:1: no key 'b'"),
    ("r.txt", "a,b\n", r"r\.txt: cannot tell the format"),
])
def test_bad_rows_name_file_and_line(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=message):
        list(read_records(tmp_path / name, required=("a", "b")))
