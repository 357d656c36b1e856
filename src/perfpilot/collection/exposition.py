"""Prometheus text exposition -> source points (text_format.py parses, prometheus_client's
parser when the body is not in the common form).

Counters give their `_total` series, gauges and untyped series their values, histograms one
point per label set with per-bucket counts (the exposition's buckets are cumulative in `le`).
Summaries carry quantiles that cannot be merged: they are left out, like `_created` series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from perfpilot.collection.convert import Shape, SourcePoint
from perfpilot.collection.text_format import metric_families


class ExpositionError(ValueError):
    """The body is not the Prometheus text format, or is over a limit; the message says why."""


@dataclass(slots=True)
class _Buckets:
    labels: dict[str, str]
    cumulative: dict[float, float] = field(default_factory=dict)
    total: float = 0.0
    count: float | None = None


def _histogram_points(
    service: str, name: str, samples: list[tuple[str, dict[str, str], float]], time: float
) -> list[SourcePoint]:
    series: dict[frozenset[tuple[str, str]], _Buckets] = {}
    for sample_name, labels, value in samples:
        le = labels.get("le")
        rest = {k: v for k, v in labels.items() if k != "le"}
        entry = series.setdefault(frozenset(rest.items()), _Buckets(rest))
        if sample_name.endswith("_bucket") and le is not None:
            try:
                entry.cumulative[float(le)] = value
            except ValueError:
                raise ExpositionError(f"{name}: bucket bound le={le!r} is not a number") from None
        elif sample_name.endswith("_sum"):
            entry.total = value
        elif sample_name.endswith("_count"):
            entry.count = value
    points = []
    for entry in series.values():
        bounds = sorted(b for b in entry.cumulative if math.isfinite(b))
        if math.inf not in entry.cumulative:
            raise ExpositionError(f"{name}: histogram without a +Inf bucket")
        counts: list[float] = []
        below = 0.0
        for bound in [*bounds, math.inf]:
            cumulative = entry.cumulative[bound]
            if cumulative < below:
                raise ExpositionError(f"{name}: bucket counts decrease with le")
            counts.append(cumulative - below)
            below = cumulative
        count = entry.count if entry.count is not None else below
        points.append(
            SourcePoint(
                service,
                name,
                entry.labels,
                "histogram",
                time,
                0.0,
                entry.total,
                tuple(bounds),
                tuple(counts),
                count,
            )
        )
    return points


def parse_exposition(
    text: str, *, service: str, time: float, max_series: int
) -> tuple[list[SourcePoint], int]:
    """The points of a scrape and how many series the body held; ExpositionError when the
    body does not parse or holds more than `max_series` series."""
    points: list[SourcePoint] = []
    series = 0
    try:
        families = metric_families(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise ExpositionError(f"not the Prometheus text format: {exc}") from None
    for family in families:
        series += len(family.samples)
        if series > max_series:
            raise ExpositionError(f"more than {max_series} series (the per-target cap)")
        if family.type == "histogram":
            points.extend(_histogram_points(service, family.name, family.samples, time))
            continue
        if family.type not in ("counter", "gauge", "unknown", "untyped"):
            continue  # summary, info, stateset, gaugehistogram
        shape: Shape = "counter" if family.type == "counter" else "number"
        for name, labels, value in family.samples:
            if name.endswith("_created"):
                continue
            if not math.isfinite(value):
                continue  # NaN gauges mean "no value" in client libraries
            points.append(SourcePoint(service, name, labels, shape, time, 0.0, value))
    if not families and text.strip():
        raise ExpositionError("the body holds no metric")
    return points, series
