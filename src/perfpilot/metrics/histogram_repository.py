"""SQL for histogram samples (ai_performance_histograms)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from perfpilot.core.pagination import after_cursor, newest_first
from perfpilot.engine.histograms import Histogram
from perfpilot.metrics.repository import SampleFilter
from perfpilot.metrics.stream import SampleRow
from perfpilot.models import PerformanceHistogram

_table = cast(Table, PerformanceHistogram.__table__)
_insert = _table.insert()
H = PerformanceHistogram


def bind_rows(rows: Sequence[SampleRow]) -> list[dict[str, Any]]:
    """Histogram rows as the insert takes them (SQLAlchemy binds types and JSON)."""
    out = []
    for r in rows:
        h = r["histogram"]
        out.append(
            {
                "id": uuid.UUID(r["id"]),
                "service_name": r["service_name"],
                "metric_type": r["metric_type"],
                "unit": r["unit"],
                "timestamp": r["timestamp"],
                "interval_seconds": r.get("interval_seconds"),
                "bounds": list(h.bounds),
                "counts": list(h.counts),
                "sum": h.sum,
                "count": h.count,
                "metadata": r["metadata"],
                "series_id": r["series_id"],
            }
        )
    return out


async def insert_histograms(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """One executemany in the caller's transaction (the one inserting the batch's values)."""
    await connection.execute(_insert, list(rows))


async def list_histograms(
    session: AsyncSession,
    filters: SampleFilter,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> Sequence[PerformanceHistogram]:
    """Newest first, keyset-paged on (timestamp, id), as metrics.repository.list_samples."""
    query = select(H)
    if filters.service_name is not None:
        query = query.where(H.service_name == filters.service_name)
    if filters.metric_type is not None:
        query = query.where(H.metric_type == filters.metric_type)
    if filters.since is not None:
        query = query.where(H.timestamp >= filters.since)
    if after is not None and (filters.until is None or after[0] <= filters.until):
        query = query.where(after_cursor(H.timestamp, H.id, after))
    elif filters.until is not None:
        query = query.where(H.timestamp <= filters.until)
    query = query.order_by(*newest_first(H.timestamp, H.id))
    return (await session.execute(query.limit(limit))).scalars().all()


async def list_series_histograms(
    session: AsyncSession,
    series_ids: Sequence[int],
    filters: SampleFilter,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> Sequence[PerformanceHistogram]:
    """The histogram samples of labelled series, newest first (label filters of GET /metrics)."""
    if not series_ids:
        return []
    only = SampleFilter(since=filters.since, until=filters.until)
    query = select(H).where(H.series_id.in_(sorted(series_ids)))
    if only.since is not None:
        query = query.where(H.timestamp >= only.since)
    if after is not None and (only.until is None or after[0] <= only.until):
        query = query.where(after_cursor(H.timestamp, H.id, after))
    elif only.until is not None:
        query = query.where(H.timestamp <= only.until)
    query = query.order_by(*newest_first(H.timestamp, H.id))
    return (await session.execute(query.limit(limit))).scalars().all()


async def series_histograms(
    session: AsyncSession,
    service_name: str,
    metric_type: str,
    start: datetime,
    end: datetime,
) -> Sequence[tuple[list[float], list[int], float, int]]:
    """(bounds, counts, sum, count) of a series' histogram samples in [start, end)."""
    query = select(H.bounds, H.counts, H.sum, H.count).where(
        H.service_name == service_name,
        H.metric_type == metric_type,
        H.timestamp >= start,
        H.timestamp < end,
    )
    rows = (await session.execute(query)).all()
    return [(r[0], r[1], float(r[2]), int(r[3])) for r in rows]


async def window_histograms(
    session: AsyncSession,
    *,
    service_name: str,
    metric_type: str,
    start: datetime,
    end: datetime,
    limit: int = 100_000,
) -> list[Histogram]:
    """A series' non-empty histogram samples with start < timestamp <= end, oldest first
    (an impact window, as actions.repository.sample_values)."""
    query = (
        select(H.bounds, H.counts, H.sum, H.count)
        .where(
            H.service_name == service_name,
            H.metric_type == metric_type,
            H.timestamp > start,
            H.timestamp <= end,
            H.count > 0,
        )
        .order_by(H.timestamp)
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    return [Histogram(tuple(r[0]), tuple(r[1]), float(r[2]), int(r[3])) for r in rows]


async def histogram_types(
    session: AsyncSession, service_name: str, start: datetime, end: datetime
) -> list[str]:
    """The metric types a service sent histogram samples of in [start, end)."""
    query = (
        select(H.metric_type)
        .where(H.service_name == service_name, H.timestamp >= start, H.timestamp < end)
        .group_by(H.metric_type)
        .order_by(H.metric_type)
    )
    return list((await session.execute(query)).scalars().all())


async def recent_histograms(
    session: AsyncSession, metric_types: Sequence[str], start: datetime, limit: int
) -> Sequence[PerformanceHistogram]:
    """Histogram samples of these types since `start`, newest first (engine restart)."""
    query = (
        select(H)
        .where(H.timestamp >= start, H.metric_type.in_(list(metric_types)))
        .order_by(H.timestamp.desc())
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def delete_histograms_older_than(
    connection: AsyncConnection, cutoff: datetime, *, chunk: int
) -> int:
    """Delete at most `chunk` histogram samples older than cutoff; returns how many went."""
    oldest = select(H.id).where(H.timestamp < cutoff).order_by(H.timestamp).limit(chunk)
    result = await connection.execute(
        delete(_table).where(_table.c.id.in_(oldest.scalar_subquery()))
    )
    return int(result.rowcount or 0)


async def types_with_histograms(session: AsyncSession, names: Sequence[str]) -> list[str]:
    """Which of these types have histogram samples (one index seek each)."""
    found = []
    for name in names:
        query = select(H.id).where(H.metric_type == name).limit(1)
        if (await session.execute(query)).first() is not None:
            found.append(name)
    return found


async def count_histograms(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(_table))).scalar_one())
