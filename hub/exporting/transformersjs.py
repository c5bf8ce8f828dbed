"""The fields and files transformers.js reads, beside ours, so ``pipeline()`` loads an export as it is.

Read from the source of ``@huggingface/transformers`` 4.3.2 (the version tests/js pins), not guessed:

- ``pipeline(task, repo)`` picks the model class from config.json's ``model_type`` (``AutoModelFor*``
  class mappings in ``models/registry.js``); without one it throws ``Unsupported model type: null``.
  ``vit`` (``ViTForImageClassification``) and ``bert`` (``BertForSequenceClassification``) are the
  generic classes: they run ``onnx/model{suffix}.onnx`` with the graph's own inputs (``pixel_values``;
  ``input_ids``, ``attention_mask``, ``token_type_ids`` zero-filled if the graph wants it) and read
  ``logits``. So ``model_type`` names transformers.js's dispatch, not the backbone's architecture
  (``backbone.family`` says that). ``architectures`` steers ``resolve_model_type`` to one encoder-only
  session. Labels come from ``id2label``, which config.json already has.
- The ONNX file is ``onnx/model.onnx`` for dtype ``fp32`` (Node's default device ``cpu``), but the
  browser's default device ``wasm`` asks for ``q8`` = ``model_quantized.onnx``, which no export has.
  ``transformers.js_config.dtype = "fp32"`` makes every device load the gated fp32 graph; ``dtype:
  "fp16"`` in ``pipeline()`` options loads ``model_fp16.onnx`` (float32 inputs and outputs) when kept.
  External data is looked up as ``model.onnx_data``, ours is ``model.onnx.data``: exports over the
  1 GiB external-data threshold do not load in transformers.js (a warning says so).
- Images: ``preprocessor_config.json`` with ``image_processor_type`` (``ViTImageProcessor`` is the
  base ``ImageProcessor``): convert RGB, resize, optional centre crop, rescale, normalise, optional
  RGB->BGR flip *after* normalising (so BGR means are written in RGB order). See :func:`preprocessor`
  for the mapping of our contract and where the pixels can still differ from ``hub.runtime``.
- Text: the tokenizer is loaded only if ``tokenizer_config.json`` exists; it truncates to, and pads
  with, that file's ``model_max_length``, ``padding_side`` and ``pad_token``, so those are set to what
  ``hub.runtime`` uses (:func:`tokenizer_config`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VERSION = "4.3.2"  # the transformers.js release this layout was read from (tests/js/package.json)
MODEL_TYPES = {"image": ("vit", "ViTForImageClassification"), "text": ("bert", "BertForSequenceClassification")}
PIPELINES = {"image": "image-classification", "text": "text-classification"}
PREPROCESSOR = "preprocessor_config.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
#: Pillow's resampling codes as transformers.js reads them (utils/image.js). In Node, 0/2/3 become
#: sharp ``affine`` (top-left aligned, no antialiasing, black beyond the right/bottom edge) and 1 becomes
#: sharp ``resize`` with lanczos3 (centre aligned, antialiased). Measured against Pillow's bilinear and
#: bicubic (mean |difference| in grey levels, 5 photos -> 224 px: lanczos 1.8 / 0.7, affine 4.3 / 4.8;
#: 8 px digits -> 128 px: lanczos 7, affine 35), so both map to 1; nearest stays nearest.
RESAMPLE = {"nearest": 0, "bilinear": 1, "bicubic": 1}


def unsupported(config: Mapping[str, Any]) -> str | None:
    """Why transformers.js cannot run this export the way ``hub.runtime`` does, or None if it can."""
    modality = config.get("modality")
    if modality not in PIPELINES or config.get("pipeline_tag") != PIPELINES[modality]:
        return f"task {config.get('pipeline_tag')!r} has no transformers.js pipeline mapped here"
    if "logits" not in config.get("output_names", ()):
        return "the graph has no 'logits' output, which transformers.js's classifiers read"
    if config.get("external_data"):
        return "its weights are ONNX external data, which transformers.js looks for as model.onnx_data"
    pre = config.get("preprocessing", {})
    if modality == "image" and float(pre.get("crop_pct") or 1.0) < 1 and len(set(_size(pre))) != 1:
        return "a non-square size with crop_pct < 1 (transformers.js can crop-resize only a shortest edge)"
    return None


def preprocessor(pre: Mapping[str, Any]) -> dict[str, Any]:
    """Our image contract (``config["preprocessing"]``) as transformers.js's ``ImageProcessor`` fields.

    ``crop_pct == 1`` resizes straight to ``size``; below 1 the shorter side goes to
    ``floor(size / crop_pct)`` and the centre ``size`` is cropped, as ``hub.runtime`` does for square
    sizes. What still differs (measured by tests/deploy and bench/transformersjs_agreement.py):

    - resampling: transformers.js has no resize that equals Pillow's; ``resample`` 1 (sharp's lanczos3
      ``resize``) is the closest in Node for our bilinear and bicubic (see :data:`RESAMPLE`), still a
      few grey levels off, most when upscaling tiny images (digits 8 -> 128 px); browsers draw on a
      canvas, which ignores ``resample`` altogether;
    - crop offsets: ``floor((new - size) / 2)`` where ``hub.runtime`` rounds (half to even), one pixel
      apart when the excess is 3, 7, 11, ... pixels; new sizes are floored after ``toFixed(2)``;
    - one-channel models: transformers.js can only keep a grey file grey (``do_convert_rgb`` off);
      a colour file fails its mean/std length check instead of being converted to luma;
    - 16-bit grey files: decoded by sharp/libvips, not by taking the top 8 bits.
    """
    height, width = _size(pre)
    channels = int(pre.get("channels") or len(pre["mean"]))
    bgr = str(pre.get("color_order", "RGB")).upper() == "BGR"
    mean, std = list(pre["mean"]), list(pre["std"])
    crop_pct = float(pre.get("crop_pct") or 1.0)
    fields: dict[str, Any] = {
        "image_processor_type": "ViTImageProcessor",
        "hub_note": "transformers.js's closest to config.json's preprocessing (resample 1: its only centre-aligned, "
                    "antialiased resize); hub.runtime follows config.json",
        "do_convert_rgb": channels == 3,
        "do_resize": True,
        "resample": RESAMPLE[str(pre.get("interpolation", "bilinear")).lower()],
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        # transformers.js normalises in RGB order and flips afterwards: our BGR-ordered values reversed
        "image_mean": mean[::-1] if bgr else mean,
        "image_std": std[::-1] if bgr else std,
        "do_flip_channel_order": bgr,
    }
    if crop_pct < 1:
        fields.update(size={"shortest_edge": math.floor(height / crop_pct)}, do_center_crop=True,
                      crop_size={"height": height, "width": width})
    else:
        fields.update(size={"height": height, "width": width}, do_center_crop=False)
    return fields


def tokenizer_config(existing: Mapping[str, Any], pre: Mapping[str, Any], pad_token: str) -> dict[str, Any]:
    """The backbone's tokenizer_config.json with the length, padding side and pad token ``hub.runtime`` uses.

    transformers.js truncates to ``model_max_length`` (MiniLM's file says 512; our contract may say
    32) and pads with ``pad_token``. Its truncation cuts the id list, so a text longer than
    ``max_length`` loses its final ``[SEP]`` where the ``tokenizers`` library keeps it: only such
    long texts can get other ids than in ``hub.runtime``.
    """
    config = dict(existing)
    config.update(model_max_length=int(pre["max_length"]), padding_side=pre.get("padding_side", "right"),
                  pad_token=pad_token)
    return config


def write_files(folder: Path, config: dict[str, Any]) -> list[str]:
    """Add the transformers.js fields to ``config`` and write its files into the export ``folder``.

    Returns the files written. An export transformers.js cannot run gets nothing (and a warning
    naming the reason), so ``pipeline()`` fails rather than answering differently from the gate.
    """
    reason = unsupported(config)
    if reason is not None:
        log.warning("not adding transformers.js files: %s", reason)
        return []
    modality = config["modality"]
    model_type, architecture = MODEL_TYPES[modality]
    config.update({"model_type": model_type, "architectures": [architecture],
                   "transformers.js_config": {"dtype": "fp32"}})
    pre = config["preprocessing"]
    if modality == "image":
        _write_json(folder / PREPROCESSOR, preprocessor(pre))
        return [PREPROCESSOR]
    from ..runtime.text import TextEncoder

    path = folder / TOKENIZER_CONFIG
    existing = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    encoder = TextEncoder(folder, pre["max_length"], pre["input_names"], pre.get("padding_side", "right"))
    _write_json(path, tokenizer_config(existing, pre, encoder.tokenizer.padding["pad_token"]))
    return [TOKENIZER_CONFIG]


def _size(pre: Mapping[str, Any]) -> tuple[int, int]:
    size = pre["size"]
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
