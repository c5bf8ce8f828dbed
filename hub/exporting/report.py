"""``report.json``: one versioned schema, written by ``hub export`` and by ``hub validate``.

Why one shape: the model card and ``hub_manifest.json`` are computed from the folder's files.
When ``hub validate`` rewrote report.json in a shape of its own (dropping the rejected variants),
the manifest no longer matched the folder and the next push changed the card although the model
had not changed. So validate reads the recorded report and replaces only what it re-judged.

Why no timings: a report holds evidence (verdicts, differences, metrics), not how long the
machine took, so re-validating an unchanged export on the same machine writes the same bytes,
and pushing it again is a no-op. Durations are logged; latencies measured for ``--target edge``
are kept from the export (validate does not re-measure them).

Format 1 (``"format": 1``)::

    format, hub_version         the schema and the hub that last wrote it
    run_dir, opset, target, export   what was exported (export facts; validate keeps them)
    split, gate                 the sample criterion: samples, min_samples, warn_below,
                                allow_few_samples, criterion, metric_resolution_points,
                                warnings, batch_sizes
    machine                     the CPU and onnxruntime it was judged on (hub.runtime.machine.describe):
                                int8 speed and accuracy depend on them
    variants                    one entry per variant judged, kept or rejected (see gate.check_variant);
                                ``dropped`` says why a variant that passed is not kept (edge: int8
                                slower than fp32 on this CPU)
    choice                      edge target: the preferred variant and why (hub.exporting.choice)
    kept, rejected              variants in the folder / made but deleted by the gate or dropped
    preferred_variant           what hub.runtime opens by default
    passed                      every variant in the folder passed (export: always true when written)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..version import __version__

REPORT = "report.json"
REPORT_FORMAT = 1
#: Fields of a variant entry that a re-validation does not measure, so it keeps the recorded ones.
CARRIED = ("latency_ms_p50",)


def relative(entry: dict[str, Any], root: Path) -> dict[str, Any]:
    """The entry with its ``file`` relative to the export folder (no machine's absolute path)."""
    path = str(entry.get("file", ""))
    prefix = str(root).rstrip("/") + "/"
    if path.startswith(prefix):
        entry["file"] = path[len(prefix):]
    return entry


def new(*, run_dir: Path | str, opset: int, target: str, facts: Mapping[str, Any], split: str,
        gate: Mapping[str, Any], variants: list[dict[str, Any]]) -> dict[str, Any]:
    """The report of an export, before ``finish`` adds the verdict."""
    from ..runtime.machine import describe

    return {"format": REPORT_FORMAT, "hub_version": __version__, "run_dir": str(run_dir), "opset": opset,
            "target": target, "machine": describe(), "export": {k: v for k, v in facts.items() if not k.endswith("seconds")},
            "split": split, "gate": dict(gate), "variants": variants}


def finish(report: dict[str, Any], kept: Iterable[str], preferred: str, passed: bool) -> dict[str, Any]:
    kept = sorted(kept)
    report["kept"] = kept
    report["rejected"] = sorted({r["variant"] for r in report["variants"]
                                 if (not r.get("passed") or r.get("dropped")) and r["variant"] not in kept
                                 and ":" not in r["variant"]})
    report["preferred_variant"] = preferred
    report["passed"] = bool(passed)
    return report


def read(folder: Path) -> dict[str, Any] | None:
    """The recorded report of ``folder`` when it is in this schema; ``None`` otherwise."""
    try:
        data = json.loads((Path(folder) / REPORT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == REPORT_FORMAT else None


def revalidated(recorded: dict[str, Any] | None, config: Mapping[str, Any], *, split: str,
                gate: Mapping[str, Any], results: list[dict[str, Any]], machine: Mapping[str, Any],
                keep: Iterable[str] = ()) -> dict[str, Any]:
    """The report after ``hub validate``: the recorded one with the re-judged entries replaced.

    Entries of variants the gate rejected at export time (no longer in the folder) are kept as
    they were, so card and manifest still describe the same export. A folder without a report of
    this format (an older hub) gets a fresh one from config.json. Entries named in ``keep`` (not
    judged this time: their runtime is not installed here) stay as recorded too.
    """
    keep = set(keep)
    base = dict(recorded) if recorded else {
        "format": REPORT_FORMAT, "run_dir": None, "opset": config.get("opset"),
        "target": "edge" if config.get("latency_ms_p50") else ("ort-mobile" if config.get("ort_mobile") else
                                                                 "default"),
        "export": {"opset": config.get("opset"), "external_data": config.get("external_data")}, "variants": []}
    fresh = {r["variant"]: r for r in results}
    old = {r.get("variant"): r for r in base.get("variants", []) if isinstance(r, dict)}
    merged = []
    for entry in base.get("variants", []):
        name = entry.get("variant") if isinstance(entry, dict) else None
        if name in fresh:
            new_entry = fresh.pop(name)
            new_entry.update({k: old[name][k] for k in CARRIED if k in old[name] and k not in new_entry})
            merged.append(new_entry)
        elif isinstance(entry, dict) and (not entry.get("passed") or entry.get("dropped") or name in keep):
            merged.append(entry)  # rejected at export time: not in the folder, the record stays
    merged += fresh.values()  # judged now but not in the record (an older report)
    base.update(format=REPORT_FORMAT, hub_version=__version__, split=split, gate=dict(gate), variants=merged,
                machine=dict(machine))
    return finish(base, config.get("variants", {}), config.get("preferred_variant", "fp32"),
                  all(r.get("passed") for r in results))


def dumps(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True, default=str) + "\n"


def format_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per OpenVINO / LiteRT variant judged (kept or not), for the model card and the repo page.

    Why here: card and page must say the same thing about each (runtime, precision) pair: its
    verdict and, when it failed, the first reason (a converter's or the gate's).
    """
    rows = []
    for entry in report.get("variants") or []:
        if not isinstance(entry, dict) or not entry.get("runtime") or entry.get("runtime") == "onnxruntime":
            continue
        runtime, _, variant = str(entry.get("variant", "")).partition(":")
        failures = entry.get("failures") or []
        rows.append({"runtime": runtime, "variant": variant, "passed": bool(entry.get("passed")),
                     "file": entry.get("file") if entry.get("passed") else None,
                     "agreement": entry.get("top1_agreement"), "drop": entry.get("metric_drop_points"),
                     "latency": entry.get("latency_ms_p50"), "size": entry.get("size_bytes"),
                     "why": None if entry.get("passed") else str(failures[0] if failures else "failed")[:200]})
    return rows
