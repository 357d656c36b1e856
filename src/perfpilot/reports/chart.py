"""The latency chart of the HTML report: inline SVG, no script, no external resource.

Styling uses SVG presentation attributes only, so the chart draws even under a Content
Security Policy that forbids inline styles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

from perfpilot.reports.schemas import LatencyTimeline, TimelinePoint

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 36
AVERAGE_COLOUR = "#1d4ed8"
MAX_COLOUR = "#93c5fd"
GRID_COLOUR = "#e5e7eb"
MARK_COLOURS = {"p50": "#16a34a", "p95": "#d97706", "p99": "#dc2626"}


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k not below value (axis top)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * power:
            return step * power
    return 10 * power


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _segments(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive points with a value: a bucket without samples breaks the line."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [run for run in runs if run]


def latency_svg(timeline: LatencyTimeline, *, end: datetime, marks: dict[str, float | None]) -> str:
    """Average (line) and max (light line) latency per bucket, with p50/p95/p99 marks."""
    points: list[TimelinePoint] = timeline.points
    maxima = [p.max for p in points if p.max is not None]
    title = "<title>Latency over the report period (ms)</title>"
    if not points or not maxima:
        return (
            f'<svg role="img" width="{WIDTH}" height="80" viewBox="0 0 {WIDTH} 80">{title}'
            f'<text x="{LEFT}" y="44" font-size="14" fill="#6b7280">'
            "No latency samples in this period</text></svg>"
        )
    start = points[0].start
    span = max((end - start) / timedelta(seconds=1), 1e-9)
    top = nice_ceiling(max([*maxima, *(v for v in marks.values() if v is not None)]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(when: datetime) -> float:
        return LEFT + plot_w * ((when - start) / timedelta(seconds=1)) / span

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - value / top)

    half = timeline.bucket_seconds / 2
    centres = [x_of(p.start + timedelta(seconds=half)) for p in points]
    parts = [
        f'<svg role="img" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'font-family="system-ui, sans-serif" font-size="11">{title}'
    ]
    for i in range(5):
        value = top * i / 4
        y = y_of(value)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="{GRID_COLOUR}"/><text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="#374151">{_fmt(value)}</text>'
        )
    for label, anchor in ((start, "start"), (start + (end - start) / 2, "middle"), (end, "end")):
        parts.append(
            f'<text x="{x_of(label):.1f}" y="{HEIGHT - 12}" text-anchor="{anchor}" '
            f'fill="#374151">{escape(label.strftime("%Y-%m-%d %H:%M"))} UTC</text>'
        )
    parts.append(f'<text x="12" y="{TOP + 10}" fill="#374151">ms</text>')
    for key, colour, width, values in (
        ("max", MAX_COLOUR, 1.5, [p.max for p in points]),
        ("average", AVERAGE_COLOUR, 2.0, [p.average for p in points]),
    ):
        for run in _segments(list(zip(centres, values, strict=True))):
            coords = " ".join(f"{x:.1f},{y_of(v):.1f}" for x, v in run)
            if len(run) == 1:
                x, v = run[0]
                parts.append(
                    f'<circle cx="{x:.1f}" cy="{y_of(v):.1f}" r="2" fill="{colour}"><title>'
                    f"{key} {_fmt(v)} ms</title></circle>"
                )
            else:
                parts.append(
                    f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                    f'stroke-width="{width}"/>'
                )
    for name, mark in marks.items():
        if mark is None:
            continue
        y = y_of(mark)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="{MARK_COLOURS.get(name, "#6b7280")}" stroke-dasharray="4 3"/>'
            f'<text x="{WIDTH - RIGHT - 2}" y="{y - 3:.1f}" text-anchor="end" '
            f'fill="{MARK_COLOURS.get(name, "#6b7280")}">{escape(name)} {_fmt(mark)}</text>'
        )
    parts.append(
        f'<text x="{LEFT + 8}" y="{TOP + 12}" fill="{AVERAGE_COLOUR}">— average</text>'
        f'<text x="{LEFT + 80}" y="{TOP + 12}" fill="{MAX_COLOUR}">— max per bucket</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
