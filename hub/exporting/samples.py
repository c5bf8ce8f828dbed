"""Real examples for the validation gate, calibration and benchmarks.

The gate only means something on real held-out data: random inputs hide
quantisation damage that a real sentence or photo shows. Examples come from
the run's own dataset through the registry, and are turned into model inputs
by the deployment preprocessing (:mod:`hub.runtime.preprocess`,
:class:`hub.runtime.text.TextEncoder`), the very code that training used.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset, load_component
from ..errors import DataError

log = logging.getLogger(__name__)

Encoder = Callable[[Any], dict[str, np.ndarray]]


def load_dataset(info: Any, comps: Any) -> Dataset:
    """The run's dataset, built by its plugin with the recipe's options (validate, bench, ensembles)."""
    return load_component(comps.dataset, info.recipe.dataset.options)


def take(inputs: Any, index: np.ndarray) -> Any:
    return inputs[index] if hasattr(inputs, "shape") else [inputs[int(i)] for i in index]


def split_samples(dataset: Dataset, split: str, max_samples: int | None, seed: int = 0) -> tuple[Any, np.ndarray]:
    """Up to ``max_samples`` examples of ``split`` (a fixed seeded subset, so reruns agree)."""
    part = dataset.split(split)
    if part.labels is None or len(part) == 0:
        raise DataError(f"dataset {dataset.name!r}: the {split!r} split has no labelled examples to validate the "
                        "export on; give the dataset a labelled test split")
    if max_samples is not None and max_samples < 1:
        raise DataError(f"max_samples must be at least 1, got {max_samples}")
    labels = np.asarray(part.labels, dtype=np.int64)
    index = np.arange(len(labels))
    if max_samples is not None and len(index) > max_samples:
        index = np.sort(np.random.default_rng(seed).choice(len(index), size=max_samples, replace=False))
    return take(part.inputs, index), labels[index]


def make_encoder(contract: Any, input_names: tuple[str, ...], tokenizer_folder: Path | None) -> Encoder:
    """Raw examples -> ``{input_name: array}`` with the deployment preprocessing."""
    if "pixel_values" in input_names:
        from ..runtime.preprocess import preprocess_images

        mapping = dataclasses.asdict(contract) if dataclasses.is_dataclass(contract) else dict(contract)
        return lambda raw: {"pixel_values": preprocess_images(raw, mapping)}
    from ..runtime.text import TextEncoder

    if tokenizer_folder is None:
        raise DataError("a text model needs its tokenizer folder to encode validation samples")
    text = TextEncoder(tokenizer_folder, contract.max_length, input_names, contract.padding_side)
    return lambda raw: text.encode(list(raw))


def pad_to(arrays: dict[str, np.ndarray], length: int, pad_id: int) -> dict[str, np.ndarray]:
    """Right-pad text arrays to ``length`` (ids with ``pad_id``, masks and types with 0)."""
    out = {}
    for name, array in arrays.items():
        extra = length - array.shape[1]
        if extra <= 0:
            out[name] = array
            continue
        fill = pad_id if name == "input_ids" else 0
        out[name] = np.concatenate([array, np.full((array.shape[0], extra), fill, dtype=array.dtype)], axis=1)
    return out


def batches(raw: Any, labels: np.ndarray, encode: Encoder, batch_size: int,
            limit: int | None = None) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
    """Encoded batches of ``batch_size`` over the first ``limit`` examples."""
    n = len(labels) if limit is None else min(limit, len(labels))
    out = []
    for start in range(0, n, batch_size):
        index = np.arange(start, min(start + batch_size, n))
        out.append((encode(take(raw, index)), labels[index]))
    return out
