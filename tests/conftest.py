"""Shared fixtures: real plugin distributions on a temporary sys.path entry."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.plugins import set_hub
from hub.testing import write_plugin_dist

GOOD_PLUGIN = '''
    from hub.hookspecs import hookimpl
    from hub.specs import BackboneSpec, HeadSpec, ImageInput, LayerGroup

    HUB_CONTRACT = ">=1.0,<2"

    @hookimpl
    def register_backbones(register):
        register(BackboneSpec(
            name="tiny-cnn", factory="hubtest_tiny.model:build", modality="image",
            input=ImageInput(size=(32, 32)), feature_dim=16,
            layer_groups=(LayerGroup("stem", ("conv.",)), LayerGroup("proj", ("proj.",))),
            license="MIT", num_params=1234, description="A tiny CNN for tests.",
        ))

    @hookimpl
    def register_heads(register):
        register(HeadSpec(name="linear", factory="hubtest_tiny.model:head", options={"bias": True}))
'''


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Path]]:
    """Write plugin distributions into a folder on sys.path; forget them afterwards."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    written: list[str] = []

    def add(plugin_name: str, source: str, **kwargs) -> Path:
        module = kwargs.setdefault("module", f"hubtest_{plugin_name.replace('-', '_')}")
        written.append(module)
        write_plugin_dist(root, plugin_name, source, **kwargs)
        importlib.invalidate_caches()
        return root

    yield add
    for module in written:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()


@pytest.fixture(autouse=True)
def _fresh_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts without a cached hub and without plugin env switches."""
    for var in ("HUB_STRICT_PLUGINS", "HUB_DISABLE_PLUGINS", "HUB_DEBUG", "HUB_ZOO"):
        monkeypatch.delenv(var, raising=False)
    set_hub(None)
    yield
    set_hub(None)


@pytest.fixture(autouse=True)
def _own_feature_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test gets an empty on-disk feature cache (never the user's ~/.cache/hub/features)."""
    monkeypatch.setenv("HUB_FEATURE_CACHE_DIR", str(tmp_path / "feature-cache"))
    monkeypatch.delenv("HUB_FEATURE_CACHE", raising=False)
    monkeypatch.delenv("HUB_FEATURE_CACHE_MAX_BYTES", raising=False)
