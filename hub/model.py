"""Compose backbone + head for a task from a recipe.

The composed :class:`HubModel` is what training, export and the validation
gate share: its ``forward`` takes the backbone's inputs positionally, in the
order of ``input_names``, so the same module traces straight to ONNX with the
task's input and output names.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import HubError, SpecError
from .recipes import Recipe
from .registry import Component, Registry
from .specs import BackboneSpec, ImageInput, TextInput, resolve
from .weights import load_pretrain_weights, resolve_pretrain_weights, resolve_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Components:
    """The four components a recipe names, resolved in the registry."""

    backbone: Component
    head: Component
    task: Component
    dataset: Component

    @property
    def backbone_spec(self) -> BackboneSpec:
        return self.backbone.spec  # type: ignore[return-value]


def components(recipe: Recipe, registry: Registry) -> Components:
    from .data_sources.refs import dataset_component  # hf:/parquet:/arrow: sources are components made on demand

    backbone = registry.get("backbone", recipe.backbone.name)
    return Components(
        backbone=backbone,
        head=registry.get("head", recipe.head.name),
        task=registry.get("task", recipe.task.name),
        dataset=dataset_component(registry, recipe.dataset.name, backbone.spec.modality),
    )


def check_feature_shape(spec: BackboneSpec, backbone: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
    """One eval-mode forward on a couple of real examples: a backbone must return ``(batch, feature_dim)``.

    Why before training: a wrong ``feature_dim`` otherwise surfaces in the head as torch's
    "mat1 and mat2 shapes cannot be multiplied", after the run folder was claimed.
    """
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            out = backbone(*inputs)
    except Exception as exc:
        raise SpecError(f"backbone {spec.name!r}: forward on {len(inputs[0])} real examples failed: "
                        f"{type(exc).__name__}: {exc}") from exc
    finally:
        backbone.train(was_training)
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] != spec.feature_dim:
        raise SpecError(f"backbone {spec.name!r} returns {shape} for a batch of {len(inputs[0])}, but its spec says "
                        f"(batch, feature_dim={spec.feature_dim}); fix feature_dim in the plugin's BackboneSpec "
                        "(or make forward return pooled features)")


class HubModel(nn.Module):
    """Backbone features -> head outputs; ``forward(*inputs)`` in ``input_names`` order."""

    def __init__(self, backbone: nn.Module, head: nn.Module, input_names: Sequence[str]) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.input_names = tuple(input_names)

    def features(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.backbone(*inputs)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(*inputs))


def input_contract(spec: BackboneSpec, recipe: Recipe) -> ImageInput | TextInput:
    """The backbone's input contract with the recipe's overrides (image_size, max_length)."""
    contract = spec.input
    if isinstance(contract, ImageInput) and "image_size" in recipe.input_size:
        side = recipe.input_size["image_size"]
        contract = dataclasses.replace(contract, size=(side, side))
    if isinstance(contract, TextInput) and "max_length" in recipe.input_size:
        contract = dataclasses.replace(contract, max_length=recipe.input_size["max_length"])
    return contract


def build_backbone(spec: BackboneSpec, options: dict[str, Any], pretrained: bool, weights_ref: str = "",
                   job: Any = None) -> nn.Module:
    """Build a backbone; with ``pretrained`` its weights are resolved and verified first.

    ``weights_ref`` (the recipe's ``backbone.weights``) replaces the spec's sources with a
    ``hub pretrain`` checkpoint, loaded strictly after the factory built the module (text
    backbones still build from their own folder, which holds the tokenizer). A
    :class:`hub.job.Job` given as ``job`` supplies what it already resolved.
    """
    if job is not None:
        named = job.named_weights if pretrained and weights_ref else None
        own = job.weights if pretrained and (named is None or spec.modality == "text") else None
        weights = own[0] if own else None
    else:
        named = resolve_pretrain_weights(weights_ref, spec) if pretrained and weights_ref else None
        weights = resolve_weights(spec)[0] if pretrained and (named is None or spec.modality == "text") else None
    try:
        module = resolve(spec.factory)(weights=weights, **options)
    except HubError:
        raise
    except Exception as exc:
        raise SpecError(f"backbone {spec.name!r}: its factory {spec.factory!r} failed: {type(exc).__name__}: {exc}") from exc
    actual = sum(p.numel() for p in module.parameters())
    if spec.num_params is not None and actual != spec.num_params:
        log.warning("backbone %r declares num_params=%d but the built module has %d parameters; fix num_params in "
                    "the plugin's BackboneSpec (`hub list` and cards show the declared count)",
                    spec.name, spec.num_params, actual)
    dim = getattr(module, "num_features", spec.feature_dim)
    if dim != spec.feature_dim:
        raise SpecError(
            f"backbone {spec.name!r} built with {dim} features but its spec says feature_dim={spec.feature_dim}; "
            "fix the plugin's spec"
        )
    if named is not None:
        load_pretrain_weights(module, named, spec)
    return module


def build_head(component: Component, options: dict[str, Any], in_features: int, out_features: int) -> nn.Module:
    try:
        return resolve(component.spec.factory)(in_features=in_features, out_features=out_features, **options)
    except HubError:
        raise
    except (TypeError, ValueError) as exc:
        raise SpecError(f"head {component.qualified_name!r}: {exc}") from exc


def build_task(component: Component, options: dict[str, Any], num_classes: int) -> Any:
    try:
        return resolve(component.spec.factory)(num_classes=num_classes, **options)
    except HubError:
        raise
    except (TypeError, ValueError) as exc:
        raise SpecError(f"task {component.qualified_name!r}: {exc}") from exc


def build_model(recipe: Recipe, comps: Components, num_classes: int, pretrained: bool | None = None,
                job: Any = None) -> HubModel:
    spec = comps.backbone_spec
    pretrained = recipe.pretrained if pretrained is None else pretrained
    backbone = build_backbone(spec, dict(recipe.backbone.options), pretrained, recipe.weights, job=job)
    head = build_head(comps.head, dict(recipe.head.options), spec.feature_dim, num_classes)
    return HubModel(backbone, head, spec.input_names)


def group_of(name: str, groups: Sequence[tuple[str, tuple[str, ...]]]) -> str | None:
    """The layer group a backbone parameter belongs to (longest matching prefix wins)."""
    best, best_len = None, -1
    for group, prefixes in groups:
        for prefix in prefixes:
            if name.startswith(prefix) and len(prefix) > best_len:
                best, best_len = group, len(prefix)
    return best


def check_layer_groups(spec: BackboneSpec, backbone: nn.Module) -> dict[str, list[str]]:
    """Map group -> parameter names; every parameter must fall into a group."""
    groups = [(g.name, g.prefixes) for g in spec.layer_groups]
    if not groups:
        return {"backbone": [n for n, _ in backbone.named_parameters()]}
    out: dict[str, list[str]] = {g: [] for g, _ in groups}
    orphans = []
    for name, _ in backbone.named_parameters():
        group = group_of(name, groups)
        (out[group] if group else orphans).append(name)
    if orphans:
        raise SpecError(
            f"backbone {spec.name!r}: parameters {orphans[:3]}{'...' if len(orphans) > 3 else ''} match no layer "
            "group prefix; fix the plugin's layer_groups"
        )
    return out
