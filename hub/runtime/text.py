"""Tokenisation with the ``tokenizers`` library alone (no torch, no transformers).

Training and deployment tokenise through this one class, from the same
``tokenizer.json``, so a deployed model sees exactly the ids it was trained
on. Each batch is padded to its longest sequence, not to ``max_length``:
padding decides text latency (MiniLM: 7.9 ms padded to 128 tokens, 1.3 ms
unpadded on the build machine).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class TextEncoder:
    """``encode(texts) -> {input_name: int64 array (batch, longest)}``."""

    def __init__(self, folder: str | Path, max_length: int, input_names: Sequence[str],
                 padding_side: str = "right") -> None:
        from tokenizers import Tokenizer

        folder = Path(folder)
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no tokenizer.json; a text model needs a fast tokenizer's files")
        self.tokenizer = Tokenizer.from_file(str(path))
        self.max_length = int(max_length)
        self.input_names = tuple(input_names)
        pad_token, pad_id = _pad_token(folder, self.tokenizer)
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.enable_padding(direction=padding_side, pad_id=pad_id, pad_token=pad_token)

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        if isinstance(texts, str):
            texts = [texts]
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is {type(text).__name__}, not str")
        encodings = self.tokenizer.encode_batch(list(texts))
        arrays = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return {name: arrays[name] for name in self.input_names}


def _pad_token(folder: Path, tokenizer) -> tuple[str, int]:
    """The pad token from tokenizer_config.json, else the tokenizer's own padding, else EOS."""
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    candidates = [config.get("pad_token"), (tokenizer.padding or {}).get("pad_token"), config.get("eos_token")]
    for token in candidates:
        if isinstance(token, dict):
            token = token.get("content")
        if token and tokenizer.token_to_id(token) is not None:
            return token, tokenizer.token_to_id(token)
    raise ValueError(f"{folder}: the tokenizer has no pad or eos token to pad batches with")
