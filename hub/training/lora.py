"""LoRA adapters (through ``peft``) as a transfer strategy: ``train.strategy = "lora"``.

LoRA (Hu et al. 2021) keeps a pretrained weight ``W`` frozen and learns a
low-rank update: a wrapped layer computes ``W x + (alpha / r) * B A x`` with
``A: r x in`` (random init) and ``B: out x r`` (zero init, so training starts
from the pretrained model). Only ``A``, ``B`` and the task head train, which is
what makes fine-tuning a 135M-parameter decoder affordable on a laptop CPU.

How it fits the one trainer without changing its loop:

- :func:`attach` injects peft's LoRA layers into the backbone *in place*
  (``peft.LoraModel``, not ``get_peft_model``: the latter wraps the module and
  renames every parameter, which would break the backbone's layer-group
  prefixes). A wrapped ``query`` keeps its base weight as
  ``query.base_layer.weight`` and gains ``query.lora_A.default.weight`` ...
- :func:`split_groups` moves the adapter parameters out of the backbone's
  layer groups into one extra group, ``lora``; the strategy trains exactly that
  group (``Strategy.trainable``), so freezing, the optimiser's parameter groups,
  checkpoints and resume work unchanged: checkpoints simply hold the adapter
  tensors, and a resumed run rebuilds the same adapted model before loading them.
- :meth:`Adapter.merge` folds ``(alpha / r) * B @ A`` into ``W`` and removes the
  wrappers (peft's ``merge_and_unload``) before the final ``weights.safetensors``
  is written, so the run's weights are a plain backbone + head: export, the
  gate, the ONNX graph and ``hub.runtime`` never see an adapter.

Target layers are chosen by module-name patterns: an entry matches a module
whose dotted name equals it or ends with ``.<entry>`` (peft's own rule), or,
when it contains ``*?[``, matches it as a glob against the full name or the
last component. Only layer kinds peft can wrap *and merge* count: Linear,
Conv1d/2d/3d with ``groups == 1`` (peft cannot merge grouped convolutions),
Embedding and transformers' ``Conv1D``.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..errors import HubError, LoraError  # noqa: F401 (defined in hub.errors, importable here)
from ..recipes import TrainConfig

log = logging.getLogger(__name__)

GROUP = "lora"
ADAPTER = "default"
#: Default targets per backbone family: the attention query and value projections (the LoRA paper's choice).
DEFAULT_TARGETS: dict[str, tuple[str, ...]] = {
    "bert": ("query", "value"),
    "llama": ("q_proj", "v_proj"),
}
_KEYS = ("lora_rank", "lora_alpha", "lora_dropout", "lora_targets")


def check_config(cfg: TrainConfig) -> None:
    """Refuse ``lora_*`` keys with another strategy, and malformed targets (before anything is built).

    An error, not a warning: a recipe that says ``lora_rank = 4`` but fully
    fine-tunes would report numbers for a method it never ran.
    """
    defaults = TrainConfig()
    if cfg.strategy != GROUP:
        changed = [k for k in _KEYS if getattr(cfg, k) != getattr(defaults, k)]
        if changed:
            raise LoraError(f"train.{changed[0]} is set but strategy is {cfg.strategy!r}; lora_* keys act only with "
                            "strategy = \"lora\": set it, or remove " + ", ".join(f"train.{k}" for k in changed))
        return
    bad = [t for t in cfg.lora_targets if not isinstance(t, str) or not t.strip()]
    if bad:
        raise LoraError(f"train.lora_targets must be non-empty module-name strings, got {bad[0]!r}")


def targets_for(cfg: TrainConfig, spec: Any) -> tuple[str, ...]:
    """The recipe's patterns, else the backbone family's default (empty when there is none)."""
    if cfg.lora_targets:
        return tuple(cfg.lora_targets)
    return DEFAULT_TARGETS.get(str(getattr(spec, "family", "") or "").lower(), ())


def wrappable(module: nn.Module) -> bool:
    """Layers peft's LoRA can wrap and later merge back into one plain layer."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return module.groups == 1
    return isinstance(module, (nn.Linear, nn.Embedding)) or type(module).__name__ == "Conv1D"


def matches(name: str, pattern: str) -> bool:
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name.rsplit(".", 1)[-1], pattern)
    return name == pattern or name.endswith("." + pattern)


def find_targets(backbone: nn.Module, patterns: tuple[str, ...], where: str) -> list[str]:
    """Full names of the wrappable modules the patterns select; one clear error when none do."""
    layers = [n for n, m in backbone.named_modules() if n and wrappable(m)]
    chosen = [n for n in layers if any(matches(n, p) for p in patterns)]
    if chosen:
        return chosen
    leaves = list(dict.fromkeys(n.rsplit(".", 1)[-1] for n in layers))
    available = (f"its {len(layers)} adaptable layers are named {', '.join(leaves[:8])}"
                 f"{' ...' if len(leaves) > 8 else ''} (e.g. {layers[0]})") if layers else "it has no adaptable layers"
    if not patterns:
        raise LoraError(f"{where} has no default LoRA targets; set train.lora_targets to module-name patterns; "
                        + available)
    raise LoraError(f"train.lora_targets {list(patterns)} match no Linear/Conv/Embedding layer of {where}; "
                    f"{available}. Fix the patterns")


@dataclass
class Adapter:
    """The LoRA layers injected into one backbone, and what the run records about them."""

    tuner: Any  # peft.LoraModel, holding the backbone; never a submodule of the HubModel
    record: dict[str, Any] = field(default_factory=dict)
    merged: bool = False

    def merge(self) -> None:
        """Fold every adapter into its base weight and remove the wrappers (idempotent)."""
        if not self.merged:
            self.tuner.merge_and_unload(progressbar=False)
            self.merged = True


def attach(model: nn.Module, cfg: TrainConfig, spec: Any) -> Adapter | None:
    """Inject LoRA into ``model.backbone`` in place (None unless the strategy is ``lora``).

    Call it right after the model is built (same seed, same RNG draws), before
    layer groups, the optimiser or a checkpoint restore see the parameters.
    """
    if cfg.strategy != GROUP:
        return None
    from peft import LoraConfig, LoraModel

    patterns = targets_for(cfg, spec)
    where = f"backbone {spec.name!r} (family {getattr(spec, 'family', '') or 'unknown'!r})"
    names = find_targets(model.backbone, patterns, where)
    device = next(model.parameters()).device
    config = LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                        target_modules=names, bias="none")
    try:
        tuner = LoraModel(model.backbone, config, ADAPTER)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise LoraError(f"peft could not add LoRA to {where}: {exc}") from exc
    model.to(device)
    trainable = sum(p.numel() for n, p in model.backbone.named_parameters() if is_adapter(n))
    head = sum(p.numel() for p in model.head.parameters())
    total = sum(p.numel() for p in model.parameters())
    record = {"rank": cfg.lora_rank, "alpha": cfg.lora_alpha, "dropout": cfg.lora_dropout,
              "scale": cfg.lora_alpha / cfg.lora_rank, "patterns": list(patterns),
              "targets": sorted(dict.fromkeys(n.rsplit(".", 1)[-1] for n in names)), "layers": names,
              "adapter_params": trainable, "trainable_params": trainable + head, "total_params": total}
    log.info("LoRA r=%d on %d layers (%s): %d trainable of %d", cfg.lora_rank, len(names),
             ",".join(record["targets"]), trainable + head, total)
    return Adapter(tuner, record)


def is_adapter(name: str) -> bool:
    return ".lora_" in name


def split_groups(groups: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Layer groups with the adapter parameters moved into one last group, ``lora`` (if there are any)."""
    out = {g: [n for n in names if not is_adapter(n)] for g, names in groups.items()}
    adapters = [n for names in groups.values() for n in names if is_adapter(n)]
    if adapters:
        out[GROUP] = adapters
    return out


__all__ = ["Adapter", "DEFAULT_TARGETS", "GROUP", "LoraError", "attach", "check_config",
           "find_targets", "split_groups", "targets_for"]
