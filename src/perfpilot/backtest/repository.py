"""SQL for the backtest: the samples of one rule's scope, streamed in time order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.engine.windows import Sample
from perfpilot.models import PerformanceMetric


async def samples_in_order(
    session: AsyncSession,
    *,
    metric_type: str,
    service_name: str | None,
    since: datetime,
    until: datetime,
    chunk: int,
) -> AsyncIterator[list[Sample]]:
    """Chunks of samples over [since, until), oldest first: one index range, streamed, so
    memory stays at one chunk whatever the period holds. service_name None: every service."""
    m = PerformanceMetric
    query = select(m.service_name, m.timestamp, m.value).where(
        m.metric_type == metric_type, m.timestamp >= since, m.timestamp < until
    )
    if service_name is not None:
        query = query.where(m.service_name == service_name)
    query = query.order_by(m.timestamp, m.id).execution_options(yield_per=chunk)
    result = await session.stream(query)
    async for rows in result.partitions(chunk):
        yield [Sample(r[0], metric_type, float(r[2]), r[1].timestamp()) for r in rows]
