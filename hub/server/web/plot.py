"""The leaderboard's accuracy x latency scatter plot, as inline SVG built on the server.

Why SVG text and not a charting script: the pages run under ``default-src 'none'`` (no script at all),
and a plot that is markup reads the same with JavaScript off. Every label comes from an untrusted CSV,
so the SVG is assembled with :class:`markupsafe.Markup` ``format``, which escapes each argument; only
presentation attributes are used (no ``<style>``, no external reference), so the CSP needs nothing new.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup

WIDTH, HEIGHT = 640, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 34, 46
POINT, FRONT = "#8c959f", "#cf222e"


def _nice(step: float) -> float:
    """The 1/2/5 x 10^k step closest above ``step``: ticks people can read."""
    power = 10 ** math.floor(math.log10(step))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= step * 0.999)


def linear_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    step = _nice((hi - lo) / count)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(count + 2) if first + i * step <= hi + step * 1e-9]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Decades, with 2 and 5 between them when the range spans few decades."""
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    decades = range(first, last + 1, max(1, math.ceil((last - first) / 10)))  # at most ~10 labels, any range
    mults = (1, 2, 5) if math.log10(hi / lo) <= 2.5 else (1,)
    return [m * 10 ** d for d in decades for m in mults if lo * 0.999 <= m * 10 ** d <= hi * 1.001]


def _padded(lo: float, hi: float) -> tuple[float, float]:
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.05 or 0.5
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.06
    return lo - pad, hi + pad


def _x_scale(values: Sequence[float]) -> tuple[Callable[[float], float], list[float], bool]:
    """Log when the latencies span more than 10x (and none is 0), else linear."""
    lo, hi = min(values), max(values)
    width = WIDTH - LEFT - RIGHT
    if lo > 0 and hi / lo > 10:
        a, b = math.log10(lo) - 0.05, math.log10(hi) + 0.05
        return (lambda v: LEFT + (math.log10(v) - a) / (b - a) * width), log_ticks(10 ** a, 10 ** b), True
    a, b = _padded(lo, hi)
    a = max(a, 0.0) if lo >= 0 else a
    return (lambda v: LEFT + (v - a) / (b - a) * width), linear_ticks(a, b), False


def _y_scale(values: Sequence[float]) -> tuple[Callable[[float], float], list[float]]:
    a, b = _padded(min(values), max(values))
    height = HEIGHT - TOP - BOTTOM
    return (lambda v: TOP + height - (v - a) / (b - a) * height), linear_ticks(a, b)


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


def point_title(row: dict[str, Any]) -> str:
    """The tooltip of a row's point (also how the tests find it)."""
    return (f"{row['entry']} {row['variant']} ({row['runtime']}): {row['metric']} {row['metric_value']:.4f}, "
            f"{row['latency_p50_ms']:.3g} ms")


def scatter(rows: Sequence[dict[str, Any]], front: Sequence[dict[str, Any]], caption: str) -> Markup:
    """One group's plot: x = latency p50 (ms), y = metric; ``front`` (from ``results.pareto``) joined
    fastest first by a polyline and drawn on top in the front colour."""
    if not rows:
        return Markup("")
    to_x, xticks, log = _x_scale([r["latency_p50_ms"] for r in rows])
    to_y, yticks = _y_scale([r["metric_value"] for r in rows])
    metric = rows[0]["metric"]
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = [Markup('<svg xmlns="http://www.w3.org/2000/svg" class="leaderboard-plot" viewBox="0 0 {w} {h}" '
                    'width="{w}" height="{h}" role="img" font-family="system-ui, sans-serif" font-size="11">'
                    '<title>{c}</title>').format(w=WIDTH, h=HEIGHT, c=caption),
             Markup('<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="#ffffff" stroke="#d0d7de"/>').format(
                 x=LEFT, y=TOP, w=right - LEFT, h=bottom - TOP)]
    for t in xticks:
        x = to_x(t)
        parts.append(Markup('<line class="xtick" x1="{x:.1f}" y1="{t}" x2="{x:.1f}" y2="{b}" stroke="#eaeef2"/>'
                            '<text x="{x:.1f}" y="{ty}" text-anchor="middle" fill="#57606a">{label}</text>').format(
            x=x, t=TOP, b=bottom, ty=bottom + 14, label=_label(t)))
    for t in yticks:
        y = to_y(t)
        parts.append(Markup('<line class="ytick" x1="{l}" y1="{y:.1f}" x2="{r}" y2="{y:.1f}" stroke="#eaeef2"/>'
                            '<text x="{tx}" y="{ty:.1f}" text-anchor="end" fill="#57606a">{label}</text>').format(
            l=LEFT, r=right, y=y, tx=LEFT - 5, ty=y + 3.5, label=_label(t)))
    scale = "log scale" if log else "linear"
    parts.append(Markup('<text x="{x}" y="{y}" text-anchor="middle" fill="#1d1d1f">latency p50, ms ({s})</text>'
                        '<text x="14" y="{my}" text-anchor="middle" fill="#1d1d1f" '
                        'transform="rotate(-90 14 {my})">{m}</text>').format(
        x=(LEFT + right) / 2, y=HEIGHT - 8, s=scale, my=(TOP + bottom) / 2, m=metric))
    on_front = {id(r) for r in front}
    if front:
        points = " ".join(f"{to_x(r['latency_p50_ms']):.1f},{to_y(r['metric_value']):.1f}" for r in front)
        parts.append(Markup('<polyline class="pareto" points="{p}" fill="none" stroke="{c}" stroke-width="1.5" '
                            'stroke-dasharray="4 3"/>').format(p=points, c=FRONT))
    for row in sorted(rows, key=lambda r: id(r) in on_front):  # the front's points last, so on top
        star = id(row) in on_front
        parts.append(Markup('<circle class="{k}" cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{c}" fill-opacity="{o}" '
                            'stroke="#ffffff"><title>{t}</title></circle>').format(
            k="point front" if star else "point", x=to_x(row["latency_p50_ms"]), y=to_y(row["metric_value"]),
            r=5 if star else 4, c=FRONT if star else POINT, o=1 if star else 0.8, t=point_title(row)))
    parts.append(_legend(right))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _legend(right: int) -> Markup:
    x = right - 270
    return Markup(
        '<g class="legend"><circle cx="{x}" cy="14" r="4" fill="{p}"/>'
        '<text x="{tx}" y="18" fill="#1d1d1f">variant</text>'
        '<line x1="{lx}" y1="14" x2="{lx2}" y2="14" stroke="{f}" stroke-width="1.5" stroke-dasharray="4 3"/>'
        '<circle cx="{fx}" cy="14" r="5" fill="{f}"/>'
        '<text x="{ftx}" y="18" fill="#1d1d1f">Pareto front (faster or better)</text></g>').format(
        x=x, tx=x + 8, p=POINT, f=FRONT, lx=x + 60, lx2=x + 84, fx=x + 72, ftx=x + 90)
