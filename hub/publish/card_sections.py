"""Model-card sections that must say exactly what happened, read from the export's own records.

Why a module of its own: each of these once said something the run did not do. The card called
every model "fine-tuned" although feature extraction never changes the backbone; the recipe
table listed all ~25 training keys, most of them defaults or keys that had no effect with the
chosen strategy (``momentum`` without SGD, ``trainable_groups`` without ``partial``); the
``model-index`` gave a local dataset name where the Hub expects a Hub dataset id. Each function
takes plain dicts (``config.json``, ``run.json``'s recipe) and returns card text or values.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

HUB_TAG = "zoohub"
CORE_TRAIN_KEYS = ("strategy", "epochs", "batch_size", "lr")
#: training keys that never change the model (where it ran), left out of the card
NO_EFFECT = ("device",)


def _name(ref: Any) -> str:
    return str(ref.get("name", "")) if isinstance(ref, dict) else str(ref or "")


def _train(recipe: dict[str, Any]) -> dict[str, Any]:
    return recipe.get("train") if isinstance(recipe.get("train"), dict) else {}


def backbone_trained(recipe: dict[str, Any]) -> bool:
    """Whether any backbone weight changed in training (every strategy except feature extraction)."""
    return _train(recipe).get("strategy", "feature-extraction") != "feature-extraction"


def describe_training(task: str, modality: str, backbone: str, dataset: str, recipe: dict[str, Any]) -> str:
    """The card's first sentence: "fine-tuned" only when the backbone trained."""
    train = _train(recipe)
    strategy = train.get("strategy", "feature-extraction")
    pretrained = recipe.get("pretrained", True) is not False
    source = f"**{backbone}**" if pretrained else f"a randomly initialised **{backbone}** (no pretrained weights)"
    if strategy == "feature-extraction":
        how = (f"a new head trained on the frozen features of {source} (feature extraction: the backbone's "
               "weights were not changed)")
    elif strategy == "partial":
        n = int(train.get("trainable_groups", 1))
        how = f"fine-tuned from {source} (the last {n} layer group{'s' if n != 1 else ''} trained, the rest frozen)"
    elif strategy == "gradual-unfreeze":
        k = int(train.get("unfreeze_every", 1))
        how = (f"fine-tuned from {source} (layer groups unfrozen one at a time from the top, every "
               f"{k} epoch{'s' if k != 1 else ''})")
    else:
        how = f"fine-tuned from {source} (every layer trained)"
    adapt = recipe.get("adapt") if isinstance(recipe.get("adapt"), dict) else {}
    if _name(adapt.get("method")):
        how += f", with domain adaptation ({_name(adapt['method'])}) toward **{_name(adapt.get('target'))}**"
    return (f"A {task} model ({modality}): {how}, on **{dataset}**, by transfer learning with the hub "
            f"(`{HUB_TAG}`), exported to ONNX for edge deployment.")


def _defaults(cls: type) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _acted(key: str, train: dict[str, Any]) -> bool:
    """Whether training key ``key`` could have had an effect with the rest of ``train``."""
    strategy = train.get("strategy", "feature-extraction")
    rules = {
        "momentum": train.get("optimizer") == "sgd",
        "trainable_groups": strategy == "partial",
        "unfreeze_every": strategy == "gradual-unfreeze",
        "layer_lr_decay": strategy != "feature-extraction",
        "l2sp": strategy != "feature-extraction",
        "precise_bn": strategy != "feature-extraction",
        "cache_features": strategy == "feature-extraction",
        "step_size": train.get("scheduler") == "step",
        "gamma": train.get("scheduler") == "step",
    }
    return key not in NO_EFFECT and rules.get(key, True)


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def recipe_settings(recipe: dict[str, Any]) -> dict[str, Any]:
    """``setting -> value`` for the card: components, then only the keys that differ from the defaults
    and acted (plus strategy, epochs, batch size and learning rate, which always do)."""
    from ..recipes import AdaptConfig, ExportConfig, TrainConfig

    rows: dict[str, Any] = {}
    if recipe.get("name"):
        rows["recipe"] = recipe["name"]
    for key in ("backbone", "head", "task", "dataset"):
        ref = recipe.get(key)
        if ref:
            options = ref.get("options") if isinstance(ref, dict) else None
            rows[key] = _name(ref) + (f" {json.dumps(options, sort_keys=True)}" if options else "")
    for key, value in (recipe.get("input_size") or {}).items():
        rows[f"input.{key}"] = value
    if recipe.get("pretrained") is False:
        rows["pretrained"] = False
    train, defaults = _train(recipe), _defaults(TrainConfig)
    for key, value in train.items():
        if key in CORE_TRAIN_KEYS or (key in defaults and not _same(value, defaults[key]) and _acted(key, train)):
            rows[f"train.{key}"] = value
    for section, cls in (("export", ExportConfig), ("adapt", AdaptConfig)):
        values = recipe.get(section) if isinstance(recipe.get(section), dict) else {}
        base = _defaults(cls)
        for key, value in values.items():
            if key in base and not _same(value, base[key]):
                rows[f"{section}.{key}"] = value
    return rows


def model_index_dataset(dataset_id: str, name: str, on_hub: bool) -> tuple[str, str]:
    """(``dataset.type``, ``dataset.name``) for the model-index.

    The Hub reads ``type`` as a Hub dataset id and links to it. A dataset that is not on the Hub
    gets a ``zoohub:`` prefix, which no Hub id can contain, and a name that says so, instead of a
    bare name that could be (or later become) someone else's dataset.
    """
    if on_hub:
        return dataset_id, name
    return f"{HUB_TAG}:{dataset_id}", f"{name} (not a Hugging Face Hub dataset)"


def _preview(labels: list[str], limit: int = 10) -> str:
    shown = ", ".join(f"`{x}`" for x in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _input_sentence(pre: dict[str, Any], modality: str) -> str:
    if modality == "text":
        return (f"Texts are tokenised with the tokenizer shipped here and truncated to "
                f"{pre.get('max_length', '?')} tokens.")
    size = pre.get("size") or ["?", "?"]
    height, width = (size, size) if isinstance(size, int) else size[:2]
    mode = "grey" if int(pre.get("channels") or len(pre.get("mean") or [0, 0, 0])) == 1 else "RGB"
    crop = float(pre.get("crop_pct") or 1.0)
    resize = (f"scaled ({pre.get('interpolation', 'bilinear')}) to cover {math.floor(height / crop)}x"
              f"{math.floor(width / crop)} px and centre-cropped to {height}x{width}" if crop < 1
              else f"resized ({pre.get('interpolation', 'bilinear')}) to {height}x{width} px")
    return f"Images are converted to {mode}, {resize}, and normalised with the mean and std in `config.json`."


def intended_use(config: dict[str, Any], modality: str, dataset: str, labels: list[str]) -> list[str]:
    """"Intended use" and "Limitations" sections, from the labels, the contract and the gate's coverage."""
    pre = config.get("preprocessing") or {}
    what = "texts" if modality == "text" else "images"
    lines = ["## Intended use", "",
             f"Classifying {what} like those in **{dataset}** into its {len(labels) or 'known'} classes"
             + (f" ({_preview(labels)})" if labels else "") + ". " + _input_sentence(pre, modality)
             + " The model comes from a transfer-learning recipe; measure it on your own data before relying on "
               "it, and do not use it for decisions about people.", "",
             "## Limitations", ""]
    lines.append(f"- It knows only these {len(labels) or ''} classes: every input gets one of them, including inputs "
                 "unlike the training data; there is no \"none of these\" answer and a high score is no guarantee.")
    gate = config.get("gate") if isinstance(config.get("gate"), dict) else {}
    if gate.get("samples"):
        lines.append(f"- The ONNX files were checked against PyTorch on {gate['samples']} examples of the "
                     f"{gate.get('split', 'test')} split; the figures below are as precise as that count allows.")
    if modality == "text":
        lines.append(f"- Text past {pre.get('max_length', 'max_length')} tokens is cut off and never seen. "
                     "`hub.runtime` refuses empty strings rather than classify them.")
    else:
        crop = float(pre.get("crop_pct") or 1.0)
        if crop < 1:
            lines.append(f"- The centre crop drops about {(1 - crop) / 2 * 100:.0f}% of the picture at each border; "
                         "content there is not seen.")
        lines.append("- Detail finer than the input size above is lost in resizing.")
    variants = config.get("variants") or {}
    if any(name != "fp32" for name in variants):
        lines.append("- Quantised or reduced-precision variants can answer differently from fp32 on some inputs; "
                     "the validation table below gives their agreement.")
    return lines + [""]


def training_data_license(config: dict[str, Any], dataset: str) -> list[str]:
    """The training data's license: it can restrict a model's use beyond the weights' license."""
    ds = config.get("dataset") if isinstance(config.get("dataset"), dict) else {}
    license_ = str(ds.get("license") or "unknown")
    if license_.lower() == "unknown":
        text = (f"The license of the training data (**{dataset}**) is not recorded. Check its terms before "
                "redistributing this model or using it commercially.")
    else:
        text = (f"The training data, **{dataset}**, is licensed `{license_}`. Its terms can limit the use of this "
                "model in addition to the weights' license above.")
    return ["## Training data license", "", text, ""]
