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


# --- portability audit: int8 kernels that answer differently ------------------------------------
# onnxruntime's integer kernels give different answers on different CPUs (AVX2, AVX-512 VNNI, AMX):
# a test must never assume whether the gate keeps a quantised variant unless it set the tolerance
# that decides it. `pytest --int8-skew 0.5` moves the integer weights of every int8 variant the
# export makes (see _skew_int8), so that an int8 graph answers as if another CPU ran it, or far
# worse. Only in-process exports are affected (not subprocesses).


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--int8-skew", type=float, default=0.0, metavar="S",
                     help="portability audit: perturb every int8 variant's scales by up to S (e.g. 0.3)")


def _skew_int8(path: Path, spread: float, seed: int = 0) -> None:
    """Move each quantised weight by up to ``round(16 * spread)`` integer steps.

    The integers, not the scales: scales are tied together (a Conv's int32 bias scale is its input
    scale times its weight scale) and changing them would stop onnxruntime fusing the graph.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    rng = np.random.default_rng(seed)
    steps = max(1, round(16 * spread))
    for init in model.graph.initializer:
        if init.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8) and len(init.dims) >= 2:
            array = numpy_helper.to_array(init)
            info = np.iinfo(array.dtype)
            moved = array.astype(np.int32) + rng.integers(-steps, steps + 1, array.shape)
            init.CopyFrom(numpy_helper.from_array(np.clip(moved, info.min, info.max).astype(array.dtype), init.name))
    onnx.save(model, str(path))


@pytest.fixture(autouse=True, scope="session")
def _int8_skew(request: pytest.FixtureRequest) -> Iterator[None]:
    spread = request.config.getoption("--int8-skew")
    if not spread:
        yield
        return
    from hub.exporting import variants
    original = variants.make_variant

    def skewed(name, src, dst, **kwargs):
        out = original(name, src, dst, **kwargs)
        if name.startswith("int8"):
            _skew_int8(Path(out), spread)
        return out

    variants.make_variant = skewed
    try:
        yield
    finally:
        variants.make_variant = original


@pytest.fixture(scope="session")
def chromium():
    """``chromium(javascript=True)``: a headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven
    by selenium) that resolves only 127.0.0.1; a clear failure, never a silent skip, when not installed."""
    import shutil

    def launch(javascript: bool = True):
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        driver = shutil.which("chromedriver")
        if not binary or not driver:
            pytest.fail("the browser tests need Chromium and its driver: `make browser` "
                        "(apt-get install chromium chromium-driver) installs both")
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1600", "--enable-unsafe-swiftshader",
                    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
            options.add_argument(arg)
        if not javascript:
            options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        return webdriver.Chrome(service=Service(driver), options=options)

    return launch
