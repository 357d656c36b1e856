"""SQL for report figures per label value (groupBy): the samples of a set of labelled series,
each series read through ix_metrics_series_ts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.models import PerformanceMetric
from perfpilot.reports.series_repository import SeriesStats


def _within(series_ids: Sequence[int], start: datetime, end: datetime) -> ColumnElement[bool]:
    m = PerformanceMetric
    return and_(m.series_id.in_(list(series_ids)), m.timestamp >= start, m.timestamp < end)


async def group_stats(
    session: AsyncSession, series_ids: Sequence[int], start: datetime, end: datetime
) -> dict[str, SeriesStats]:
    """count, sum and max per metric type of these series over [start, end)."""
    m = PerformanceMetric
    query = (
        select(m.metric_type, func.count(), func.sum(m.value), func.max(m.value))
        .where(_within(series_ids, start, end))
        .group_by(m.metric_type)
    )
    rows = (await session.execute(query)).all()
    return {r[0]: SeriesStats(int(r[1]), r[2], r[3]) for r in rows}


async def percentiles(
    session: AsyncSession,
    series_ids: Sequence[int],
    start: datetime,
    end: datetime,
    *,
    count: int,
    quantiles: Sequence[float],
) -> list[float]:
    """percentile_cont(q) of the values of these series over [start, end) (`count` of them,
    > 0): the two values around rank q * (count - 1), interpolated."""
    m = PerformanceMetric
    out = []
    for q in quantiles:
        rank = q * (count - 1)
        low = math.floor(rank)
        query = (
            select(m.value)
            .where(_within(series_ids, start, end))
            .order_by(m.value)
            .offset(low)
            .limit(2)
        )
        values = list((await session.execute(query)).scalars().all())
        if not values:
            raise RuntimeError("fewer samples than counted: the data changed between reads")
        high = values[1] if len(values) > 1 else values[0]
        out.append(values[0] + (rank - low) * (high - values[0]))
    return out
