"""What a repo page shows, computed from the repo: card HTML (sanitised), metrics, variants, files.

The card is untrusted Markdown from whoever pushed: markdown-it renders it with raw HTML off, and
nh3 (the Ammonia sanitiser) then keeps only a small allow-list of tags and attributes and only
http(s)/mailto/relative links, so a ``<script>`` or a ``javascript:`` link in a card is inert text.
"""

from __future__ import annotations

import json
from typing import Any

import nh3
from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
TAGS = {"a", "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "code", "pre", "em", "strong",
        "blockquote", "table", "thead", "tbody", "tr", "th", "td", "img", "hr", "br"}
ATTRS = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"align"}, "td": {"align"}}


def strip_front_matter(text: str) -> str:
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            return text[end + 4:].lstrip("\n")
    return text


def card_html(markdown: str, files_base: str = "") -> str:
    """The card as safe HTML. A relative link or image (``curves.png``) points at the repo's file at
    ``files_base`` (its ``/resolve/{commit}/`` prefix), as on the Hugging Face Hub: against the page URL
    ``/{namespace}/{name}`` it would name ``/{namespace}/curves.png``, which is no file."""
    def relative(url: str) -> str:
        return url if url.startswith(("/", "#", "?")) or not files_base else files_base + url.removeprefix("./")

    html = _MD.render(strip_front_matter(markdown))
    return nh3.clean(html, tags=TAGS, attributes=ATTRS, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow", url_relative=relative)


def metrics(card: dict | None) -> list[dict[str, Any]]:
    """Rows of the card's ``model-index``: task, dataset, split, metric, value (malformed parts skipped)."""
    def dicts(value: Any) -> list[dict]:
        return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []

    rows = []
    for model in dicts((card or {}).get("model-index")):
        for result in dicts(model.get("results")):
            task = result.get("task") if isinstance(result.get("task"), dict) else {}
            data = result.get("dataset") if isinstance(result.get("dataset"), dict) else {}
            for m in dicts(result.get("metrics")):
                rows.append({"task": task.get("type", ""), "dataset": data.get("name", ""),
                             "split": data.get("split", ""), "metric": m.get("name") or m.get("type", ""),
                             "value": m.get("value")})
    return rows


def variants(report_text: str | None, sizes: dict[str, int]) -> list[dict[str, Any]]:
    """One row per exported variant from ``report.json``: passed, file size, latency, accuracy."""
    if not report_text:
        return []
    try:
        report = json.loads(report_text)
    except ValueError:
        return []
    kept = set(report.get("kept") or [])
    rows = []
    for v in report.get("variants") or []:
        if not isinstance(v, dict) or ":" in str(v.get("variant", "")):
            continue
        file = str(v.get("file", ""))
        rows.append({"name": v.get("variant"), "passed": bool(v.get("passed")), "kept": v.get("variant") in kept,
                     "file": file, "size": sizes.get(file) or sizes.get(f"onnx/{file}"),
                     "latency": v.get("latency_ms_p50"),
                     "accuracy": next((v[k] for k in ("accuracy", "metric", "onnx_accuracy") if k in v), None)})
    return rows


def formats(report_text: str | None) -> list[dict[str, Any]]:
    """OpenVINO / LiteRT rows from ``report.json`` (verdict, size, latency), as the model card lists them."""
    from ...exporting.report import format_rows

    try:
        report = json.loads(report_text) if report_text else {}
    except ValueError:
        return []
    return format_rows(report) if isinstance(report, dict) else []


def human(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return str(size)


def widget(config_text: str | None, sizes: dict[str, int], resolve: str, ort_base: str | None,
           missing_runtime: str) -> dict[str, Any]:
    """What the "try it" section shows: ``{"why": line}`` when the model cannot run in a browser, else
    the URLs ``static/try.js`` needs (model, config, onnxruntime-web files).

    Why the server decides and not the script: the page must say why there is no widget even with
    JavaScript off, and must not send script permissions (CSP) to a page that runs none.
    ``resolve`` is the repo's ``/{repo_id}/resolve/{commit}/`` prefix: the same URL huggingface_hub
    downloads from, so a private repo's files reach a signed-in reader through their session cookie.
    """
    if config_text is None:
        return {"why": "No config.json in this repo, so there is no model to run in the browser."}
    try:
        config = json.loads(config_text)
    except ValueError:
        return {"why": "config.json is not valid JSON, so the model cannot run in the browser."}
    e2e = config.get("e2e") if isinstance(config, dict) else None
    if not isinstance(e2e, dict) or not isinstance(e2e.get("file"), str):
        kind = config.get("modality") if isinstance(config, dict) else None
        text = " (text models have no in-browser variant yet)" if kind == "text" else ""
        return {"why": f"This export has no end-to-end (e2e) model for the browser{text}; "
                       "run it with hub.runtime instead (see above)."}
    inputs = e2e.get("input") if isinstance(e2e.get("input"), dict) else {}
    if inputs.get("dtype") != "uint8" or inputs.get("layout", "NHWC") != "NHWC":
        return {"why": "The e2e model does not take a decoded image (uint8, NHWC), which is all the widget can feed."}
    if e2e["file"] not in sizes:
        return {"why": f"config.json names {e2e['file']}, but this revision has no such file."}
    if ort_base is None:
        return {"why": missing_runtime}
    from urllib.parse import quote

    return {"model": resolve + quote(e2e["file"]), "config": resolve + "config.json", "ort": ort_base,
            "size": sizes[e2e["file"]]}
