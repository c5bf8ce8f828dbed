"""Fixtures for deployment tests: a real `hub serve` on loopback and a client environment of its own.

huggingface_hub reads ``HF_HOME`` when imported, so a throwaway one is set first (never the user's
token); the uploads go through whichever protocol the client picks, as for a user.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="hub-deploy-hfhome-"))
atexit.register(shutil.rmtree, os.environ["HF_HOME"], True)
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import pytest  # noqa: E402

from hub.server.serving import ServerHandle, start_background  # noqa: E402

TOKEN = "deploy-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    handle = start_background(tmp_path_factory.mktemp("deploy-serve"), tokens={TOKEN: "alice"})
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def client_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The pushing user's token, a private hub cache, and no ambient endpoint, for one module."""
    with pytest.MonkeyPatch.context() as patch:
        for var in ("HF_ENDPOINT", "HF_HUB_OFFLINE", "HUGGING_FACE_HUB_TOKEN", "HUB_HOME"):
            patch.delenv(var, raising=False)
        patch.setenv("HF_TOKEN", TOKEN)
        patch.setenv("HF_HUB_CACHE", str(tmp_path_factory.mktemp("deploy-hf-cache")))
        from huggingface_hub import constants

        patch.setattr(constants, "HF_HUB_CACHE", os.environ["HF_HUB_CACHE"])
        yield
