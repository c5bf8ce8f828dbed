"""The leaderboard table: one row per zoo entry x variant x machine, as CSV in the timm ``results/`` style.

Why CSV: the timm results folder showed it is the format people diff, sort in a spreadsheet and read
with pandas; one flat file per machine (``results/<machine>.csv`` in the hub's ``zoo/leaderboard``
dataset repo) keeps measurements from different CPUs apart, because a latency is only comparable to
latencies measured on the same CPU with the same threads.

The file can come from anyone who can push to the hub, so reading it is bounded (size, rows, field
length) and every number is checked; a bad file is one :class:`LeaderboardError` naming the row.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import HubError

#: The dataset repo ``hub zoo bench`` publishes to and ``hub serve`` shows at /leaderboard, by default.
LEADERBOARD_REPO = "zoo/leaderboard"
#: Column order of the CSV (what the table, the plot and ``hub zoo pick`` read).
COLUMNS = ("entry", "variant", "runtime", "runtime_version", "task", "dataset", "split", "revision", "samples",
           "metric", "metric_value", "params", "gflops", "size_mb", "latency_p50_ms", "latency_p90_ms",
           "throughput_b32", "threads", "cpu", "isa", "cores", "repo", "repo_commit", "hub_commit", "date",
           "command")
FLOATS = ("metric_value", "gflops", "size_mb", "latency_p50_ms", "latency_p90_ms", "throughput_b32")
INTS = ("samples", "params", "threads", "cores")
REQUIRED = ("entry", "variant", "runtime", "task", "dataset", "metric", "metric_value", "latency_p50_ms", "cpu",
            "threads")
MAX_BYTES = 4 << 20
MAX_ROWS = 20_000
MAX_FIELD = 2_000
#: Plausibility bounds: a value past them is no measurement (and would overflow a plot axis or a format).
BOUNDS = {"metric_value": 1e6, "gflops": 1e9, "size_mb": 1e7, "latency_p50_ms": 1e7, "latency_p90_ms": 1e7,
          "throughput_b32": 1e9, "samples": 10**13, "params": 10**13, "threads": 65_536, "cores": 65_536}
_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?$")  # plain ASCII: no '_', sign, inf or nan


class LeaderboardError(HubError, ValueError):
    """A leaderboard CSV that cannot be used, or a question it cannot answer."""


Row = dict[str, Any]


def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in COLUMNS})
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def from_csv(text: str, where: str = "leaderboard CSV") -> list[Row]:
    """Parse and check a leaderboard CSV (untrusted: bounded, every number parsed)."""
    if len(text) > MAX_BYTES:
        raise LeaderboardError(f"{where}: larger than {MAX_BYTES >> 20} MiB; not a leaderboard written by the hub")
    limit = csv.field_size_limit(MAX_FIELD)  # a process-wide setting: put back below
    try:
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or ())]
        if missing:
            raise LeaderboardError(f"{where}: no column {', '.join(missing)}; expected the header "
                                   f"written by `hub zoo bench` ({','.join(COLUMNS[:6])},...)")
        rows = []
        for number, raw in enumerate(reader, start=2):
            if len(rows) >= MAX_ROWS:
                raise LeaderboardError(f"{where}: more than {MAX_ROWS} rows")
            rows.append(_checked(raw, f"{where}:{number}"))
    except csv.Error as exc:
        raise LeaderboardError(f"{where}: not valid CSV ({exc})") from None
    finally:
        csv.field_size_limit(limit)
    return rows


def _checked(raw: Mapping[str, Any], where: str) -> Row:
    row: Row = {k: (raw.get(k) or "").strip() for k in COLUMNS}
    for key in REQUIRED:
        if not row[key]:
            raise LeaderboardError(f"{where}: empty {key!r}")
    for key in FLOATS:
        row[key] = _number(row[key], float, key, where)
    for key in INTS:
        row[key] = _number(row[key], int, key, where)
    if row["metric_value"] is None or row["latency_p50_ms"] is None:
        raise LeaderboardError(f"{where}: metric_value and latency_p50_ms must be numbers")
    return row


def _number(text: str, kind: type, key: str, where: str) -> Any:
    if text == "":
        return None
    if not _DECIMAL.match(text) or (kind is int and not text.isdigit()):
        what = "a whole number" if kind is int else "a number"
        if text.lower().lstrip("+-") in ("nan", "inf", "infinity") or text.startswith("-"):
            raise LeaderboardError(f"{where}: {key} = {text[:40]!r} must be a finite number >= 0")
        raise LeaderboardError(f"{where}: {key} = {text[:40]!r} is not {what}")
    if len(text) > 40:  # no measurement needs more digits; int() of thousands of digits is slow
        raise LeaderboardError(f"{where}: {key} = {text[:40]!r}... is out of range (at most {BOUNDS[key]:g})")
    value = kind(text)
    if not math.isfinite(value) or value > BOUNDS[key]:
        raise LeaderboardError(f"{where}: {key} = {text[:40]!r} is out of range (at most {BOUNDS[key]:g})")
    return value


def machine_slug(cpu: str, threads: int) -> str:
    """The file name a machine's rows live under: ``results/<slug>.csv``."""
    slug = re.sub(r"[^a-z0-9]+", "-", cpu.lower()).strip("-")[:60] or "cpu"
    return f"{slug}-{threads}t"


def merge(old: Sequence[Row], new: Sequence[Row]) -> list[Row]:
    """``new`` replaces every old row of the same entry on the same machine; other rows are kept."""
    replaced = {(r["entry"], r["cpu"], int(r["threads"])) for r in new}
    kept = [r for r in old if (r["entry"], r["cpu"], int(r["threads"])) not in replaced]
    return sorted([*kept, *new], key=lambda r: (r["task"], r["dataset"], r["entry"], r["variant"]))


def groups(rows: Sequence[Row]) -> dict[tuple[str, str, str], list[Row]]:
    """Rows by (task, dataset, machine): only those are comparable in one table and one plot."""
    found: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        threads = f"{row['threads']} thread" + ("" if row["threads"] == 1 else "s")
        found.setdefault((row["task"], row["dataset"], f"{row['cpu']}, {threads}"), []).append(row)
    return found


def pareto(rows: Sequence[Row]) -> list[Row]:
    """The rows no other row beats (as fast and better, or faster and as good), fastest first."""
    front: list[Row] = []
    for row in sorted(rows, key=lambda r: (r["latency_p50_ms"], -r["metric_value"])):
        last = front[-1] if front else None
        if last is None or row["metric_value"] > last["metric_value"] or \
                (row["metric_value"], row["latency_p50_ms"]) == (last["metric_value"], last["latency_p50_ms"]):
            front.append(row)  # an exact tie with a front row is on the front too
    return front


@dataclass
class Pick:
    best: Row | None
    fits: list[Row]
    closest: Row | None  # when nothing fits: the fastest row (what the budget would have to allow)
    reasons: list[str]
    source: str = ""  # where the rows were read (hub.pick sets it)


def pick(rows: Sequence[Row], *, dataset: str, max_latency_ms: float, runtime: str | None = None,
         max_size_mb: float | None = None, cpu: str | None = None, threads: int | None = None,
         metric: str | None = None) -> Pick:
    """The best row of ``dataset`` within the budget (ties: the faster one). Only rows of one metric
    compete (higher is better, as the gate's metrics are); ``threads`` keeps one thread count."""
    pool = [r for r in rows if r["dataset"] == dataset]
    if not pool:
        known = ", ".join(sorted({r["dataset"] for r in rows})) or "none"
        raise LeaderboardError(f"the leaderboard has no row for dataset {dataset!r} (it has: {known}); "
                               f"run `hub zoo bench` on an entry of that dataset first")
    metrics = sorted({r["metric"] for r in pool})
    if metric is not None and metric not in metrics:
        raise LeaderboardError(f"no {dataset!r} row measures {metric!r} (they measure: {', '.join(metrics)})")
    if metric is None and len(metrics) > 1:
        raise LeaderboardError(f"the {dataset!r} rows measure different metrics ({', '.join(metrics)}), which "
                               "cannot be compared; pass --metric NAME")
    pool = [r for r in pool if r["metric"] == (metric or metrics[0])]
    if threads is not None:
        pool = [r for r in pool if r["threads"] == threads]
        if not pool:
            raise LeaderboardError(f"no {dataset!r} row was measured with {threads} threads")
    reasons = []
    if cpu is not None:
        mine = [r for r in pool if r["cpu"] == cpu]
        if not mine:
            machines = ", ".join(sorted({r["cpu"] for r in pool}))
            raise LeaderboardError(f"no {dataset!r} row was measured on this machine ({cpu}); measured on: "
                                   f"{machines}; run `hub zoo bench` here, or pass --any-machine")
        pool = mine
    if runtime is not None:
        pool = [r for r in pool if r["runtime"] == runtime]
        if not pool:
            raise LeaderboardError(f"no {dataset!r} row runs on runtime {runtime!r}")
    if max_size_mb is not None:
        pool = [r for r in pool if r["size_mb"] is not None and r["size_mb"] <= max_size_mb]
        if not pool:
            reasons.append(f"no variant is {max_size_mb:g} MB or smaller")
    fits = [r for r in pool if r["latency_p50_ms"] <= max_latency_ms]
    fits.sort(key=lambda r: (-r["metric_value"], r["latency_p50_ms"]))
    closest = None if fits or not pool else min(pool, key=lambda r: r["latency_p50_ms"])
    if not fits and closest is not None:
        reasons.append(f"the fastest is {closest['entry']} {closest['variant']} at "
                       f"{closest['latency_p50_ms']:.2f} ms p50 (batch 1)")
    return Pick(fits[0] if fits else None, fits, closest, reasons)
