"""The card (``README.md``) of a pre-training output, rendered from its ``pretrain.json`` alone.

It says honestly how the weights were made: which objective, which data (and whether labels
were read), how long, from which start. Like the export card it depends only on the folder's
files (no dates, no endpoint), so pushing the same folder twice is a no-op, and ``hub push``
renders it again with the repo id filled in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import INFO_FILE, WEIGHTS_FILE

OBJECTIVE_TEXT = {
    "simclr": "self-supervised SimCLR (NT-Xent over two augmented views of each image, a projection MLP "
              "that was dropped afterwards); **no labels were read**",
    "supervised": "supervised cross-entropy through a temporary linear head (dropped afterwards); "
                  "the dataset's labels were used",
}


def read_info(folder: Path) -> dict[str, Any]:
    try:
        info = json.loads((Path(folder) / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def render(folder: Path, repo_id: str | None = None, revision: str = "main") -> str:
    from huggingface_hub import ModelCard, ModelCardData

    info = read_info(folder)
    backbone, data, opts = info.get("backbone", {}), info.get("data", {}), info.get("options", {})
    name, objective, dataset = backbone.get("name", "unknown"), info.get("objective", "unknown"), data.get("dataset", "?")
    license_ = str(backbone.get("license") or "unknown").lower()
    tags = list(dict.fromkeys(t for t in ["zoohub", "backbone", "pretraining",
                                          "self-supervised" if objective == "simclr" else "supervised", objective,
                                          backbone.get("family"), name, "image-feature-extraction"] if t))
    meta = ModelCardData(library_name="pytorch", license=license_, tags=tags,
                         model_name=(repo_id or info.get("name") or name).split("/")[-1])
    start = info.get("start", {})
    start_text = ("random initialisation" if start.get("kind") == "random-init"
                  else f"weights from {start.get('kind')} `{start.get('location')}`")
    size = info.get("input", {}).get("size")
    rows = [("objective", objective), ("dataset", f"{dataset} ({data.get('split')} split, {data.get('images')} images)"),
            ("labels used", "yes" if data.get("labels_used") else "no"), ("start", start_text),
            ("epochs", info.get("epochs")), ("steps", info.get("steps")), ("batch size", opts.get("batch_size")),
            ("learning rate", opts.get("lr")), ("seed", info.get("seed")), ("input size", size)]
    if objective == "simclr":
        rows += [("temperature", opts.get("temperature")), ("projection dim", opts.get("projection_dim")),
                 ("augmentation", json.dumps(info.get("augmentation"), sort_keys=True))]
    curve = info.get("loss_curve") or []
    ref = repo_id or "NAMESPACE/NAME"
    body = [
        f"# {(repo_id or info.get('name') or name).split('/')[-1]}", "",
        f"Backbone weights for **{name}** made with `hub pretrain`: {OBJECTIVE_TEXT.get(objective, objective)}, "
        f"on **{dataset}** (license of the data: {data.get('license') or 'unknown'}; source: "
        f"{data.get('source') or 'unknown'}). The file holds the backbone only, in its own state-dict layout: "
        "no classifier, no projection head.", "",
        "## How it was made", "", "| setting | value |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in rows], "",
        "## Loss per epoch", "", " → ".join(f"{v:.4f}" for v in curve) if curve else "-", "",
    ]
    if info.get("reference_loss"):
        body += [f"For random features the NT-Xent loss is about log(2N-1) = {info['reference_loss']:.4f}.", ""]
    body += [
        "## How to use", "", "Name it as the starting weights of the backbone in a recipe (zoo.toml):", "",
        "```toml", f'backbone = {{ name = "{name}", weights = "{ref}@{revision}" }}', "```", "",
        f"or on the command line `--set backbone.weights={ref}@{revision}`. The hub downloads it at one commit, "
        f"checks every file against `hub_manifest.json` and the sha256 in `{INFO_FILE}`, and loads "
        f"`{WEIGHTS_FILE}` strictly into the backbone (safetensors only).", "",
        "## Integrity", "", f"sha256 of `{WEIGHTS_FILE}`: `{info.get('weights', {}).get('sha256', '?')}`", "",
        "## License", "", f"`{license_}`, the backbone architecture's; the training data's terms also apply.", "",
    ]
    return str(ModelCard(f"---\n{meta.to_yaml()}\n---\n\n" + "\n".join(body)))
