"""A period's histogram samples per type: merged buckets, `histogram_quantile` percentiles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.engine.histograms import Histogram, merge, quantile
from perfpilot.metrics import histogram_repository
from perfpilot.reports.schemas import HistogramFigures

QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


def period_figures(rows: list[tuple[list[float], list[int], float, int]]) -> HistogramFigures:
    """Counts added per bucket layout (a series rarely has more than one), then merged."""
    layouts: dict[tuple[float, ...], list[int]] = {}
    total_sum = 0.0
    total_count = 0
    for bounds, counts, total, count in rows:
        key = tuple(bounds)
        acc = layouts.get(key)
        if acc is None:
            layouts[key] = list(counts)
        else:
            for i, n in enumerate(counts):
                acc[i] += n
        total_sum += total
        total_count += count
    p: dict[str, float | None] = dict.fromkeys(QUANTILES)
    if total_count:
        merged, totals = merge([Histogram(b, tuple(c), 0.0, sum(c)) for b, c in layouts.items()])
        p = {name: quantile(q, merged, totals) for name, q in QUANTILES.items()}
    return HistogramFigures(
        samples=len(rows),
        count=total_count,
        sum=total_sum,
        average=total_sum / total_count if total_count else None,
        p50=p["p50"],
        p90=p["p90"],
        p95=p["p95"],
        p99=p["p99"],
    )


async def histogram_figures(
    session: AsyncSession, service_name: str, start: datetime, end: datetime
) -> dict[str, HistogramFigures]:
    """Per type with histogram samples in [start, end)."""
    out = {}
    for metric_type in await histogram_repository.histogram_types(
        session, service_name, start, end
    ):
        rows = await histogram_repository.series_histograms(
            session, service_name, metric_type, start, end
        )
        out[metric_type] = period_figures(list(rows))
    return out
