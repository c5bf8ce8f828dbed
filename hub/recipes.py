"""The recipe: one validated description of a training + export + publish job.

Each section is a frozen dataclass whose fields carry their own constraints
(``opt(...)`` metadata), so one definition gives defaults, validation, the
did-you-mean list and the documentation table in docs/zoo.md. A zoo.toml
entry and the CLI flags of ``hub train`` both end up as a :class:`Recipe`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STRATEGIES = ("feature-extraction", "fine-tune", "partial", "gradual-unfreeze", "lora")
QUANTIZE = ("int8-dynamic", "int8-static", "fp16")
FORMATS = ("onnx", "openvino", "litert")  # hub.exporting.formats.FORMATS (kept import-free here)


def opt(
    default: Any,
    *,
    kind: type | tuple[type, ...] | None = None,
    choices: tuple[Any, ...] | None = None,
    min: float | None = None,
    max: float | None = None,
    items: tuple[Any, ...] | None = None,
    help: str = "",
) -> Any:
    """A dataclass field with validation metadata; ``kind`` defaults to ``type(default)``."""
    meta = {
        "kind": kind or type(default),
        "choices": choices,
        "min": min,
        "max": max,
        "items": items,
        "help": help,
    }
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class EarlyStopping:
    metric: str = opt("val_loss", help="validation metric to watch (val_loss or val_<metric>)")
    patience: int = opt(3, min=1, help="epochs without improvement before stopping")
    mode: str = opt("auto", choices=("auto", "min", "max"), help="auto: min for losses, max otherwise")
    min_delta: float = opt(0.0, kind=(int, float), min=0)


@dataclass(frozen=True)
class TrainConfig:
    strategy: str = opt("feature-extraction", choices=STRATEGIES, help="transfer strategy")
    epochs: int = opt(10, min=1, max=100_000)
    batch_size: int = opt(64, min=1)
    lr: float = opt(1e-3, kind=(int, float), min=1e-12, max=10.0, help="learning rate of the head")
    optimizer: str = opt("adamw", choices=("adamw", "adam", "sgd"))
    momentum: float = opt(0.9, kind=(int, float), min=0, max=1)
    weight_decay: float = opt(0.01, kind=(int, float), min=0, help="not applied to norms and biases")
    layer_lr_decay: float = opt(1.0, kind=(int, float), min=1e-6, max=1, help="lr multiplier per layer group")
    trainable_groups: int = opt(1, min=1, help="partial: last N layer groups trainable")
    unfreeze_every: int = opt(1, min=1, help="gradual-unfreeze: one more group every K epochs")
    scheduler: str = opt("cosine", choices=("none", "cosine", "step"))
    warmup_epochs: float = opt(0, kind=(int, float), min=0)
    step_size: int = opt(10, min=1, help="step scheduler: epochs between decays")
    gamma: float = opt(0.1, kind=(int, float), min=0, max=1)
    label_smoothing: float = opt(0.0, kind=(int, float), min=0, max=0.99)
    mixup: float = opt(0.0, kind=(int, float), min=0, help="mixup alpha (images); 0 = off")
    l2sp: float = opt(0.0, kind=(int, float), min=0, help="L2-SP penalty toward the pretrained weights")
    grad_clip: float = opt(0.0, kind=(int, float), min=0, help="max gradient norm; 0 = off")
    class_balance: str = opt("none", choices=("none", "loss", "sampler"))
    early_stopping: EarlyStopping | None = opt(None, kind=EarlyStopping)
    augment: Any = opt("none", kind=(str, dict), help="augmentation component: a name, or a table with name and options; none = off")
    seed: int = opt(0, min=0)
    device: str = opt("auto", choices=("auto", "cpu", "cuda"))
    precision: str = opt("fp32", choices=("fp32", "bf16"))
    cache_features: bool = opt(True, help="feature-extraction: compute frozen features once")
    select: str = opt("best", choices=("best", "last"), help="which weights ship: the best validation epoch "
                      "(early_stopping.metric, else the task's primary metric) or the last")
    loggers: list = opt([], items=("tensorboard", "mlflow"), help="also log metrics to these (optional extras: "
                        "pip install 'zoohub[loggers]'); files go to RUN_DIR/tensorboard, RUN_DIR/mlruns")
    precise_bn: int = opt(2048, min=0, max=10_000_000, help="after each epoch in which batch-norm layers trained, "
                          "re-estimate their statistics on up to N training examples; 0 = off")
    lora_rank: int = opt(8, min=1, max=4096, help="lora: rank r of the adapters")
    lora_alpha: float = opt(16, kind=(int, float), min=1e-6, help="lora: scale alpha (updates are scaled by alpha/r)")
    lora_dropout: float = opt(0.0, kind=(int, float), min=0, max=0.99, help="lora: dropout on the adapter input")
    lora_targets: list = opt([], help="lora: module-name patterns to adapt; empty = the backbone family's default")


@dataclass(frozen=True)
class ExportConfig:
    opset: int = opt(18, min=9, max=23)
    quantize: list = opt([], items=QUANTIZE)
    formats: list = opt(["onnx"], items=FORMATS, help="formats to make and gate, each in its own runtime: onnx "
                        "(always), openvino, litert")
    target: str = opt("default", choices=("default", "edge", "ort-mobile"))
    atol: float = opt(1e-4, kind=(int, float), min=0)
    rtol: float = opt(1e-3, kind=(int, float), min=0)
    max_metric_drop: float = opt(1.0, kind=(int, float), min=0, help="accuracy budget in points")
    min_agreement: float = opt(0.0, kind=(int, float), min=0, max=1, help="top-1 agreement floor for every "
                               "variant; 0 = per-variant defaults (fp32 0.99, fp16 0.98, int8 0.95)")
    allow_few_samples: bool = opt(False, help="let the gate run on fewer than 50 held-out samples (weak check)")


@dataclass(frozen=True)
class PublishConfig:
    repo: str = opt("", help="Hub repo id namespace/name; empty: local default")
    private: bool = opt(False)
    revision: str = opt("main")
    tag: str = opt("")


@dataclass(frozen=True)
class AdaptConfig:
    """Domain adaptation toward an unlabelled target dataset (``[entries.X.adapt]``)."""

    method: Any = opt("", kind=(str, dict), help="adaptation component: a name (dann, coral, mmd, adabn, "
                      "instance-weighting, pseudo-label, mcc, fixmatch, shot), a table with name and options, or "
                      "auto (train candidates, choose one without target labels: docs/training.md)")
    target: Any = opt("", kind=(str, dict), help="target dataset: a name, or a table with name and options; "
                      "its labels are never used for training")
    weight: float = opt(1.0, kind=(int, float), min=0, max=1000, help="weight of the adaptation loss")
    strong_augment: Any = opt("strong", kind=(str, dict), help="augmentation component for the strong target "
                              "view of consistency methods (fixmatch); unused by the others")


@dataclass(frozen=True)
class DistillConfig:
    """Knowledge distillation from a teacher model (``[entries.X.distill]``)."""

    teacher: Any = opt("", kind=(str, list), help="the teacher: an export folder (`hub export`, ensembles too), a "
                       "hub repo namespace/name[@revision], or a run folder; or a list of them, whose probabilities "
                       "are averaged; each must have the dataset's labels")
    temperature: float = opt(2.0, kind=(int, float), min=0.05, max=100, help="softens both models' probabilities "
                             "in the distillation term (Hinton et al. 2015); the term is scaled by T^2")
    alpha: float = opt(0.5, kind=(int, float), min=0, max=1, help="weight of the distillation term; (1 - alpha) "
                       "weighs the cross-entropy on the labels")
    transfer: Any = opt("", kind=(str, dict), help="extra unlabelled data the teacher labels: a dataset name or "
                        "table; its labels are never read")
    views: int = opt(0, min=0, max=16, help="text only: this many perturbed copies of every training text (word "
                     "dropout and span sampling, after Tang et al. 2019) join the transfer data; the teacher labels "
                     "them")


@dataclass(frozen=True)
class ComponentRef:
    """A component chosen by name, with the options passed to its factory."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    name: str
    backbone: ComponentRef
    head: ComponentRef
    task: ComponentRef
    dataset: ComponentRef
    pretrained: bool = True
    #: starting weights from a `hub pretrain` output: "namespace/name@revision" or a local folder
    weights: str = ""
    #: overrides of the backbone's input contract: image_size (square) or max_length
    input_size: Mapping[str, int] = field(default_factory=dict)
    description: str = ""
    tags: tuple[str, ...] = ()
    train: TrainConfig = field(default_factory=TrainConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    adapt: AdaptConfig | None = None
    distill: DistillConfig | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class FieldError(ValueError):
    """A section value is wrong; ``path`` is the key path inside the section."""

    def __init__(self, path: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def build_section(cls: type, table: Any, path: tuple[str, ...]) -> Any:
    """Validate ``table`` against the dataclass ``cls`` and build it (defaults fill the gaps)."""
    if not isinstance(table, Mapping):
        raise FieldError(path, f"must be a table, got {_type_name(table)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise FieldError(path + (key,), unknown_key_message(key, fields))
        values[key] = check_value(fields[key], value, path + (key,))
    return cls(**values)


def check_value(f: dataclasses.Field, value: Any, path: tuple[str, ...]) -> Any:
    meta = f.metadata
    kind = meta["kind"]
    if dataclasses.is_dataclass(kind):
        if value is None and f.default is None:  # an optional section left out (as in Recipe.to_dict())
            return None
        return build_section(kind, value, path)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # TOML has real booleans; never let true/false pass as a number.
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise FieldError(path, f"must be {' or '.join(_type_label(k) for k in kinds)}, got {_type_name(value)} {value!r}")
    # nan passes every min/max comparison and inf every min: refuse both outright. Integers must fit the
    # int64 that torch and numpy take (a seed of 2**64 would crash deep inside torch.manual_seed).
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError(path, f"must be a finite number, got {value!r}")
    if type(value) is int and not -(2**63) <= value < 2**63:
        raise FieldError(path, f"must fit in a 64-bit integer (|x| < 2**63), got {value!r}")
    if meta["choices"] is not None and value not in meta["choices"]:
        raise FieldError(path, choice_message(value, meta["choices"]))
    if meta["min"] is not None and value < meta["min"]:
        raise FieldError(path, f"must be >= {meta['min']}, got {value!r}")
    if meta["max"] is not None and value > meta["max"]:
        raise FieldError(path, f"must be <= {meta['max']}, got {value!r}")
    if meta["items"] is not None:
        for item in value:
            if item not in meta["items"]:
                raise FieldError(path, choice_message(item, meta["items"]))
    return value


def unknown_key_message(key: str, known: Mapping[str, Any] | list[str]) -> str:
    names = sorted(known)
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(names)}"
    return f"unknown key {key!r}; {hint}"


def choice_message(value: Any, choices: tuple[Any, ...]) -> str:
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{value!r} is not one of {', '.join(repr(c) for c in choices)}{hint}"


def _type_label(kind: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false", list: "a list"}.get(
        kind, kind.__name__
    )


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "table"}.get(
        type(value), type(value).__name__
    )


SECTIONS: dict[str, type] = {"train": TrainConfig, "export": ExportConfig, "publish": PublishConfig}


#: The keys of a zoo entry's ``[ensemble]`` table (members trained and averaged by `hub run`).
ENSEMBLE_KEYS = ("members", "seeds", "weights")


def parse_ensemble_section(raw: Any) -> dict[str, Any]:
    """Shape-check an entry's ``ensemble`` table; errors carry the key path (zoo.py adds file:line)."""
    if not isinstance(raw, Mapping):
        raise FieldError(("ensemble",), "must be a table, e.g. ensemble = { seeds = [0, 1, 2] }")
    for key in raw:
        if key not in ENSEMBLE_KEYS:
            raise FieldError(("ensemble", key), unknown_key_message(key, list(ENSEMBLE_KEYS)))
    members, seeds = raw.get("members", []), raw.get("seeds", [])
    if not isinstance(members, list) or not all(isinstance(m, str) and m for m in members):
        raise FieldError(("ensemble", "members"), "must be a list of zoo entry names")
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                              for s in seeds):
        raise FieldError(("ensemble", "seeds"), "must be a list of integers >= 0 (train.seed of each member)")
    for key, values in (("members", members), ("seeds", seeds)):
        if len(set(values)) != len(values):
            raise FieldError(("ensemble", key), f"lists {sorted({v for v in values if values.count(v) > 1})} twice")
    count = len(members) + len(seeds)
    if count < 2:
        raise FieldError(("ensemble",), f"an ensemble needs at least two members (members + seeds), got {count}")
    weights = raw.get("weights")
    if weights is not None:
        if not isinstance(weights, list) or not all(
                isinstance(w, (int, float)) and not isinstance(w, bool) and w > 0 for w in weights):
            raise FieldError(("ensemble", "weights"), "must be a list of positive numbers")
        if len(weights) != count:
            raise FieldError(("ensemble", "weights"), f"{len(weights)} weights for {count} members "
                                                      "(members first, then one per seed)")
    return {"members": tuple(members), "seeds": tuple(seeds),
            "weights": tuple(float(w) for w in weights) if weights is not None else None}
