"""The card's lead code: the e2e graph from Python and from Node, with no preprocessing code.

Why these lead: the e2e file takes a decoded image (uint8 RGB, channels-last, any size) and does
the resize, crop and normalisation inside the graph, so a deployer writes only "decode, run, read
the label" in any language. Each block runs as pasted against the repo's hub
(``tests/publish/test_card_snippets.py`` runs both, the Node one with onnxruntime-node and sharp
from npm, and compares their answers with ``hub.runtime``).
"""

from __future__ import annotations

from typing import Any


def _head(repo_id: str, revision: str, model_file: str, extra_import: str, setup: list[str], args: str) -> list[str]:
    """Imports, download of what the e2e graph needs, the session and the label names."""
    return ["```python", "import json", "", "import numpy as np", "import onnxruntime as ort",
            "from huggingface_hub import snapshot_download", extra_import, "",
            f'folder = snapshot_download("{repo_id}", revision="{revision}",',
            f'                           allow_patterns=["config.json", "{model_file}*", "samples/*"])', *setup,
            f'session = ort.InferenceSession(f"{{folder}}/{model_file}", {args}["CPUExecutionProvider"])',
            'labels = json.load(open(f"{folder}/config.json", encoding="utf-8"))["label_names"]', "", ""]


def python_block(repo_id: str, revision: str, config: dict[str, Any], sample: str | None, comment: str) -> str:
    model_file = config["e2e"]["file"]
    path = f'f"{{folder}}/{sample}"' if sample else '"your-image.png"'
    return "\n".join([
        *_head(repo_id, revision, model_file, "from PIL import Image, ImageOps", [], "providers="),
        "def predict(path):",
        '    """Any image file -> its label: decode to uint8 RGB (H, W, 3) at its own size; the graph does the rest."""',
        "    image = ImageOps.exif_transpose(Image.open(path))",
        '    if image.mode.startswith("I"):  # 16-bit grey PNG: keep the top 8 bits (convert() would clip at 255)',
        "        image = Image.fromarray((np.asarray(image).astype(np.uint32) >> 8).astype(np.uint8))",
        '    pixels = np.asarray(image.convert("RGB"))',
        '    probabilities, label_id = session.run(None, {"image": pixels[None]})',
        "    return labels[int(label_id[0])]", "", "",
        f"print(predict({path})){comment}", "```"])


def node_block(repo_id: str, revision: str, config: dict[str, Any], sample: str | None, comment: str) -> str:
    model_file = config["e2e"]["file"]
    source = f'await get("{sample}")' if sample else 'await readFile("your-image.jpg")'
    return "\n".join([
        "```javascript",
        "// npm install onnxruntime-node sharp   (Node 18+; save as main.mjs, run with node main.mjs)",
        'import ort from "onnxruntime-node";', 'import sharp from "sharp";',
        *([] if sample else ['import { readFile } from "node:fs/promises";']), "",
        f'const base = `${{process.env.HF_ENDPOINT ?? "https://huggingface.co"}}/{repo_id}/resolve/{revision}`;',
        "const get = async (file) => {",
        "  const response = await fetch(`${base}/${file}`);",
        "  if (!response.ok) throw new Error(`${file}: HTTP ${response.status}`);",
        "  return Buffer.from(await response.arrayBuffer());",
        "};",
        f'const session = await ort.InferenceSession.create(await get("{model_file}"));',
        'const labels = JSON.parse(await get("config.json")).label_names;',
        f"// decoded to uint8 RGB (H, W, 3) at its own size, EXIF orientation applied{comment.replace('  #', ';', 1)}",
        f'const {{ data, info }} = await sharp({source}).rotate().removeAlpha().toColourspace("srgb")',
        "  .raw().toBuffer({ resolveWithObject: true });",
        'const image = new ort.Tensor("uint8", data, [1, info.height, info.width, 3]);',
        "const { probabilities, label_id } = await session.run({ image });",
        "console.log(labels[Number(label_id.data[0])], Math.max(...probabilities.data).toFixed(3));",
        "```"])


def text_block(repo_id: str, revision: str, config: dict[str, Any], sample: str | None, comment: str) -> str:
    model_file = config["e2e"]["file"]
    text = f'open(f"{{folder}}/{sample}", encoding="utf-8").read()' if sample else '"your text"'
    return "\n".join([
        *_head(repo_id, revision, model_file, "from onnxruntime_extensions import get_library_path",
               ["options = ort.SessionOptions()",
                "options.register_custom_ops_library(get_library_path())  # the tokenizer op inside the graph"],
               "options, providers="),
        "def predict(text):",
        '    """One raw string -> its label (one text per call; the graph tokenizes and truncates)."""',
        '    probabilities, label_id = session.run(None, {"text": np.array([text])})',
        "    return labels[int(label_id[0])]", "", "",
        f"print(predict({text})){comment}", "```"])


def text_section(repo_id: str, revision: str, config: dict[str, Any], sample: str | None, comment: str) -> list[str]:
    """A text model's e2e graph: a raw string in, the tokenizer inside (onnxruntime-extensions)."""
    agreement = config["e2e"].get("top1_agreement")
    judged = (f" The validation gate ran it on the test split's raw texts: it agrees with PyTorch on "
              f"{agreement:.1%} of them." if isinstance(agreement, (int, float)) else "")
    return [
        "### End to end: a raw string in, probabilities out", "",
        f"`{config['e2e']['file']}` takes one text (a string tensor of shape `(1,)`) and tokenizes it inside "
        "the graph with onnxruntime-extensions' `BertTokenizer` op (truncation to `max_length` included). "
        "Outputs: `probabilities` and `label_id`; the names are `config.json`'s `label_names`. onnxruntime-web "
        "and -node have no extensions: in JavaScript use transformers.js (docs/deploy.md)." + judged, "",
        "Python (`pip install onnxruntime onnxruntime-extensions numpy huggingface_hub`):", "",
        text_block(repo_id, revision, config, sample, comment), ""]


def variants_line(config: dict[str, Any]) -> list[str]:
    """The smaller e2e graphs that passed the gate too (same contract), one line; none: nothing."""
    extra = (config.get("e2e") or {}).get("variants") or {}
    items = [f"`{v['file']}` ({name}, top-1 agreement {v['top1_agreement']:.1%})" for name, v in sorted(extra.items())
             if isinstance(v, dict) and v.get("file") and isinstance(v.get("top1_agreement"), (int, float))]
    return [f"Same contract, smaller, also gated: {', '.join(items)}.", ""] if items else []


def section(repo_id: str, revision: str, config: dict[str, Any], sample: str | None, comment: str) -> list[str]:
    """The "end to end" part of How to use: the contract in one paragraph, then Python and Node."""
    e2e = config["e2e"]
    if (e2e.get("input") or {}).get("dtype") == "string":
        return [*text_section(repo_id, revision, config, sample, comment), *variants_line(config)]
    agreement = e2e.get("top1_agreement")
    judged = (f" The validation gate ran it on the test split as image files: it agrees with PyTorch on "
              f"{agreement:.1%} of them." if isinstance(agreement, (int, float)) else "")
    return [
        "### End to end: a decoded image in, probabilities out", "",
        f"`{e2e['file']}` takes a decoded image — `uint8`, RGB, channels-last `(batch, height, width, 3)`, any "
        "height and width — and does the resize, crop and normalisation of `config.json`'s `preprocessing` "
        "inside the graph (Pillow's filter, matched to the last bit on almost every pixel). Outputs: "
        "`probabilities` `(batch, classes)` after softmax and `label_id` `(batch,)`; the names are "
        "`config.json`'s `label_names`. Grey or RGBA images: convert to RGB first." + judged, "",
        "Python (`pip install onnxruntime numpy pillow huggingface_hub`):", "",
        python_block(repo_id, revision, config, sample, comment), "",
        "Node:", "", node_block(repo_id, revision, config, sample, comment), "", *variants_line(config)]
