"""Factories the text specs point at; this module imports nothing heavy at import time.

The hub resolves the weights folder (config.json + model.safetensors +
tokenizer files) and passes it as ``weights``; the same folder gives the
tokenizer, so model and tokenizer always come from one source.
"""

from __future__ import annotations

from pathlib import Path

from hub.errors import WeightsError


def _folder(weights: Path | None, name: str) -> str:
    if weights is None:
        raise WeightsError(
            f"{name}: text backbones build from their pretrained folder (config and tokenizer), "
            "so pretrained = false is not supported; drop it from the recipe"
        )
    return str(weights)


def minilm(weights: Path | None = None, pooling: str = "mean"):
    from .models.encoder import Encoder

    return Encoder(_folder(weights, "minilm-l6"), pooling=pooling)


def smollm2(weights: Path | None = None, pooling: str = "last"):
    from .models.decoder import Decoder

    return Decoder(_folder(weights, "smollm2-135m"), pooling=pooling)


def smollm2_weights() -> Path:
    """The dequantised SmolLM2 folder, built once from the packaged GGUF (~20 s) and cached."""
    from .models.decoder import smollm2_folder

    return smollm2_folder()


def _dataset(name: str, data, splits: dict[str, list[int]] | None = None):
    import numpy as np

    from hub.data import Dataset, Split
    from hub.errors import DataError

    from .data import split_indices

    if len(data.texts) < 3:
        raise DataError(f"{data.source}: a text dataset needs at least 3 rows to split, found {len(data.texts)}")
    splits = splits or split_indices(data.texts)
    texts, labels = data.texts, np.asarray(data.labels, dtype=np.int64)
    return Dataset(
        name=name, modality="text", label_names=tuple(data.label_names),
        splits={k: Split([texts[i] for i in idx], labels[idx]) for k, idx in splits.items()},
        info={"source": data.source},
    )


def rotten_tomatoes(seed: int = 0, unlabelled: bool = False):
    """Rotten Tomatoes snippets; split by :func:`hub_text.data.split_indices` (seed 0: 3892/487/487).

    ``unlabelled = true`` adds the other movies' 7,887 reviews as the ``unlabelled`` split (no labels) —
    opt-in, because the pool changes what SSL pre-training reads and every stage key of the dataset."""
    from hub.data import Split

    from .data import rotten_tomatoes as load
    from .data import rotten_tomatoes_unlabelled, split_indices

    if not isinstance(unlabelled, bool):
        from hub.errors import DataError

        raise DataError(f"rotten-tomatoes: option unlabelled must be true or false, got {unlabelled!r}")
    data = load(None)
    dataset = _dataset("rotten-tomatoes", data, split_indices(data.texts, seed))
    if unlabelled:
        dataset.unlabelled = Split(rotten_tomatoes_unlabelled(data.texts), None)
    return dataset


def text_file(path: str | None = None, text_column: str = "text", label_column: str = "label",
              labels: list | None = None, seed: int = 0):
    """A labelled CSV/TSV/JSONL file, split 80/10/10 deterministically by text hash."""
    from .data import read_text_dataset, split_indices

    data = read_text_dataset(path, text_column=text_column, label_column=label_column, labels=labels)
    return _dataset(Path(path).stem, data, split_indices(data.texts, seed))
