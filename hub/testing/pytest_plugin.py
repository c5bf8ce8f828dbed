"""The hub's pytest plugin (entry point ``pytest11``): conformance checks as a fixture in any test suite.

Installed with the hub, so a plugin author's tests can simply ask for it::

    def test_acme_conforms(hub_conformance):
        hub_conformance("acme")                    # every component, export included
        hub_conformance("acme", export=False)      # without the ONNX part

It fails the test with every failed check listed (one line each), and returns all
results for further assertions. Nothing is imported until the fixture is used, so
pytest's start-up stays as fast as without the hub.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def hub_conformance() -> Callable[..., list[Any]]:
    def check(plugin: str, *, export: bool = True) -> list[Any]:
        from ..plugins import load_hub
        from .plugin_check import check_plugin

        results = check_plugin(plugin, load_hub(), export=export)
        failed = [c for c in results if c.status == "fail"]
        if failed:
            pytest.fail(f"{len(failed)} conformance check(s) failed for plugin {plugin!r}:\n"
                        + "\n".join(c.line() for c in failed), pytrace=False)
        return results

    return check
