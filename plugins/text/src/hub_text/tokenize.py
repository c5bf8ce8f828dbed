"""Tokenisation for training and the tokenizer files that ship with an export.

Two rules drive this module:

* Pad each batch to its longest sequence, never to ``max_length``: on the
  build machine MiniLM took 7.9 ms for a sentence padded to 128 tokens and
  1.3 ms unpadded. Truncation still happens at ``max_length``.
* A deployer tokenises with the ``tokenizers`` library alone
  (``Tokenizer.from_file("tokenizer.json")``, no transformers, no torch). So
  the saved ``tokenizer.json`` carries the padding and truncation settings
  used at training time, and ``encode_batch`` on it gives the same ids and
  attention masks as :func:`tokenize_batch`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

#: Files written by :func:`save_tokenizer` that a deployer needs; others
#: (vocab.txt, chat_template.jinja, ...) are written too when the tokenizer has them.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def load_tokenizer(
    path_or_repo: str | os.PathLike[str], revision: str | None = None, pad_token: str | None = None
):
    """Load a fast (Rust-backed) tokenizer with ``AutoTokenizer``.

    Only fast tokenizers have a ``tokenizer.json`` that deployers can use, so a
    slow one is refused. ``pad_token`` is set when the tokenizer has none.

    Raises:
        ValueError: the tokenizer is not a fast one, or has no pad token and
            none was given.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path_or_repo), revision=revision)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"tokenizer at {path_or_repo!r} is not a fast tokenizer (no tokenizer.json), so "
            "it cannot be exported for onnxruntime deployment; use a model that ships tokenizer.json."
        )
    if tokenizer.pad_token is None:
        if pad_token is None:
            raise ValueError(
                f"tokenizer at {path_or_repo!r} has no pad token; pass pad_token= (e.g. its eos token)."
            )
        tokenizer.pad_token = pad_token
    return tokenizer


def _check_max_length(max_length: int) -> None:
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length must be an int >= 2, got {max_length!r}.")


def tokenize_batch(tokenizer: Any, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    """Tokenise ``texts`` into int64 tensors padded to the batch's longest sequence.

    Returns ``input_ids`` and ``attention_mask`` (and ``token_type_ids`` when the
    tokenizer produces them, as BERT's does), each ``[len(texts), L]`` with
    ``L <= max_length``.

    Raises:
        ValueError: empty batch, a text that is not a string, or a bad max_length.
    """
    _check_max_length(max_length)
    if isinstance(texts, str) or len(texts) == 0:
        raise ValueError(
            "tokenize_batch needs a non-empty list of strings, not a single string or an empty list."
        )
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"text {i} of the batch is {type(text).__name__}, not str.")
    encoded = tokenizer(
        list(texts), padding="longest", truncation=True, max_length=max_length, return_tensors="pt"
    )
    return {k: v.to(torch.int64) for k, v in encoded.items()}


def save_tokenizer(tokenizer: Any, folder: str | os.PathLike[str], max_length: int) -> list[Path]:
    """Write the tokenizer files into an export ``folder`` and return their paths.

    ``tokenizer.json`` gets padding (``BatchLongest``, the pad token, the
    tokenizer's padding side) and truncation (``max_length``, the tokenizer's
    truncation side) switched on, so ``tokenizers.Tokenizer.from_file`` alone
    reproduces :func:`tokenize_batch`. ``special_tokens_map.json`` is written
    explicitly because transformers 5 no longer writes it; deployers read it to
    find the pad/cls/eos tokens. ``model_max_length`` in tokenizer_config.json
    is set to ``max_length``.
    """
    _check_max_length(max_length)
    from tokenizers import Tokenizer

    if tokenizer.pad_token is None:
        raise ValueError("the tokenizer has no pad token; set one before saving it for export.")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = {Path(p).resolve() for p in tokenizer.save_pretrained(str(out)) if Path(p).is_file()}

    tok_json = out / "tokenizer.json"
    backend = Tokenizer.from_file(str(tok_json))
    backend.enable_padding(
        direction=tokenizer.padding_side, pad_id=int(tokenizer.pad_token_id), pad_token=tokenizer.pad_token
    )
    backend.enable_truncation(max_length=max_length, direction=tokenizer.truncation_side)
    backend.save(str(tok_json))

    special = {
        key: (value if isinstance(value, str) else [str(v) for v in value])
        for key, value in tokenizer.special_tokens_map.items()
    }
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2, ensure_ascii=False) + "\n")

    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["model_max_length"] = max_length
    config["pad_token"] = tokenizer.pad_token
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")

    written |= {(out / name).resolve() for name in TOKENIZER_FILES}
    return sorted(written)


def encode_with_tokenizers(
    folder: str | os.PathLike[str], texts: Sequence[str]
) -> dict[str, list[list[int]]]:
    """Tokenise like a deployer: ``tokenizers`` alone, from the saved files.

    Returns plain lists (``input_ids``, ``attention_mask``, ``token_type_ids``)
    so the caller decides on numpy or torch. Used by tests and by export
    validation to prove the shipped tokenizer matches training.
    """
    from tokenizers import Tokenizer

    backend = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    encodings = backend.encode_batch(list(texts))
    return {
        "input_ids": [e.ids for e in encodings],
        "attention_mask": [e.attention_mask for e in encodings],
        "token_type_ids": [e.type_ids for e in encodings],
    }
