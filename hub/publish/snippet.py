"""The model card's runnable code, generated from the export's own preprocessing contract.

Why generated, not templated: a card snippet that "almost" preprocesses like the runtime gives
wrong answers without any error (a card that resized straight to the input size, while
``config.json`` said bicubic with ``crop_pct`` 0.875, turned digit 0 into 4). So every value the
runtime uses (:mod:`hub.runtime.preprocess`, :class:`hub.runtime.text.TextEncoder`) is written into
the snippet from ``config.json["preprocessing"]``, and each step the runtime takes is spelled out in
the same order: 16-bit grey decoding, EXIF orientation, colour mode, resize with the contract's
interpolation and centre crop, normalisation, colour order; for text the exported tokenizer with
truncation to ``max_length`` and only the inputs the graph declares. ``tests/publish/
test_card_snippets.py`` runs every block of a generated card against ``hub serve`` and compares the
answers with ``hub.runtime`` on the whole test split.

The snippets read a sample that ships in the repo (``samples/``, written by the export), so they
run as pasted. Nothing here depends on an endpoint or a date: the same export renders the same code.
"""

from __future__ import annotations

import math
from typing import Any

from .snippet_e2e import section as e2e_section

PLAIN_IMAGE_PACKAGES = "onnxruntime numpy pillow huggingface_hub"
PLAIN_TEXT_PACKAGES = "onnxruntime numpy tokenizers huggingface_hub"
RUNTIME_PACKAGE = '"zoohub[runtime]"'


def sample_for(config: dict[str, Any], files: list[str]) -> tuple[str | None, str | None]:
    """(repo path, label) of the first shipped sample that is really in ``files``; ``(None, None)`` if none."""
    for entry in config.get("samples") or []:
        if isinstance(entry, dict) and entry.get("file") in files:
            return str(entry["file"]), (str(entry["label"]) if entry.get("label") is not None else None)
    return None, None


def install(modality: str) -> str:
    plain = PLAIN_TEXT_PACKAGES if modality == "text" else PLAIN_IMAGE_PACKAGES
    return "\n".join(["```bash", f"pip install {RUNTIME_PACKAGE}   # for `hub.runtime` (no torch)",
                      f"pip install {plain}   # for plain onnxruntime", "```"])


def _sample_expr(modality: str, sample: str | None, folder: str) -> str:
    if sample is None:
        return '"your-text"' if modality == "text" else '"your-image.png"'
    path = f'f"{{{folder}}}/{sample}"'
    return f'open({path}, encoding="utf-8").read()' if modality == "text" else path


def sample_answer(config: dict[str, Any], sample: str | None) -> str | None:
    """The model's own answer for a shipped sample, as the export recorded it (``None`` if not recorded)."""
    for entry in config.get("samples") or []:
        if isinstance(entry, dict) and entry.get("file") == sample and entry.get("predicted") is not None:
            return str(entry["predicted"])
    return None


def _comment(sample: str | None, label: str | None, answer: str | None = None) -> str:
    """Both labels, so a sample the model gets wrong reads as one of its test errors, not a broken model."""
    if sample is None:
        return "  # replace with your own input"
    truth = f"true label {label!r}" if label is not None else ""
    said = f"this model answers {answer!r}" if answer is not None else ""
    both = "; ".join(x for x in (truth, said) if x)
    return "  # a test-split example shipped in the repo" + (f" ({both})" if both else "")


def runtime_block(ref: str, modality: str, sample: str | None, label: str | None, answer: str | None = None) -> str:
    return "\n".join(["```python", "from hub.runtime import load", "",
                      f'model = load("{ref}")  # pin a version with "name@<tag or commit>"',
                      f"result = model.predict({_sample_expr(modality, sample, 'model.folder')})[0]"
                      + _comment(sample, label, answer),
                      'print(result["label"], round(result["score"], 3))', "```"])


def _head(repo_id: str, revision: str, model_file: str, extra_patterns: list[str]) -> list[str]:
    patterns = ["config.json", f"{model_file}*", *extra_patterns, "samples/*"]
    return [f'folder = snapshot_download("{repo_id}", revision="{revision}",',
            f"                           allow_patterns={patterns!r})",
            f'session = ort.InferenceSession(f"{{folder}}/{model_file}", providers=["CPUExecutionProvider"])',
            'labels = json.load(open(f"{folder}/config.json", encoding="utf-8"))["label_names"]']


def plain_block(repo_id: str, revision: str, config: dict[str, Any], modality: str, model_file: str,
                sample: str | None, label: str | None, answer: str | None = None) -> str:
    """Plain onnxruntime: download, preprocess exactly as the runtime does, ``predict(x) -> label``."""
    pre = config.get("preprocessing") or {}
    body = _text_code(pre) if modality == "text" else _image_code(pre)
    imports = ["import json", *(["import math"] if modality != "text" else []), "",
               "import numpy as np", "import onnxruntime as ort", "from huggingface_hub import snapshot_download"]
    imports += ["from tokenizers import Tokenizer"] if modality == "text" else ["from PIL import Image, ImageOps"]
    tokenizer = list(pre.get("tokenizer_files") or ["tokenizer.json"]) if modality == "text" else []
    lines = ["```python", *imports, "",
             *_head(repo_id, revision, model_file, tokenizer), "", *body, "", "",
             f"print(predict({_sample_expr(modality, sample, 'folder')})){_comment(sample, label, answer)}", "```"]
    return "\n".join(lines)


def _text_code(pre: dict[str, Any]) -> list[str]:
    max_length = int(pre.get("max_length", 128))
    return [
        'tokenizer = Tokenizer.from_file(f"{folder}/tokenizer.json")',
        "tokenizer.no_padding()  # one text at a time needs no padding (batches: pad to the longest)",
        f"tokenizer.enable_truncation({max_length})  # config.json preprocessing.max_length", "", "",
        "def predict(text):",
        "    if not text.strip():",
        '        raise ValueError("empty text: there is nothing to classify")',
        "    enc = tokenizer.encode(text)",
        '    arrays = {"input_ids": enc.ids, "attention_mask": enc.attention_mask, "token_type_ids": enc.type_ids}',
        "    feeds = {i.name: np.array([arrays[i.name]], dtype=np.int64) for i in session.get_inputs()}",
        "    logits = session.run(None, feeds)[0]",
        "    return labels[int(logits[0].argmax())]",
    ]


def _image_code(pre: dict[str, Any]) -> list[str]:
    size = pre.get("size") or [224, 224]
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    mean = [float(m) for m in (pre.get("mean") or [0.485, 0.456, 0.406])]
    std = [float(s) for s in (pre.get("std") or [0.229, 0.224, 0.225])]
    channels = int(pre.get("channels") or len(mean))
    interpolation = str(pre.get("interpolation") or "bilinear").lower()
    crop_pct = float(pre.get("crop_pct") or 1.0)
    resample = {"bilinear": "Image.BILINEAR", "bicubic": "Image.BICUBIC", "nearest": "Image.NEAREST"}[interpolation]
    mode = "L" if channels == 1 else "RGB"
    order = str(pre.get("color_order") or "RGB").upper()
    steps = [f"{interpolation}", f"{mode}"]
    if crop_pct < 1:
        cover_h, cover_w = math.floor(height / crop_pct), math.floor(width / crop_pct)
        steps.insert(0, f"cover {cover_h}x{cover_w} px, centre crop {height}x{width} (crop_pct {crop_pct:g})")
        resize = [
            f"    cover_h, cover_w = {cover_h}, {cover_w}  # floor(size / crop_pct): scale to cover, then centre crop",
            "    src_w, src_h = image.size",
            "    if cover_h * src_w >= cover_w * src_h:  # height binds",
            f"        new_h, new_w = cover_h, max({width}, src_w * cover_h // src_h)",
            "    else:",
            f"        new_h, new_w = max({height}, src_h * cover_w // src_w), cover_w",
            "    if (new_h, new_w) != (src_h, src_w):",
            f"        image = image.resize((new_w, new_h), {resample})",
            f"    top, left = int(round((new_h - {height}) / 2.0)), int(round((new_w - {width}) / 2.0))",
            f"    image = image.crop((left, top, left + {width}, top + {height}))",
        ]
    else:
        steps.insert(0, f"straight to {height}x{width}")
        resize = [f"    if image.size != ({width}, {height}):",
                  f"        image = image.resize(({width}, {height}), {resample})"]
    if channels == 1:
        layout = ["    x = ((np.asarray(image, np.float32) / 255 - MEAN) / STD)[..., None]  # (H, W, 1)"]
    elif order == "BGR":  # mean and std are in the model's (BGR) order
        layout = ["    x = (np.asarray(image, np.float32)[..., ::-1] / 255 - MEAN) / STD  # (H, W, C), BGR"]
    else:
        layout = ["    x = (np.asarray(image, np.float32) / 255 - MEAN) / STD  # (H, W, C)"]
    return [
        f"MEAN = np.array({mean}, np.float32)",
        f"STD = np.array({std}, np.float32)", "", "",
        "def preprocess(path):",
        f'    """config.json preprocessing: {", ".join(steps)}, (x / 255 - mean) / std, NCHW float32."""',
        "    image = Image.open(path)",
        '    sixteen_bit = image.mode.startswith("I;16") or (image.mode == "I" and image.format == "PNG")',
        "    image = ImageOps.exif_transpose(image)",
        "    if sixteen_bit:  # 16-bit grey: keep the top 8 bits (convert() would clip at 255)",
        "        image = Image.fromarray((np.asarray(image).astype(np.uint32) >> 8).astype(np.uint8))",
        '    elif image.mode in ("I", "F"):',
        "        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8))",
        '    elif image.mode == "P":',
        '        image = image.convert("RGBA" if "transparency" in image.info else "RGB")',
        f'    image = image.convert("{mode}")',
        *resize,
        *layout,
        "    return np.ascontiguousarray(x.transpose(2, 0, 1))[None]", "", "",
        "def predict(path):",
        '    logits = session.run(None, {session.get_inputs()[0].name: preprocess(path)})[0]',
        "    return labels[int(logits[0].argmax())]",
    ]


def usage(repo_id: str, revision: str, config: dict[str, Any], modality: str, model_file: str,
          files: list[str]) -> str:
    """The card's "How to use" body: install line, endpoint note, the e2e graph (when the repo has it),
    the hub runtime, and plain onnxruntime with the preprocessing spelled out as the fallback."""
    sample, label = sample_for(config, files)
    answer = sample_answer(config, sample)
    ref = repo_id if revision == "main" else f"{repo_id}@{revision}"
    endpoint = ("If this repo lives on a self-hosted hub (`hub serve`) rather than huggingface.co, point the "
                "client at it first: `export HF_ENDPOINT=http://HOST:PORT` (both `huggingface_hub` and "
                "`hub.runtime` read it). For huggingface.co, `hub.runtime` needs `HF_ENDPOINT=https://huggingface.co` "
                "or a token; without either it reads a local hub.")
    where = (f"They read `{sample}`, a test-split example shipped in this repo; pass your own "
             + ("string." if modality == "text" else "image file.")) if sample else \
        "This export ships no sample input; pass your own."
    e2e = config.get("e2e")
    lead = e2e_section(repo_id, revision, config, sample, _comment(sample, label, answer)) \
        if isinstance(e2e, dict) and e2e.get("file") in files else []
    fallback = "### With plain onnxruntime" + (" (the graph without preprocessing)" if lead else "")
    return "\n".join([
        "### Install", "", install(modality), "", endpoint, "", where, "", *lead,
        "### With the hub runtime", "", runtime_block(ref, modality, sample, label, answer), "",
        fallback, "",
        "The preprocessing below is generated from `preprocessing` in `config.json` and is the same, step by "
        "step, as `hub.runtime`'s (it gives the same answers on the test split).", "",
        plain_block(repo_id, revision, config, modality, model_file, sample, label, answer)])
