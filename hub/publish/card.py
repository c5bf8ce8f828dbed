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

from .snippet import usage as usage_snippet
from .card_sections import (describe_training, intended_use, model_index_dataset, recipe_settings,
                            training_data_license)

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


def lora_line(backbone: Any) -> str:
    """``LoRA r=8 on query,value (N trainable of M)`` from run.json's LoRA record; empty without one."""
    record = backbone.get("lora") if isinstance(backbone, dict) else None
    if not isinstance(record, dict) or not {"rank", "targets", "trainable_params", "total_params"} <= set(record):
        return ""
    return (f"LoRA r={record['rank']} on {','.join(map(str, record['targets']))} "
            f"({record['trainable_params']:,} trainable of {record['total_params']:,})")


def adaptation_lines(summary: dict[str, Any]) -> list[str]:
    """Domain adaptation: which method, which unlabelled target, and how the model does there."""
    adapt, target = summary.get("adaptation"), summary.get("target")
    if not isinstance(adapt, dict) or not isinstance(target, dict):
        return []
    scores = ", ".join(f"{k} {_fmt(v)}" for k, v in _scalar_metrics(target.get("test")).items() if k != "loss")
    return ["## Domain adaptation", "",
            f"Trained on the labelled source data with **{_method(adapt)}** domain adaptation toward the "
            f"unlabelled target dataset **{target.get('dataset')}** ({adapt.get('target_examples')} examples, "
            f"adaptation weight {adapt.get('weight')}). The target's labels were never used for training; its test "
            f"split, read only after training, gives: {scores}. The exported model is backbone + head only.", ""] \
        + auto_lines(adapt.get("auto"))


def distillation_lines(summary: dict[str, Any]) -> list[str]:
    """Knowledge distillation: which teacher (and how good it is) the model learned from."""
    distill = summary.get("distillation")
    if not isinstance(distill, dict) or not isinstance(distill.get("teacher"), dict):
        return []
    teacher = distill["teacher"]
    accuracy = teacher.get("test_accuracy")
    scored = f", test accuracy {accuracy:.4f} on the same split" if isinstance(accuracy, float) else ""
    transfer = distill.get("transfer_examples") or 0
    extra = f", plus {transfer} unlabelled transfer examples it labelled" if transfer else ""
    members = teacher.get("members") if isinstance(teacher.get("members"), list) else [teacher]
    named = ", ".join(f"`{_fmt(m.get('location'))}` ({_fmt(m.get('kind'))}, sha256 `{str(m.get('sha256'))[:16]}…`)"
                      for m in members if isinstance(m, dict))
    who = f"the teacher {named}" if len(members) == 1 else f"{len(members)} teachers, probabilities averaged: {named}"
    return ["## Distillation", "",
            f"Distilled from {who}{scored}: trained on its softened predictions (temperature "
            f"{_fmt(distill.get('temperature'))}, weight {_fmt(distill.get('alpha'))}) and the labels{extra}. The "
            "exported model is the student alone.", ""]


def _method(adapt: dict[str, Any]) -> str:
    auto = adapt.get("auto")
    if isinstance(auto, dict) and auto.get("chosen"):
        return f"{_name(auto['chosen'])} (chosen by auto)"
    return _name(adapt.get("method"))


def auto_lines(auto: Any) -> list[str]:
    """``adapt.method = auto``: every candidate's scores, so a reader can audit the choice."""
    if not isinstance(auto, dict) or not isinstance(auto.get("candidates"), list):
        return []
    criterion, chosen = str(auto.get("criterion")), auto.get("chosen")
    rows = []
    for c in auto["candidates"]:
        if not isinstance(c, dict):
            continue
        scores = c.get("scores") if isinstance(c.get("scores"), dict) else {}
        name = _name(c.get("method"))
        rows.append([f"**{name}** (chosen)" if c.get("method") == chosen else name,
                     *(scores.get(k) for k in ("rv", "im", "snd", "dev")),
                     c.get("source_validation_accuracy"), c.get("target_test_accuracy"),
                     str(c.get("error", "")).split(":")[0] or "trained"])
    lines = [f"The method was chosen by `adapt.method = \"auto\"`: each candidate was trained "
             f"(epochs: {auto.get('epochs')}) and scored without target labels on the target's "
             f"{_fmt(auto.get('data', {}).get('target'))}; **{_fmt(criterion)}** chose (higher is better; dev: lower). Reverse validation "
             "(rv), information maximisation (im), soft neighbourhood density (snd) and deep embedded validation "
             "(dev) are docs/training.md's. The target test accuracy is shown for audit only: nothing read it "
             "before the choice.", ""]
    if auto.get("fallback"):
        lines += [f"Note: {_fmt(auto['fallback'])}.", ""]
    return lines + [_table(["candidate", "rv", "im", "snd", "dev", "source val acc", "target test acc", "status"],
                           rows), ""]


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


def format_lines(report: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The card's "Other runtimes" table: every OpenVINO / LiteRT variant with its verdict, size and latency."""
    from ..exporting.report import format_rows

    rows = format_rows(report or {})
    if not rows:
        return []
    table = [[r["runtime"], r["variant"], "passed" if r["passed"] else f"rejected: {r['why']}",
              f"`{r['file']}`" if r["file"] else "-", f"{r['size'] / 1e6:.1f}" if isinstance(r["size"], int) else "-",
              "-" if r["agreement"] is None else f"{r['agreement']:.3f}",
              "-" if r["latency"] is None else r["latency"]] for r in rows]
    preferred = config.get("preferred_runtime") or {}
    lines = ["## Other runtimes", "", "Each variant was judged by the same gate as the ONNX ones, run in its own "
             "runtime on the same held-out samples; a rejected one is not in this repository.", "",
             _table(["runtime", "variant", "gate", "file", "size (MB)", "top-1 agreement", "latency p50 (ms)"],
                    table), ""]
    if preferred.get("runtime"):
        lines += [f"Fastest pair that passed on the export machine: **{preferred['runtime']} {preferred['variant']}**. "
                  f"Load it with `hub.runtime.load(folder, runtime=\"{preferred['runtime']}\")`.", ""]
    return lines


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
    if name.startswith("hf:"):  # a dataset repo (hub/data_sources): its Hub id, without the pinned revision
        return name[3:].split("@", 1)[0], name, True
    if name.startswith(("parquet:", "arrow:")):  # local files (hub/data_sources): never a Hub id
        return name, name, False
    source = ds.get("source") if isinstance(ds, dict) else None
    if isinstance(source, str) and source:
        source = source.split(":", 1)[1].lstrip("/") if source.startswith(("hf:", "hf://")) else source
        return source, name, "/" in source
    return name, name, "/" in name


def machine_lines(report: dict[str, Any]) -> list[str]:
    """Where the gate and the latencies were measured: int8 speed and accuracy depend on the CPU."""
    machine = report.get("machine") if isinstance(report.get("machine"), dict) else {}
    if not machine:
        return []
    isa = ", ".join(str(f) for f in machine.get("isa") or []) or "none recorded"
    lines = [f"Judged on {machine.get('cpu') or 'an unnamed CPU'} ({machine.get('cores')} cores; ISA: {isa}) with "
             f"onnxruntime {machine.get('onnxruntime')}. int8 speed and accuracy depend on the CPU: "
             "`hub validate FOLDER --rebench` re-judges every variant on yours."]
    why = report.get("choice", {}).get("why") if isinstance(report.get("choice"), dict) else None
    if why:
        lines.append(f"Preferred variant: {why}.")
    return [" ".join(lines), ""]


def ensemble_section(ensemble: dict[str, Any]) -> list[str]:
    """Markdown lines for an ensemble export: every member with its weight and metrics, then the ensemble."""
    primary = str(ensemble.get("primary_metric") or "accuracy")
    split, n = ensemble.get("split", "test"), ensemble.get("samples")
    rows = []
    for m in (m for m in ensemble.get("members") or [] if isinstance(m, dict)):
        own = (m.get("test") or {}).get(primary)
        gated = (m.get("gate_metrics") or {}).get(primary)
        rows.append([m.get("name"), m.get("backbone"), m.get("head"), m.get("recipe"), m.get("seed"),
                     m.get("weight"), own if own is not None else "-", gated if gated is not None else "-"])
    ours = (ensemble.get("metrics") or {}).get(primary)
    rows.append(["**ensemble**", "", "", "", "", 1.0, "-", ours if ours is not None else "-"])
    headers = ["member", "backbone", "head", "recipe", "seed", "weight", f"{primary} (own test split)",
               f"{primary} ({split}, {n} gate samples)"]
    return ["## Ensemble members", "", f"Output `logits` = {ensemble.get('combination', 'averaged probabilities')}. "
            "Each member's weights and run record are under `members/`.", "", _table(headers, rows), ""]


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
    ensemble = config.get("ensemble") if isinstance(config.get("ensemble"), dict) else None
    tags = list(dict.fromkeys(t for t in [task, modality, "onnx", "transfer-learning", HUB_TAG, family,
                                          str(backbone_name), "ensemble" if ensemble else "",
                                          "transformers.js" if config.get("transformers.js_config") else ""] if t))

    index_type, index_name = model_index_dataset(dataset_id, dataset_name, on_hub)
    evals = []
    for split in ("test", "validation", "val"):
        for key, value in _scalar_metrics(summary.get(split)).items():
            metric_type, pretty = _metric_id(key)
            if metric_type in ("loss", "epoch", "seconds", "time_s", "n", "count"):
                continue
            evals.append(EvalResult(task_type=pipeline_tag or task, dataset_type=index_type,
                                    dataset_name=index_name, dataset_split=split, metric_type=metric_type,
                                    metric_value=float(value), metric_name=f"{pretty} ({split})"))
    data = ModelCardData(library_name=LIBRARY_NAME, license=license_, tags=tags, pipeline_tag=pipeline_tag,
                         base_model=base_model(backbone), datasets=[dataset_id] if on_hub else None,
                         model_name=repo_id.split("/")[-1], eval_results=evals or None)

    variants = _variants(config)
    preferred = config.get("preferred_variant")
    fallback = "onnx/model.onnx" if "onnx/model.onnx" in files else next(f for f in files if f.endswith(".onnx"))
    model_file = next((v["file"] for v in variants if v.get("name") == preferred and v.get("file")), fallback)
    labels = config.get("label_names") or run.get("label_names") or []
    about = describe_training(task, modality, str(backbone_name), dataset_name, recipe)
    if ensemble:
        about = (f"An ensemble of {len(ensemble.get('members') or [])} {task} models ({modality}) on "
                 f"**{dataset_name}**, trained by transfer learning with the hub (`{HUB_TAG}`) and combined into "
                 "one ONNX graph that averages their class probabilities.")
    body = [f"# {repo_id.split('/')[-1]}", "", about + (f" {len(labels)} classes." if labels else ""), ""]
    body += ensemble_section(ensemble) if ensemble else []
    weights = backbone.get("weights") if isinstance(backbone.get("weights"), dict) else {}
    if weights.get("kind") in ("hub", "path") and weights.get("sha256"):  # backbone.weights: a `hub pretrain` output
        where = (f"`{weights.get('location')}@{weights.get('commit')}`" if weights["kind"] == "hub"
                 else f"the local folder `{weights.get('location')}`")
        body += [f"The backbone started from {weights.get('description') or 'hub pretrain weights'}, {where}, "
                 f"`{weights.get('filename')}` sha256 `{weights['sha256']}`.", ""]
    adapted = lora_line(run.get("backbone"))
    if adapted:
        body += [f"Fine-tuned with {adapted}; the adapters are merged into the weights, so the ONNX model is a "
                 "plain backbone + head.", ""]
    body += adaptation_lines(summary)
    body += distillation_lines(summary)
    if variants:
        rows = [[v.get("name"), f"`{v.get('file')}`",
                 f"{v['size_bytes'] / 1e6:.1f}" if isinstance(v.get("size_bytes"), int) else "-",
                 v.get("latency_ms_p50", "-"), v.get("name") == preferred] for v in variants]
        body += ["## ONNX variants", "", _table(["variant", "file", "size (MB)", "latency p50 (ms)", "preferred"],
                                                rows), ""]
        body += machine_lines(report)
    body += format_lines(report, config)
    body += ["## How to use", "", usage_snippet(repo_id, revision, config, modality, model_file, files), ""]
    body += intended_use(config, modality, dataset_name, labels)
    scalars = recipe_settings(recipe)
    if scalars:
        body += ["## Training recipe", "", _table(["setting", "value"], [[k, v] for k, v in scalars.items()]), "",
                 "Settings not listed are the defaults (see the recipe reference, docs/zoo.md), or had no effect "
                 "with this strategy.", ""]
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
             "## License", "", f"`{license_}`, inherited from the "
             + ("members' backbones." if ensemble else f"backbone {backbone_name}."), "",
             *training_data_license(config, dataset_name)]
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body)))
