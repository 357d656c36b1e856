"""The aggregate an impact check compares: the rule's own, over a window of stored samples."""

from __future__ import annotations

from collections.abc import Sequence

from perfpilot.engine.histograms import Histogram, histogram_aggregate
from perfpilot.engine.windows import PERCENTILES, percentile_cont

# sum and count grow with the window length and traffic, so impact compares averages instead
COMPARABLE = frozenset({"last", "avg", "min", "max", "p50", "p90", "p95", "p99"})


def impact_aggregation(rule_aggregation: str | None) -> str:
    return rule_aggregation if rule_aggregation in COMPARABLE else "avg"


def aggregate_window(
    kind: str, values: Sequence[float], histograms: Sequence[Histogram]
) -> tuple[float | None, int]:
    """The aggregate of an impact window and how many samples it rests on: over its
    histogram samples when it has any (as the rule engine does), else over its values."""
    if histograms:
        return histogram_aggregate(kind, histograms), len(histograms)
    return aggregate_values(kind, values), len(values)


def aggregate_values(kind: str, values: Sequence[float]) -> float | None:
    """One aggregate of unordered values (`last` needs order: callers pass them by time)."""
    if not values:
        return None
    if kind == "avg":
        return sum(values) / len(values)
    if kind == "min":
        return min(values)
    if kind == "max":
        return max(values)
    if kind == "last":
        return values[-1]
    if kind in PERCENTILES:
        return percentile_cont(sorted(values), PERCENTILES[kind])
    raise ValueError(f"aggregation {kind!r} is not comparable")
