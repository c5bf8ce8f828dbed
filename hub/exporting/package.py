"""What travels with an exported model: config.json, ONNX metadata, weights, run records, tokenizer.

A deployer gets one folder and needs nothing else: ``config.json`` says how to
preprocess inputs, what the outputs mean and which variants passed the gate;
the same facts sit in each ONNX file's ``metadata_props`` so a lone
``model.onnx`` still explains itself. The PyTorch weights (``model.safetensors``)
and ``run.json`` are copied too, so ``hub validate`` can rebuild the reference
model from the export folder alone.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..version import __version__
from ..runtime import CONFIG_FORMAT
from ..runtime.text import TOKENIZER_FILES
from . import transformersjs

WEIGHTS = "model.safetensors"
RUN_RECORDS = ("summary.json", "metrics.jsonl", "curves.png", "confusion.png")


def weights_source(info: Any, spec: Any) -> dict[str, Any]:
    """Where the pretrained backbone weights came from (run.json's record, else the spec's first source)."""
    recorded = info.backbone.get("weights") if isinstance(info.backbone, Mapping) else None
    if isinstance(recorded, Mapping):
        return dict(recorded)
    if not info.recipe.pretrained or not spec.weights:
        return {"kind": "none", "description": "trained from scratch"}
    source = spec.weights[0]
    return {"kind": source.kind, "location": source.location, "revision": source.revision,
            "sha256": source.sha256, "description": source.description}


def preprocessing(info: Any, tokenizer_files: Sequence[str]) -> dict[str, Any]:
    contract = dataclasses.asdict(info.input)
    contract = {k: list(v) if isinstance(v, tuple) else v for k, v in contract.items()}
    contract["kind"] = info.modality
    if info.modality == "text":
        contract["tokenizer_files"] = list(tokenizer_files)
    return contract


def build_config(info: Any, comps: Any, *, opset: int, input_names: Sequence[str], output_names: Sequence[str],
                 tokenizer_files: Sequence[str], external_data: bool) -> dict[str, Any]:
    """config.json without the variant results (added once the gate has run)."""
    spec = comps.backbone_spec
    labels = list(info.label_names)
    return {
        "format": CONFIG_FORMAT,
        "hub_version": __version__,
        "name": info.recipe.name,
        "task": comps.task.name,
        "pipeline_tag": comps.task.spec.pipeline_tag,
        "modality": info.modality,
        "label_names": labels,
        "id2label": {str(i): name for i, name in enumerate(labels)},
        "label2id": {name: i for i, name in enumerate(labels)},
        "preprocessing": preprocessing(info, tokenizer_files),
        "backbone": {"name": comps.backbone.name, "qualified_name": comps.backbone.qualified_name,
                     "family": spec.family, "num_params": spec.num_params,
                     "options": dict(info.recipe.backbone.options), "weights": weights_source(info, spec),
                     "base_model": info.backbone.get("base_model") if isinstance(info.backbone, Mapping) else None},
        "head": {"name": comps.head.name, "options": dict(info.recipe.head.options)},
        "dataset": {"name": comps.dataset.name, "license": comps.dataset.spec.license,
                    "options": dict(info.recipe.dataset.options)},
        "license": spec.license,
        "opset": opset,
        "input_names": list(input_names),
        "output_names": list(output_names),
        "dynamic_axes": {n: (["batch"] if n == "pixel_values" else ["batch", "sequence"]) for n in input_names},
        "external_data": external_data,
        "variants": {},
        "preferred_variant": "fp32",
    }


def add_transformersjs(dest: Path, config: dict[str, Any]) -> list[str]:
    """config.json's transformers.js fields and its files (``hub.exporting.transformersjs`` says why)."""
    return transformersjs.write_files(dest, config)


def metadata_props(config: Mapping[str, Any], variant: str) -> dict[str, str]:
    """The deployer-facing facts as ONNX ``metadata_props`` (strings; JSON for structures)."""
    keys = ("task", "pipeline_tag", "modality", "label_names", "preprocessing", "license", "opset",
            "input_names", "output_names", "hub_version", "ensemble")
    props = {f"hub.{k}": v if isinstance(v, str) else json.dumps(v, sort_keys=True)
             for k, v in config.items() if k in keys}
    props["hub.backbone"] = config["backbone"]["name"]
    props["hub.weights_source"] = json.dumps(config["backbone"]["weights"], sort_keys=True)
    props["hub.variant"] = variant
    return props


def copy_run_files(run_dir: Path, dest: Path, weights: str) -> list[str]:
    """Weights as model.safetensors, run.json and whichever run records exist."""
    copied = []
    shutil.copy2(run_dir / weights, dest / WEIGHTS)
    copied.append(WEIGHTS)
    for name in ("run.json",) + RUN_RECORDS:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, dest / name)
            copied.append(name)
    return copied


def copy_tokenizer(folder: Path, dest: Path) -> list[str]:
    """The fast-tokenizer files from the backbone's weights folder (tokenizer.json is required)."""
    from ..errors import ExportError

    if not (folder / "tokenizer.json").is_file():
        raise ExportError(f"{folder}: no tokenizer.json beside the backbone weights; a text export needs it")
    copied = []
    for name in TOKENIZER_FILES:
        if (folder / name).is_file():
            shutil.copy2(folder / name, dest / name)
            copied.append(name)
    return copied


SAMPLES = "samples"


def write_samples(dest: Path, raw: Any, labels: Sequence[int], label_names: Sequence[str], modality: str,
                  count: int = 3) -> list[dict[str, Any]]:
    """A few test-split examples as ``samples/<i>.png`` or ``samples/<i>.txt``; their config.json entries.

    Why: the model card's code must run as pasted, so it needs an input that exists; a real
    held-out example (one per class first) also shows a deployer what the model was trained on.
    Images are written as lossless PNG of the decoded pixels (EXIF orientation applied, 16-bit grey
    kept), so the runtime sees the same pixels it would from the original file.
    """
    chosen: list[int] = []
    for i, label in enumerate(labels):  # the first example of each class, in order
        if len(chosen) < count and int(label) not in {int(labels[j]) for j in chosen}:
            chosen.append(i)
    folder = dest / SAMPLES
    folder.mkdir(exist_ok=True)
    entries = []
    for k, i in enumerate(chosen):
        item = raw[i]
        if modality == "text":
            name = f"{SAMPLES}/{k}.txt"
            (dest / name).write_text(str(item), encoding="utf-8")
        else:
            name = f"{SAMPLES}/{k}.png"
            _png(item).save(dest / name, format="PNG")
        entries.append({"file": name, "label": str(label_names[int(labels[i])])})
    return entries


def _png(item: Any) -> Any:
    """One dataset image (path, PIL image or uint8 array) as a PIL image PNG can store losslessly."""
    import numpy as np
    from PIL import Image, ImageOps

    if isinstance(item, (str, Path)):
        with Image.open(item) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened) if opened.getexif().get(0x0112, 1) != 1 else opened.copy()
    elif hasattr(item, "getpixel"):
        image = item
    else:
        array = np.asarray(item)
        image = Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array)
    return image if image.mode in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA") else image.convert("RGB")
