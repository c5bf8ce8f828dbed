"""zoo.toml budgets: loading is linear in the file size; nesting and size have limits (issue 10).

Before the fix a catalogue of 5000 valid entries took minutes (the line finder rescanned the
whole text for every entry) and deep nesting raised RecursionError. The timeout below is a
hang guard, far above the expected time, not a speed assertion.
"""

from __future__ import annotations

import pytest

from hub.errors import ZooError
from hub.zoo import MAX_DEPTH, load_catalogue

ENTRY = """
[entries.e{i}]
backbone = "efficientnet-lite0"
dataset = "digits"
description = "entry {i}"

[entries.e{i}.train]
epochs = 3
lr = 0.01
"""


@pytest.mark.timeout(120)
def test_five_thousand_entries_load_list_and_show(tmp_path, hub_cli):
    path = tmp_path / "zoo.toml"
    path.write_text("schema = 1\n" + "".join(ENTRY.format(i=i) for i in range(5000)))
    catalogue = load_catalogue(path)
    assert len(catalogue.entries) == 5000 and catalogue.entries["e4999"].line == 3 + 9 * 4999
    code, out, err = hub_cli("zoo", "list", "--zoo", path)
    assert code == 0, err
    assert len(out.splitlines()) == 5001
    code, out, err = hub_cli("zoo", "show", "e4999", "--zoo", path)
    assert code == 0 and f"{path}:{3 + 9 * 4999}" in out, err
    with pytest.raises(ZooError, match=rf"{path}:{3 + 9 * 4998 + 7}: entries.e4998.train.lr: must be a finite"):
        path.write_text(path.read_text().replace("lr = 0.01\n\n[entries.e4999]", "lr = nan\n\n[entries.e4999]"))
        load_catalogue(path)


@pytest.mark.parametrize("value", ["[" * 100_000 + "]" * 100_000, "{ a = " * 5000 + "1" + " }" * 5000])
def test_pathological_nesting_is_a_clean_error(tmp_path, hub_cli, one_clean_line, value):
    path = tmp_path / "zoo.toml"
    path.write_text(f'schema = 1\n[entries.x]\nbackbone = "efficientnet-lite0"\ndataset = "digits"\ntags = {value}\n')
    with pytest.raises(ZooError, match="nested too deeply|nested deeper than"):
        load_catalogue(path)
    code, _, err = hub_cli("zoo", "list", "--zoo", path)
    one_clean_line(code, err, expect="nested")


def test_nesting_just_past_the_limit_names_the_key(tmp_path):
    path = tmp_path / "zoo.toml"
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    path.write_text(f'schema = 1\n[entries.x]\nbackbone = "efficientnet-lite0"\ndataset = "digits"\ntags = {deep}\n')
    with pytest.raises(ZooError, match=rf"{path}:5: entries.x.tags: arrays or tables nested deeper than {MAX_DEPTH}"):
        load_catalogue(path)
    path.write_text(path.read_text().replace(deep, "[" * 2 + "]" * 2))
    with pytest.raises(ZooError, match="tags: must be a list of strings"):  # under the limit: the usual check
        load_catalogue(path)


def test_size_limit_is_configurable(tmp_path, monkeypatch, hub_cli, one_clean_line):
    path = tmp_path / "zoo.toml"
    path.write_text("schema = 1\n" + ENTRY.format(i=0))
    monkeypatch.setenv("HUB_ZOO_MAX_BYTES", "64")
    with pytest.raises(ZooError, match=r"bytes is over the 64-byte limit for a zoo catalogue; raise HUB_ZOO_MAX_BYTES"):
        load_catalogue(path)
    code, _, err = hub_cli("zoo", "list", "--zoo", path)
    one_clean_line(code, err, expect="64-byte limit")
    monkeypatch.setenv("HUB_ZOO_MAX_BYTES", "lots")
    with pytest.raises(ZooError, match="HUB_ZOO_MAX_BYTES='lots': must be a positive number"):
        load_catalogue(path)
    monkeypatch.delenv("HUB_ZOO_MAX_BYTES")
    assert list(load_catalogue(path).entries) == ["e0"]


def test_set_override_nesting_is_refused(tiny_hub, hub_cli, one_clean_line, tmp_path):
    code, _, err = hub_cli("train", "--backbone", "tiny-cnn", "--dataset", "digits", "--set",
                           "train.augment=" + "[" * 50_000 + "]" * 50_000, "--out", tmp_path / "run")
    one_clean_line(code, err, expect="nested deeper than")
    assert not (tmp_path / "run").exists()
