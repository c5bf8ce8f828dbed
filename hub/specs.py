"""Typed, torch-free descriptions of the components plugins provide.

A spec is everything the hub must know about a component *before* building it:
listing, validating a recipe, exporting and deploying all read specs, and only
training and export ever call the factory. Factories are therefore lazy
references (``"package.module:attr"``) or callables whose module defers heavy
imports, so that ``hub list`` never imports torch.

Specs are frozen: a plugin hands one to ``register`` and cannot change it
afterwards. :func:`validate_spec` runs at registration time, so a bad spec
marks its plugin broken instead of failing later in the middle of training.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from .errors import SpecError

#: A lazy reference ``"pkg.module:attr.attr"`` or a callable.
Factory = Union[str, Callable[..., Any]]

MODALITIES = ("image", "text")
WEIGHT_KINDS = ("package", "hf", "path")
WEIGHT_FORMATS = ("safetensors", "torch", "folder")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_REF_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class WeightSource:
    """One place pretrained weights may come from; a backbone lists several in order.

    ``kind`` decides how ``location`` is read:

    - ``"package"``: ``"module:attr.path"`` naming a zero-argument callable (or a
      string attribute) inside an installed package that returns a file or
      folder path. Works offline.
    - ``"hf"``: a Hugging Face repo id; ``filename`` inside it, pinned by
      ``revision``. Resolved through ``huggingface_hub`` (cache, offline mode).
    - ``"path"``: a local file or folder.

    What was published is pinned, and checked before anything is read (a mismatch is refused):
    ``sha256`` for a single file; ``files`` for a folder, a manifest of ``(relative path, sha256)``
    pairs naming every file the loader reads (a folder cannot be pinned by one hash of "whatever
    is in it": packages and caches add files of their own). ``revision`` pins a hub repo to a commit.
    """

    kind: str
    location: str
    filename: str | None = None
    revision: str | None = None
    sha256: str | None = None
    format: str = "safetensors"
    description: str = ""
    files: tuple[tuple[str, str], ...] = ()

    @property
    def pinned(self) -> bool:
        """Whether the bytes this source yields are fixed by a hash (``sha256`` or a ``files`` manifest)."""
        return bool(self.files) if self.format == "folder" else self.sha256 is not None


@dataclass(frozen=True)
class LayerGroup:
    """A named slice of a backbone, ordered input to output in ``layer_groups``.

    Freezing, gradual unfreezing and layer-wise learning rates work on groups,
    so the trainer needs no model-specific code: a parameter belongs to the
    group whose ``prefixes`` match the start of its name.
    """

    name: str
    prefixes: tuple[str, ...]


@dataclass(frozen=True)
class ImageInput:
    """How to turn a picture into the tensor the backbone expects (NCHW float)."""

    size: tuple[int, int] = (224, 224)
    channels: int = 3
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    color_order: str = "RGB"
    interpolation: str = "bilinear"
    crop_pct: float = 1.0


@dataclass(frozen=True)
class TextInput:
    """How to turn text into token ids; the tokenizer travels with every export.

    ``tokenizer`` is where its files come from: ``"weights"`` (beside the
    pretrained weights, as in a Hugging Face folder) or a lazy reference to a
    function returning a folder.
    """

    tokenizer: str = "weights"
    max_length: int = 128
    input_names: tuple[str, ...] = ("input_ids", "attention_mask")
    padding_side: str = "right"


@dataclass(frozen=True)
class BackboneSpec:
    """A pretrained feature extractor: input in, pooled features of ``feature_dim`` out.

    ``factory(weights=path_or_None, **options)`` builds the ``torch.nn.Module``
    (the hub resolves and verifies ``weights`` before calling it). The
    remaining fields are what later stages need without building it: the input
    contract for preprocessing and export, ``layer_groups`` for transfer
    strategies, ``weights`` for resolution, ``license`` and ``num_params`` for
    the model card.
    """

    name: str
    factory: Factory
    modality: str
    input: ImageInput | TextInput
    feature_dim: int
    layer_groups: tuple[LayerGroup, ...] = ()
    weights: tuple[WeightSource, ...] = ()
    license: str = "unknown"
    num_params: int | None = None
    family: str = ""
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    check: Factory | None = None

    @property
    def input_names(self) -> tuple[str, ...]:
        if isinstance(self.input, TextInput):
            return self.input.input_names
        return ("pixel_values",)


@dataclass(frozen=True)
class HeadSpec:
    """A trainable module mapping backbone features to task outputs.

    ``factory(in_features=..., out_features=..., **options)`` builds it; heads
    know nothing about backbones, so any head fits any backbone.
    """

    name: str
    factory: Factory
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    modalities: tuple[str, ...] = MODALITIES


@dataclass(frozen=True)
class TaskSpec:
    """What is learnt and how it is judged and exported.

    ``factory(num_classes=..., **options)`` builds the object that computes the
    loss and metrics during training. ``output_names`` and the dynamic batch
    axis go into the ONNX export; ``pipeline_tag`` into the model card.
    """

    name: str
    factory: Factory
    modalities: tuple[str, ...]
    loss: str
    metrics: tuple[str, ...]
    primary_metric: str
    pipeline_tag: str
    output_names: tuple[str, ...] = ("logits",)
    default_head: str = "linear"
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSpec:
    """A source of labelled (and optionally unlabelled) examples for a task.

    ``factory(**options)`` returns the dataset object. ``check`` (optional,
    torch-free) says whether its data is present on this machine, so ``hub
    list`` can tell the user what to install before they train.
    """

    name: str
    factory: Factory
    modality: str
    task: str
    splits: tuple[str, ...] = ("train", "validation", "test")
    label_names: tuple[str, ...] = ()
    description: str = ""
    license: str = "unknown"
    source: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    required_options: tuple[str, ...] = ()
    check: Factory | None = None


@dataclass(frozen=True)
class AugmentationSpec:
    """A training-time augmentation for one modality (contract 1.1).

    ``factory(input=contract, **options)`` returns a callable applied to each training batch
    on its device: ``aug(inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]``
    (inputs in the backbone's ``input_names`` order, already preprocessed).
    It never runs at evaluation or export time.
    """

    name: str
    factory: Factory
    modality: str
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AdaptationSpec:
    """A domain-adaptation method (contract 1.2): how training uses an unlabelled target domain.

    ``factory(feature_dim=int, num_classes=int, **options)`` returns a
    :class:`hub.adapt.AdaptationMethod`. The trainer stays one loop: a method
    may add modules (a domain discriminator), a loss over a source and a target
    feature batch, importance weights for source examples, or a pass over
    target data after training. ``needs_trainable_backbone`` is True for methods
    that act through backbone gradients (they cannot act on a frozen,
    feature-extraction backbone); ``needs_norm_layers`` for methods that act on
    normalisation statistics.
    """

    name: str
    factory: Factory
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    modalities: tuple[str, ...] = MODALITIES
    needs_trainable_backbone: bool = True
    needs_norm_layers: bool = False
    reference: str = ""


Spec = Union[BackboneSpec, HeadSpec, TaskSpec, DatasetSpec, AugmentationSpec, AdaptationSpec]

#: kind name -> spec class; the hook for kind K is ``register_{K}s``.
SPEC_TYPES: dict[str, type] = {
    "backbone": BackboneSpec,
    "head": HeadSpec,
    "task": TaskSpec,
    "dataset": DatasetSpec,
    "augmentation": AugmentationSpec,
    "adaptation": AdaptationSpec,
}


def resolve(ref: Factory) -> Any:
    """Import a lazy reference; callables are returned as they are."""
    if callable(ref):
        return ref
    module_name, _, attr_path = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    for attr in attr_path.split("."):
        obj = getattr(obj, attr)
    return obj


def ref_available(ref: Factory) -> bool:
    """Whether a lazy reference's top-level package is installed, without importing it."""
    if callable(ref):
        return True
    top = ref.partition(":")[0].split(".")[0]
    return importlib.util.find_spec(top) is not None


def run_check(spec: Spec) -> tuple[bool, str]:
    """Run a spec's optional availability check; a crashing check counts as unavailable."""
    check = getattr(spec, "check", None)
    if check is None:
        return True, ""
    try:
        ok, reason = resolve(check)()
    except Exception as exc:  # a check must never take listing down
        return False, f"availability check failed: {exc}"
    return bool(ok), str(reason)


def validate_spec(spec: Any, kind: str) -> None:
    """Raise :class:`SpecError` naming the field if ``spec`` is not a valid ``kind`` spec."""
    expected = SPEC_TYPES[kind]
    if not isinstance(spec, expected):
        raise SpecError(f"register_{kind}s got {type(spec).__name__}, expected hub.specs.{expected.__name__}")
    where = f"{kind} {spec.name!r}"
    if not isinstance(spec.name, str) or not _NAME_RE.match(spec.name):
        raise SpecError(
            f"{kind} name {spec.name!r} is invalid: use lowercase letters, digits, '.', '_' or '-' (max 64)"
        )
    _check_factory(spec.factory, f"{where}: factory")
    if getattr(spec, "check", None) is not None:
        _check_factory(spec.check, f"{where}: check")
    if not isinstance(spec.options, Mapping):
        raise SpecError(f"{where}: options must be a mapping of option name to default")
    modalities = [spec.modality] if hasattr(spec, "modality") else list(getattr(spec, "modalities", ()))
    for modality in modalities:
        if modality not in MODALITIES:
            raise SpecError(f"{where}: modality {modality!r} is not one of {', '.join(MODALITIES)}")
    if isinstance(spec, BackboneSpec):
        _validate_backbone(spec, where)
    elif isinstance(spec, TaskSpec):
        if spec.primary_metric not in spec.metrics:
            raise SpecError(f"{where}: primary_metric {spec.primary_metric!r} is not in metrics {spec.metrics}")
        if not spec.output_names:
            raise SpecError(f"{where}: output_names must name at least one output")
    elif isinstance(spec, DatasetSpec):
        missing = [o for o in spec.required_options if o not in spec.options]
        if missing:
            raise SpecError(f"{where}: required_options {missing} must also appear in options (default None)")


def _validate_backbone(spec: BackboneSpec, where: str) -> None:
    if not isinstance(spec.feature_dim, int) or spec.feature_dim <= 0:
        raise SpecError(f"{where}: feature_dim must be a positive int, got {spec.feature_dim!r}")
    if spec.num_params is not None and (isinstance(spec.num_params, bool) or not isinstance(spec.num_params, int)
                                        or spec.num_params <= 0):
        raise SpecError(f"{where}: num_params must be a positive int (the backbone's parameter count) or None, "
                        f"got {spec.num_params!r}")
    wanted = ImageInput if spec.modality == "image" else TextInput
    if not isinstance(spec.input, wanted):
        raise SpecError(f"{where}: a {spec.modality} backbone needs input={wanted.__name__}(...)")
    if isinstance(spec.input, ImageInput):
        image = spec.input
        if len(image.mean) != image.channels or len(image.std) != image.channels:
            raise SpecError(f"{where}: mean/std need {image.channels} values (one per channel)")
        if any(s <= 0 for s in image.std):
            raise SpecError(f"{where}: std values must be positive")
    names = [g.name for g in spec.layer_groups]
    if len(set(names)) != len(names):
        raise SpecError(f"{where}: layer group names repeat: {names}")
    for group in spec.layer_groups:
        if not isinstance(group, LayerGroup) or not group.prefixes:
            raise SpecError(f"{where}: layer_groups must be LayerGroup(name, prefixes) with at least one prefix")
    for source in spec.weights:
        if not isinstance(source, WeightSource):
            raise SpecError(f"{where}: weights must be WeightSource(...) entries")
        if source.kind not in WEIGHT_KINDS:
            raise SpecError(f"{where}: weight source kind {source.kind!r} is not one of {WEIGHT_KINDS}")
        if source.format not in WEIGHT_FORMATS:
            raise SpecError(f"{where}: weight format {source.format!r} is not one of {WEIGHT_FORMATS}")
        if source.sha256 is not None and not _SHA256_RE.match(source.sha256):
            raise SpecError(f"{where}: sha256 {source.sha256!r} is not 64 lowercase hex digits")
        _check_manifest(source, where)
        if source.kind == "package" and not _REF_RE.match(source.location):
            raise SpecError(f"{where}: a package weight source needs location 'module:attr', got {source.location!r}")
        if source.kind == "hf" and source.format != "folder" and not source.filename:
            raise SpecError(f"{where}: an hf weight source needs a filename (or format='folder')")


def _check_manifest(source: WeightSource, where: str) -> None:
    if source.format == "folder" and source.sha256 is not None:
        raise SpecError(f"{where}: a folder weight source is pinned by files=((path, sha256), ...), not sha256")
    if source.files and source.format != "folder":
        raise SpecError(f"{where}: files=... pins a folder; a {source.format} file is pinned by sha256")
    for entry in source.files:
        if not (isinstance(entry, tuple) and len(entry) == 2 and all(isinstance(x, str) for x in entry)):
            raise SpecError(f"{where}: files entries must be (relative path, sha256) pairs, got {entry!r}")
        rel, digest = entry
        parts = rel.split("/")
        if not rel or rel.startswith("/") or ".." in parts or "" in parts:
            raise SpecError(f"{where}: files path {rel!r} must be relative, inside the folder")
        if not _SHA256_RE.match(digest):
            raise SpecError(f"{where}: sha256 {digest!r} of {rel} is not 64 lowercase hex digits")


def _check_factory(ref: Any, where: str) -> None:
    if callable(ref):
        return
    if not isinstance(ref, str) or not _REF_RE.match(ref):
        raise SpecError(f"{where} must be a callable or 'package.module:attr', got {ref!r}")


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """A JSON-ready view of a spec (lazy references shown as strings)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(spec):
        out[f.name] = _jsonable(getattr(spec, f.name))
    if isinstance(spec, BackboneSpec):
        out["input"]["kind"] = spec.modality
    return out


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if callable(value):
        if hasattr(value, "__qualname__"):  # a function or class
            return f"{value.__module__}:{value.__qualname__}"
        return repr(value)  # a factory object: its repr names what it builds
    return value
