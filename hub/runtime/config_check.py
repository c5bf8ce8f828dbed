"""Shape checks for an export's ``config.json``, so a damaged or hostile file fails at load time.

``hub.runtime.load`` trusts nothing in the folder it opens: a config whose
``label_names`` is a string, whose image ``size`` is 0 or whose ``std`` is 0
would otherwise surface later, inside numpy or Pillow, as a traceback (or a
silent division by zero). Every problem here becomes one
:class:`~hub.runtime.session.RuntimeModelError` line naming the file and key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .session import RuntimeModelError

MAX_LABELS = 1_000_000
MAX_SIDE = 16_384  # pixels per side: larger would exhaust memory before any check could
MAX_LENGTH = 1 << 20  # tokens


def check_config(path: Path, config: dict[str, Any]) -> None:
    """Raise :class:`RuntimeModelError` (one line) unless ``config`` is usable by :func:`hub.runtime.load`."""
    def bad(key: str, what: str) -> RuntimeModelError:
        return RuntimeModelError(f"{path}: {key}: {what}; the export is damaged, re-export or re-download it")

    labels = config["label_names"]
    if not isinstance(labels, list) or not labels or not all(isinstance(n, str) for n in labels) \
            or len(labels) > MAX_LABELS:
        raise bad("label_names", f"must be a non-empty list of strings, got {_short(labels)}")
    modality = config["modality"]
    if modality not in ("image", "text"):
        raise bad("modality", f"must be 'image' or 'text', got {_short(modality)}")
    variants = config["variants"]
    if not isinstance(variants, dict) or not all(isinstance(v, dict) and isinstance(v.get("file", ""), str)
                                                 for v in variants.values()):
        raise bad("variants", "must map each variant name to an object with a 'file' path")
    formats = config.get("formats", {})
    if not isinstance(formats, dict) or not all(
            isinstance(f, dict) and isinstance(f.get("variants"), dict) and all(
                isinstance(v, dict) and isinstance(v.get("file"), str)
                and all(isinstance(x, str) for x in v.get("files", [])) for v in f["variants"].values())
            for f in formats.values()):
        raise bad("formats", "must map each runtime to {'variants': {name: {'file': path, ...}}}")
    preferred = config.get("preferred_variant")
    if preferred is not None and not isinstance(preferred, str):
        raise bad("preferred_variant", f"must be a variant name, got {_short(preferred)}")
    prep = config["preprocessing"]
    if not isinstance(prep, dict):
        raise bad("preprocessing", f"must be an object, got {_short(prep)}")
    if modality == "image":
        from .preprocess import check_contract

        try:
            contract = check_contract(prep)
        except (TypeError, ValueError) as exc:
            raise bad("preprocessing", str(exc).removeprefix("preprocessing contract: ")) from None
        if max(contract.size) > MAX_SIDE:
            raise bad("preprocessing.size", f"{contract.size} is larger than {MAX_SIDE} pixels per side")
        return
    max_length = prep.get("max_length")
    if isinstance(max_length, bool) or not isinstance(max_length, int) or not 1 <= max_length <= MAX_LENGTH:
        raise bad("preprocessing.max_length", f"must be an integer from 1 to {MAX_LENGTH}, got {_short(max_length)}")
    names = prep.get("input_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise bad("preprocessing.input_names", f"must be a non-empty list of strings, got {_short(names)}")
    if prep.get("padding_side", "right") not in ("left", "right"):
        raise bad("preprocessing.padding_side", f"must be 'left' or 'right', got {_short(prep.get('padding_side'))}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
