"""The docs cannot drift from the code they describe."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hub.recipes import AdaptConfig, DistillConfig, EarlyStopping, ExportConfig, PublishConfig, TrainConfig

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("section", [TrainConfig, EarlyStopping, ExportConfig, PublishConfig, AdaptConfig,
                                     DistillConfig])
def test_every_recipe_key_is_documented(section):
    text = (DOCS / "zoo.md").read_text()
    missing = [f.name for f in dataclasses.fields(section) if f"| `{f.name}` |" not in text]
    assert not missing, f"docs/zoo.md lacks {section.__name__} keys {missing}"


def test_every_hook_is_documented():
    from hub import hookspecs

    text = (DOCS / "plugins.md").read_text()
    hooks = [n for n in dir(hookspecs) if n.startswith("register_")]
    assert len(hooks) == 6
    assert all(f"`{h}(register)`" in text for h in hooks)


def test_cli_reference_is_generated_from_the_commands():
    from hub.cli.reference import render

    assert (DOCS / "cli-reference.md").read_text() == render(), (
        "docs/cli-reference.md is stale: python -m hub.cli.reference > docs/cli-reference.md")


def test_every_verb_has_a_reference_section():
    from hub.cli import cli

    text = (DOCS / "cli-reference.md").read_text()
    missing = [name for name in cli.commands if f"## `hub {name}`" not in text]
    assert not missing, missing
