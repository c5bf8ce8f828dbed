"""What ``Model.encode``/``logits``/``predict`` accept, checked before anything runs.

Two kinds of input reach a deployed model: raw ones (strings, image files,
uint8 pixels), which go through the export's preprocessing, and inputs that a
caller already encoded (token ids from their own tokenizer call, a float32
NCHW batch from their own pipeline). Without a check the second kind is
misread: a ``{"input_ids": ...}`` mapping iterates as its key strings and gets
classified, and a float batch fails deep inside the image code. So encoded
inputs are recognised here, checked against the graph's declared inputs, and
anything else gets one message saying what the model wants.

An empty (or whitespace-only) text is refused: it tokenises to special tokens
alone and the model would still return a confident-looking label for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import HubError, InputError  # noqa: F401 (defined in hub.errors, importable here)


def check_texts(texts: Sequence[Any]) -> list[str]:
    """The texts of a batch, refusing non-strings and empty or blank strings (naming the index)."""
    out = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"text {i} is {type(text).__name__}, not str; pass strings, or a mapping of "
                             "already-encoded arrays {'input_ids': ..., 'attention_mask': ...}")
        if not text.strip():
            raise InputError(f"text {i} is empty{' (only whitespace)' if text else ''}: there is nothing to "
                             "classify, and the model would still answer with some label; drop it before predicting")
        out.append(text)
    return out


def _image_shape(contract: Mapping[str, Any]) -> tuple[int, int, int]:
    size = contract.get("size") or [224, 224]
    height, width = (size, size) if isinstance(size, int) else size[:2]
    return int(contract.get("channels") or len(contract.get("mean") or [0, 0, 0])), int(height), int(width)


def _image_wants(contract: Mapping[str, Any]) -> str:
    channels, height, width = _image_shape(contract)
    return (f"image files, PIL images or uint8 arrays (H, W[, C]) to preprocess, or an already-preprocessed float32 "
            f"batch (N, {channels}, {height}, {width}) or {{'pixel_values': that batch}}")


def encoded_feeds(inputs: Any, modality: str, contract: Mapping[str, Any],
                  graph_inputs: Sequence[Any]) -> dict[str, np.ndarray] | None:
    """Already-encoded ``inputs`` as checked feeds; ``None`` when they are raw inputs to preprocess.

    ``graph_inputs``: the session's ``get_inputs()`` (name, shape with ints or names for dynamic axes).
    """
    if isinstance(inputs, Mapping):
        arrays = dict(inputs)
    elif modality == "image" and isinstance(inputs, np.ndarray) and np.issubdtype(inputs.dtype, np.floating):
        arrays = {"pixel_values": inputs}
    elif modality == "text" and isinstance(inputs, np.ndarray) and np.issubdtype(inputs.dtype, np.integer):
        raise InputError("an integer array alone is ambiguous for a text model; pass strings, or a mapping "
                         f"{{{', '.join(repr(i.name) for i in graph_inputs)}: int64 arrays (batch, sequence)}}")
    else:
        return None
    feeds: dict[str, np.ndarray] = {}
    for spec in graph_inputs:
        if spec.name not in arrays:
            raise InputError(f"already-encoded inputs lack {spec.name!r}: the model needs "
                             f"{', '.join(repr(i.name) for i in graph_inputs)} (got {', '.join(map(repr, arrays))})")
        feeds[spec.name] = _check_array(spec, arrays[spec.name], modality, contract)
    extra = sorted(set(arrays) - set(feeds))
    if extra and modality == "image":
        raise InputError(f"unknown input(s) {extra}; the model takes {[i.name for i in graph_inputs]}")
    lengths = {a.shape[:2] if modality == "text" else a.shape[:1] for a in feeds.values()}
    if len(lengths) > 1:
        raise InputError(f"already-encoded inputs disagree in shape: {({k: v.shape for k, v in feeds.items()})}")
    return feeds


def _check_array(spec: Any, value: Any, modality: str, contract: Mapping[str, Any]) -> np.ndarray:
    array = np.asarray(value)
    if modality == "text":
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
            raise InputError(f"{spec.name!r} must be an integer array (batch, sequence), got {array.dtype} "
                             f"shape {array.shape}")
        return np.ascontiguousarray(array, dtype=np.int64)
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{spec.name!r} must be float32 (already normalised), got {array.dtype}; pass uint8 "
                         f"images without the mapping to have them preprocessed. The model takes "
                         f"{_image_wants(contract)}")
    if array.ndim != 4 or tuple(array.shape[1:]) != _image_shape(contract):
        raise InputError(f"{spec.name!r} has shape {array.shape}; the model takes {_image_wants(contract)}")
    return np.ascontiguousarray(array, dtype=np.float32)
