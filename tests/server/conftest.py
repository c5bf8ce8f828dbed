"""Fixtures for the hub server tests: a real server on a free loopback port, and stock clients.

The huggingface_hub client reads ``HF_HOME`` and ``HF_HUB_DISABLE_XET`` when it is imported, so
they are set here before anything imports it; the constant is also forced in case another test
module imported the client first.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HOME"] = _HF_HOME = tempfile.mkdtemp(prefix="hub-server-hfhome-")  # never the user's tokens
atexit.register(shutil.rmtree, _HF_HOME, True)
for _var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
    os.environ.pop(_var, None)

import pytest  # noqa: E402
from huggingface_hub import HfApi, constants  # noqa: E402

from hub.server.serving import ServerHandle, start_background  # noqa: E402

TOKENS = {"alice-token": "alice", "bob-token": "bob"}


@pytest.fixture(scope="session", autouse=True)
def _no_xet() -> None:
    constants.HF_HUB_DISABLE_XET = True


def use_xet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The client as installed: hf_xet on (these tests turn it off by default), with its own chunk cache.

    hf_xet is a dependency of huggingface_hub here: imported, not skipped, so a missing one fails loudly
    instead of letting a Xet test pass over classic LFS."""
    import hf_xet  # noqa: F401

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path / f"xet-cache-{uuid.uuid4().hex[:6]}"))


@pytest.fixture
def with_xet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_xet(monkeypatch, tmp_path)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """One server for the session (starting one per test would dominate the runtime)."""
    data = tmp_path_factory.mktemp("hub-serve-data")
    handle = start_background(data, tokens=TOKENS, orgs={"team": {"alice"}})
    yield handle
    handle.stop()


@pytest.fixture
def alice(server: ServerHandle) -> HfApi:
    return HfApi(endpoint=server.url, token="alice-token")


@pytest.fixture
def bob(server: ServerHandle) -> HfApi:
    return HfApi(endpoint=server.url, token="bob-token")


@pytest.fixture
def anon(server: ServerHandle) -> HfApi:
    return HfApi(endpoint=server.url, token=False)


@pytest.fixture
def repo_id(alice: HfApi) -> str:
    """A fresh public repo owned by alice."""
    rid = f"alice/m-{uuid.uuid4().hex[:8]}"
    alice.create_repo(rid)
    return rid


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "hf-cache"


@pytest.fixture
def git_dir(server: ServerHandle):
    """Path of a repo's bare git repository inside the server's data folder."""

    def find(repo_id: str) -> Path:
        ns, name = repo_id.split("/")
        return server.data_dir / "repos" / "models" / ns / f"{name}.git"

    return find


@pytest.fixture(scope="session")
def small_hub_run(server: ServerHandle, tmp_path_factory: pytest.TempPathFactory):
    """``(repo, outcome)`` of one real ``hub run`` pushed to ``server``: a small CNN on digits (seconds), with
    lr 0.05 so its answers differ per image. Train, export + gate (its e2e graph, and the OpenVINO format
    the recipe asks for: LiteRT's converter process would add ~10 s, and the digits walkthrough pushes
    LiteRT files already), push (card, curves), verify; the web-page and widget tests read the same repo."""
    from hub import api

    out = tmp_path_factory.mktemp("small-run") / "run"
    repo = f"alice/small-{uuid.uuid4().hex[:6]}"
    saved = os.environ.get("HF_TOKEN")
    os.environ["HF_TOKEN"] = "alice-token"
    try:
        outcome = api.run(backbone="small-cnn", dataset="digits", out=out, repo=repo, endpoint=server.url,
                          progress=False, overrides=["backbone.pretrained=false", "backbone.image_size=16",
                                                     "train.epochs=3", "train.lr=0.05", "export.quantize=[]",
                                                     'export.formats=["onnx","openvino"]'])
    finally:
        os.environ.pop("HF_TOKEN") if saved is None else os.environ.__setitem__("HF_TOKEN", saved)
    return repo, outcome
