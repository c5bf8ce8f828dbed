"""The model card (``README.md``) of a published export, generated from the export's own files.

The metadata block is built with ``huggingface_hub.ModelCardData`` (never hand-written YAML), so
the Hub indexes it: ``library_name``, ``license`` (the backbone's), ``tags``, ``pipeline_tag``,
``base_model`` (the backbone's Hugging Face repo when its weights come from one), ``datasets``
(only when the dataset is known to be a Hub dataset repo, so the card never links to a missing
page) and a ``model-index`` with the measured test/validation metrics.

``library_name`` is ``"onnx"``: what a user downloads and runs is the ONNX model (plain
onnxruntime, no hub needed), and the Hub's library filter and snippets key on it; the hub's own
name goes into the tags (``zoohub``) so our repos stay findable as a family.

The card depends only on the export (no dates, no endpoint), so the same export always renders
the same card and a second push is recognised as a no-op.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LIBRARY_NAME = "onnx"
HUB_TAG = "zoohub"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _name(ref: Any) -> str:
    return str(ref.get("name", "")) if isinstance(ref, dict) else str(ref or "")


def base_model(backbone: dict[str, Any]) -> str | None:
    """The backbone's canonical HF repo id, from whichever shape the export recorded it in."""
    for key in ("base_model", "hf_repo", "repo_id"):
        if isinstance(backbone.get(key), str) and "/" in backbone[key]:
            return backbone[key]
    sources = backbone.get("weights", backbone.get("weights_source", backbone.get("source")))
    if isinstance(sources, (dict, str)):
        sources = [sources]
    for src in sources or []:
        if isinstance(src, str) and src.startswith(("hf:", "hf://")):
            return src.split(":", 1)[1].lstrip("/").split("@")[0] or None
        if isinstance(src, dict) and src.get("kind") == "hf" and "/" in str(src.get("location", "")):
            return str(src["location"])
    return None


def _metric_id(name: str) -> tuple[str, str]:
    """(metric_type, pretty name) for a summary key such as ``macro_f1``."""
    key = name.lower()
    if key in ("macro_f1", "f1_macro"):
        return "f1", "Macro F1"
    if key in ("micro_f1", "weighted_f1"):
        return "f1", key.replace("_", " ").title()
    return key, key.replace("_", " ").capitalize()


def _scalar_metrics(section: Any) -> dict[str, float]:
    if not isinstance(section, dict):
        return {}
    out = {k: v for k, v in section.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if isinstance(section.get("metrics"), dict):
        out.update(_scalar_metrics(section["metrics"]))
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list, tuple)):
        return "`" + json.dumps(value, sort_keys=True).replace("|", "\\|") + "`"
    return str(value).replace("|", "\\|") if value is not None else "-"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


REPORT_SKIP = ("file", "seconds", "samples", "max_rel_diff", "metric_resolution_points", "primary_metric")


def _report_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Rows per variant from report.json: gate verdict, diffs, and the primary metric torch vs ONNX.

    Accepts a list of variant entries or a mapping ``name -> entry``; nested ``metrics``
    (``{"pytorch": {...}, "onnx": {...}}``) are flattened to ``<metric> (pytorch|onnx)``.
    """
    variants = report.get("variants", report)
    if isinstance(variants, dict):
        variants = [{"variant": k, **v} for k, v in variants.items() if isinstance(v, dict)]
    if not isinstance(variants, list):
        return [], []
    rows: list[dict[str, Any]] = []
    for v in (v for v in variants if isinstance(v, dict)):
        row = {k: x for k, x in v.items() if k not in REPORT_SKIP and not isinstance(x, (dict, list))}
        metrics = v.get("metrics") if isinstance(v.get("metrics"), dict) else {}
        primary = v.get("primary_metric")
        for side, values in metrics.items():
            if isinstance(values, dict):
                for name, value in values.items():
                    if (primary is None or name == primary) and isinstance(value, (int, float)):
                        row[f"{name} ({side})"] = value
        rows.append(row)
    cols: list[str] = []
    for row in rows:
        cols += [k for k in row if k not in cols]
    first = next((c for c in ("variant", "name") if c in cols), None)
    if first:
        cols.remove(first)
        cols.insert(0, first)
    return cols, [[row.get(c) for c in cols] for row in rows]


def _gate_samples(report: dict[str, Any]) -> list[str]:
    """One line saying how many held-out samples the gate judged, and what one changed answer is worth."""
    facts = report.get("gate") if isinstance(report.get("gate"), dict) else {}
    count = facts.get("samples")
    if not isinstance(count, int):
        first = next((v for v in report.get("variants") or [] if isinstance(v, dict)), {})
        count = first.get("samples")
    if not isinstance(count, int) or count < 1:
        return []
    split = facts.get("split") or report.get("split") or "test"
    line = (f"Gate samples: **{count}** held-out examples of the `{split}` split (one changed answer = "
            f"{100.0 / count:.2g} points).")
    if str(facts.get("criterion", "")).startswith("failed"):
        line += " That is below the gate's floor and was allowed explicitly: treat these numbers as weak evidence."
    return [line, ""]


def _variants(config: dict[str, Any]) -> list[dict[str, Any]]:
    """config.json variants as ``[{"name", "file", ...}]`` (the export writes a name -> entry mapping)."""
    found = config.get("variants") or []
    if isinstance(found, dict):
        found = [{"name": k, **v} for k, v in found.items() if isinstance(v, dict)]
    return [v for v in found if isinstance(v, dict)]


def _dataset(config: dict[str, Any], recipe: dict[str, Any]) -> tuple[str, str, bool]:
    """(dataset id for the model-index, display name, whether the id is a Hugging Face dataset repo)."""
    ds = config.get("dataset") or recipe.get("dataset") or {}
    name = _name(ds) or "custom"
    source = ds.get("source") if isinstance(ds, dict) else None
    if isinstance(source, str) and source:
        source = source.split(":", 1)[1].lstrip("/") if source.startswith(("hf:", "hf://")) else source
        return source, name, "/" in source
    return name, name, "/" in name


def _usage(repo_id: str, revision: str, config: dict[str, Any], modality: str, model_file: str) -> str:
    """Loading snippets: the hub runtime, then plain onnxruntime with preprocessing from config.json."""
    pre = config.get("preprocessing") or {}
    ref = repo_id if revision == "main" else f"{repo_id}@{revision}"
    example = '["an example sentence"]' if modality == "text" else '["cat.jpg"]'
    head = ["```python", "from hub.runtime import load", "",
            f'model = load("{ref}")  # pin a version with "{repo_id}@<tag or commit>"',
            f"print(model.predict({example}))", "```"]
    plain = ["```python", "import json", "", "import numpy as np", "import onnxruntime as ort",
             "from huggingface_hub import snapshot_download"]
    if modality == "text":
        names = pre.get("input_names") or ["input_ids", "attention_mask"]
        fields = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
        feeds = ", ".join(f'"{n}": np.array([enc.{fields.get(n, "ids")}], dtype=np.int64)' for n in names)
        plain += ["from tokenizers import Tokenizer", "",
                  f'folder = snapshot_download("{repo_id}", revision="{revision}")',
                  f'session = ort.InferenceSession(f"{{folder}}/{model_file}")',
                  'tokenizer = Tokenizer.from_file(f"{folder}/tokenizer.json")',
                  f"tokenizer.enable_truncation({pre.get('max_length', 128)})",
                  'enc = tokenizer.encode("an example sentence")',
                  f"logits = session.run(None, {{{feeds}}})[0]"]
    else:
        height, width = (pre.get("size") or [224, 224])[:2]
        mean = list(pre.get("mean") or [0.485, 0.456, 0.406])
        std = list(pre.get("std") or [0.229, 0.224, 0.225])
        name = (config.get("input_names") or ["pixel_values"])[0]
        plain += ["from PIL import Image", "",
                  f'folder = snapshot_download("{repo_id}", revision="{revision}")',
                  f'session = ort.InferenceSession(f"{{folder}}/{model_file}")',
                  f'image = Image.open("cat.jpg").convert("RGB").resize(({width}, {height}), Image.BILINEAR)',
                  f"mean, std = np.array({mean}, np.float32), np.array({std}, np.float32)",
                  "x = (np.asarray(image, np.float32) / 255 - mean) / std  # HWC",
                  f'logits = session.run(None, {{"{name}": x.transpose(2, 0, 1)[None]}})[0]']
    plain += ['labels = json.load(open(f"{folder}/config.json"))["label_names"]',
              "print(labels[int(logits[0].argmax())])", "```"]
    return "\n".join(["### With the hub runtime", "", *head, "", "### With plain onnxruntime", "",
                      "Preprocessing values come from `preprocessing` in `config.json`.", "", *plain])


def render(export_dir: Path, files: list[str], repo_id: str, revision: str = "main") -> str:
    """The full ``README.md`` text for the export in ``export_dir`` published as ``repo_id``."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    root = Path(export_dir)
    config, run = _read_json(root / "config.json"), _read_json(root / "run.json")
    report, summary = _read_json(root / "report.json"), _read_json(root / "summary.json")
    recipe = run.get("recipe") if isinstance(run.get("recipe"), dict) else run
    backbone = config.get("backbone") if isinstance(config.get("backbone"), dict) else {}
    backbone_name = backbone.get("name") or _name(recipe.get("backbone")) or "unknown"
    task = str(config.get("task") or _name(recipe.get("task")) or "classification")
    pipeline_tag = config.get("pipeline_tag") or None
    modality = str(config.get("modality") or run.get("modality")
                   or ("text" if "tokenizer.json" in files else "image"))
    dataset_id, dataset_name, on_hub = _dataset(config, recipe)
    license_ = str(config.get("license") or backbone.get("license") or "unknown").lower()
    family = backbone.get("family") or str(backbone_name).split("-")[0]
    tags = list(dict.fromkeys(t for t in [task, modality, "onnx", "transfer-learning", HUB_TAG, family,
                                          str(backbone_name)] if t))

    evals = []
    for split in ("test", "validation", "val"):
        for key, value in _scalar_metrics(summary.get(split)).items():
            metric_type, pretty = _metric_id(key)
            if metric_type in ("loss", "epoch", "seconds", "time_s", "n", "count"):
                continue
            evals.append(EvalResult(task_type=pipeline_tag or task, dataset_type=dataset_id,
                                    dataset_name=dataset_name, dataset_split=split, metric_type=metric_type,
                                    metric_value=float(value), metric_name=f"{pretty} ({split})"))
    data = ModelCardData(library_name=LIBRARY_NAME, license=license_, tags=tags, pipeline_tag=pipeline_tag,
                         base_model=base_model(backbone), datasets=[dataset_id] if on_hub else None,
                         model_name=repo_id.split("/")[-1], eval_results=evals or None)

    variants = _variants(config)
    preferred = config.get("preferred_variant")
    fallback = "onnx/model.onnx" if "onnx/model.onnx" in files else next(f for f in files if f.endswith(".onnx"))
    model_file = next((v["file"] for v in variants if v.get("name") == preferred and v.get("file")), fallback)
    labels = config.get("label_names") or run.get("label_names") or []
    about = (f"A {task} model ({modality}) fine-tuned from **{backbone_name}** on **{dataset_name}** by transfer "
             f"learning with the hub (`{HUB_TAG}`), exported to ONNX for edge deployment.")
    body = [f"# {repo_id.split('/')[-1]}", "", about + (f" {len(labels)} classes." if labels else ""), ""]
    if variants:
        rows = [[v.get("name"), f"`{v.get('file')}`",
                 f"{v['size_bytes'] / 1e6:.1f}" if isinstance(v.get("size_bytes"), int) else "-",
                 v.get("latency_ms_p50", "-"), v.get("name") == preferred] for v in variants]
        body += ["## ONNX variants", "", _table(["variant", "file", "size (MB)", "latency p50 (ms)", "preferred"],
                                                rows), ""]
    body += ["## How to use", "", _usage(repo_id, revision, config, modality, model_file), ""]
    scalars = {**{k: _name(recipe.get(k)) for k in ("backbone", "head", "task", "dataset") if recipe.get(k)},
               **{f"train.{k}": v for k, v in (recipe.get("train") or {}).items()}}
    if recipe.get("name"):
        scalars = {"recipe": recipe["name"], **scalars}
    if scalars:
        body += ["## Training recipe", "", _table(["setting", "value"], [[k, v] for k, v in scalars.items()]), ""]
    cols, rows = _report_rows(report)
    if rows:
        body += ["## Validation of the exported models (ONNX vs PyTorch)", "", _table(cols, rows), ""]
        body += _gate_samples(report)
    metric_rows = [[split, k, v] for split in ("test", "validation", "val")
                   for k, v in _scalar_metrics(summary.get(split)).items()]
    if metric_rows:
        body += ["## Metrics", "", _table(["split", "metric", "value"], metric_rows), ""]
    for image, title in (("curves.png", "Training curves"), ("confusion.png", "Confusion matrix")):
        if image in files:
            body += [f"## {title}", "", f"![{image.split('.')[0]}]({image})", ""]
    if labels:
        body += ["## Labels", "", ", ".join(f"`{x}`" for x in labels[:200]) + (" ..." if len(labels) > 200 else ""), ""]
    body += ["## Integrity", "", "`hub_manifest.json` lists the sha256 and size of every file; `hub pull` and "
             "`hub.runtime.load` verify each download against it.", "",
             "## License", "", f"`{license_}`, inherited from the backbone {backbone_name}.", ""]
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body)))
