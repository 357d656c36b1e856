"""SQL for samples."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from perfpilot.metrics.stream import SampleRow
from perfpilot.models import PerformanceMetric

_table = PerformanceMetric.__table__
_insert = _table.insert()


@dataclass(frozen=True, slots=True)
class SampleFilter:
    service_name: str | None = None
    metric_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def insert_samples(connection: AsyncConnection, rows: Sequence[SampleRow]) -> None:
    """One executemany in the caller's transaction."""
    await connection.execute(_insert, list(rows))


async def list_samples(
    session: AsyncSession,
    filters: SampleFilter,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> Sequence[PerformanceMetric]:
    """Newest first, keyset-paged on (timestamp, id)."""
    query = select(PerformanceMetric)
    if filters.service_name is not None:
        query = query.where(PerformanceMetric.service_name == filters.service_name)
    if filters.metric_type is not None:
        query = query.where(PerformanceMetric.metric_type == filters.metric_type)
    if filters.since is not None:
        query = query.where(PerformanceMetric.timestamp >= filters.since)
    if filters.until is not None:
        query = query.where(PerformanceMetric.timestamp <= filters.until)
    if after is not None:
        ts, last_id = after
        query = query.where(
            or_(
                PerformanceMetric.timestamp < ts,
                and_(PerformanceMetric.timestamp == ts, PerformanceMetric.id < last_id),
            )
        )
    query = query.order_by(PerformanceMetric.timestamp.desc(), PerformanceMetric.id.desc())
    result = await session.execute(query.limit(limit))
    return result.scalars().all()


async def delete_samples_older_than(
    connection: AsyncConnection, cutoff: datetime, *, chunk: int
) -> int:
    """Delete at most `chunk` samples older than cutoff; returns how many went."""
    oldest = (
        select(PerformanceMetric.id)
        .where(PerformanceMetric.timestamp < cutoff)
        .order_by(PerformanceMetric.timestamp)
        .limit(chunk)
        .scalar_subquery()
    )
    result = await connection.execute(delete(_table).where(_table.c.id.in_(oldest)))
    return int(result.rowcount or 0)


async def count_samples(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(_table))).scalar_one())
