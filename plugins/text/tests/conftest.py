"""Text plugin tests run offline: nothing may be downloaded.

Set per test with monkeypatch, not at import time: an ``os.environ["HF_HUB_OFFLINE"] = "1"`` in a
test module stays for the whole pytest session (and huggingface_hub freezes it into
``constants.HF_HUB_OFFLINE`` when first imported), so publishing tests collected later would run
against an offline client without saying so.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # what is_offline_mode() and transformers read
