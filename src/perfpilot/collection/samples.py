"""What the collectors produce: samples in the source's unit, with labels, before validation.

Scraped series and OTLP points (but for OTLP gauges, made canonical directly: convert.py)
become `CollectedSample`s; validation.py checks them like the JSON batch path does and sink.py
hands them to the same ingest writer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from perfpilot.metrics.labels import labels_problem

_INVALID_KEY_CHARS = re.compile(r"[^a-zA-Z0-9_]")

# attribute names of the OpenTelemetry GenAI conventions that get short label names
RENAMED_ATTRIBUTES = {
    "gen_ai.request.model": "model",
    "gen_ai.response.model": "model",
    "gen_ai.operation.name": "operation",
}


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts per bucket over one interval: counts[i] is in (bounds[i-1], bounds[i]], the last
    one is above the last bound (+Inf)."""

    bounds: list[float]
    counts: list[int]
    sum: float
    count: int


@dataclass(slots=True)
class CollectedSample:
    service_name: str
    metric_type: str
    unit: str | None
    timestamp: datetime
    labels: dict[str, str] = field(default_factory=dict)
    value: float | None = None
    histogram: Histogram | None = None
    interval_seconds: float | None = None
    source: str = ""  # the source metric name, for messages


class LabelError(ValueError):
    """A label over the limits of DESIGN §9; the message names it."""


def label_key(attribute: str) -> str:
    """A label name for an attribute: GenAI names shortened, other characters to `_`."""
    renamed = RENAMED_ATTRIBUTES.get(attribute)
    if renamed is not None:
        return renamed
    key = _INVALID_KEY_CHARS.sub("_", attribute)
    if key and key[0].isdigit():
        key = "_" + key
    return key


def check_labels(labels: dict[str, str]) -> None:
    """Raise LabelError naming the first label over the limits (metrics/labels.py rules)."""
    problem = labels_problem(labels)
    if problem is not None:
        field, message = problem
        raise LabelError(f"{field}: {message}")
