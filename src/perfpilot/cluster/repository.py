"""The SQL of scale-out (PostgreSQL only).

Commit order: a sample row carries the id of the transaction that inserted it (ingest_xid,
xid8, its column default). Sequence values are not commit order under concurrency, but the
snapshot's xmin is a safe watermark: every transaction with an id below it has finished, so
the rows with ingest_xid in [previous watermark, xmin) are complete and will never change. A
shard owner reads exactly those, then moves its watermark to xmin. The cost: a transaction
left open anywhere on the server holds every owner back until it ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.cluster.shards import shard_sql
from perfpilot.models import OptimizationRule, PerformanceAlert

_XMIN = text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")

# shard_sql is a fixed expression over a column name of ours: no input reaches the text
_NEW_SAMPLES = text(
    f"""
    SELECT m.ingest_xid::text::bigint AS xid, m.id, m.service_name, m.metric_type, m.value,
           m.unit, m.timestamp, s.labels, m.series_id
    FROM ai_performance_metrics m
    LEFT JOIN ai_metric_series s ON s.id = m.series_id
    WHERE m.ingest_xid >= CAST(CAST(:low AS text) AS xid8)
      AND m.ingest_xid < CAST(CAST(:high AS text) AS xid8)
      AND {shard_sql("m.service_name")} = ANY(:shards)
    """,  # noqa: S608
)

_RECENT_SAMPLES = text(
    f"""
    SELECT m.ingest_xid::text::bigint AS xid, m.service_name, m.metric_type, m.value,
           m.timestamp, s.labels
    FROM ai_performance_metrics m
    LEFT JOIN ai_metric_series s ON s.id = m.series_id
    WHERE m.timestamp >= :start AND m.metric_type = ANY(:metrics)
      AND (m.ingest_xid IS NULL OR m.ingest_xid < CAST(CAST(:below AS text) AS xid8))
      AND {shard_sql("m.service_name")} = ANY(:shards)
    ORDER BY m.timestamp DESC
    LIMIT :max_rows
    """,  # noqa: S608
)

# histogram samples with observations (as ingestion publishes them)
_NEW_HISTOGRAMS = text(
    f"""
    SELECT h.ingest_xid::text::bigint AS xid, h.id, h.service_name, h.metric_type, h.unit,
           h.timestamp, h.bounds, h.counts, h.sum, h.count, s.labels, h.series_id
    FROM ai_performance_histograms h
    LEFT JOIN ai_metric_series s ON s.id = h.series_id
    WHERE h.ingest_xid >= CAST(CAST(:low AS text) AS xid8)
      AND h.ingest_xid < CAST(CAST(:high AS text) AS xid8)
      AND h.count > 0
      AND {shard_sql("h.service_name")} = ANY(:shards)
    """,  # noqa: S608
)

_RECENT_HISTOGRAMS = text(
    f"""
    SELECT h.ingest_xid::text::bigint AS xid, h.service_name, h.metric_type, h.timestamp,
           h.bounds, h.counts, h.sum, h.count, s.labels
    FROM ai_performance_histograms h
    LEFT JOIN ai_metric_series s ON s.id = h.series_id
    WHERE h.timestamp >= :start AND h.metric_type = ANY(:metrics) AND h.count > 0
      AND (h.ingest_xid IS NULL OR h.ingest_xid < CAST(CAST(:below AS text) AS xid8))
      AND {shard_sql("h.service_name")} = ANY(:shards)
    ORDER BY h.timestamp DESC
    LIMIT :max_rows
    """,  # noqa: S608
)

_CLAIM = text(
    """
    INSERT INTO ai_engine_shards (shard, watermark, owner, updated_at)
    SELECT k, CAST(:watermark AS bigint), CAST(:owner AS varchar), CAST(:now AS timestamptz)
    FROM unnest(CAST(:shards AS integer[])) AS k
    ON CONFLICT (shard) DO UPDATE SET owner = EXCLUDED.owner, updated_at = EXCLUDED.updated_at
    RETURNING shard, watermark
    """
)

_SAVE = text(
    """
    UPDATE ai_engine_shards SET watermark = :watermark, owner = :owner, updated_at = :now
    WHERE shard = ANY(CAST(:shards AS integer[])) AND watermark < :watermark
    """
)


async def snapshot_xmin(session: AsyncSession) -> int:
    """Every transaction with a lower id has committed or rolled back."""
    return int((await session.execute(_XMIN)).scalar_one())


async def new_samples(
    session: AsyncSession, *, low: int, high: int, shards: Iterable[int], shard_count: int
) -> list[Any]:
    """Samples of these shards inserted by transactions with ids in [low, high): value rows,
    then histogram rows (those have `bounds`)."""
    params = {
        "low": str(low),
        "high": str(high),
        "shards": sorted(shards),
        "shard_count": shard_count,
    }
    found = list((await session.execute(_NEW_SAMPLES, params)).all())
    return found + list((await session.execute(_NEW_HISTOGRAMS, params)).all())


async def recent_samples(
    session: AsyncSession,
    *,
    start: datetime,
    metrics: list[str],
    below: int,
    shards: Iterable[int],
    shard_count: int,
    max_rows: int,
) -> list[Any]:
    """Samples of these shards since `start`, inserted by transactions below `below` (the
    highest of their watermarks; the caller keeps each shard's own), newest first."""
    params = {
        "start": start,
        "metrics": metrics,
        "below": str(below),
        "shards": sorted(shards),
        "shard_count": shard_count,
        "max_rows": max_rows,
    }
    found = list((await session.execute(_RECENT_SAMPLES, params)).all())
    return found + list((await session.execute(_RECENT_HISTOGRAMS, params)).all())


async def claim_shards(
    session: AsyncSession, shards: Iterable[int], *, owner: str
) -> dict[int, int]:
    """Mark these shards as ours; their watermarks (a shard never owned starts at the
    current xmin: the samples before it are history, loaded into windows, not evaluated)."""
    params = {
        "shards": sorted(shards),
        "watermark": await snapshot_xmin(session),
        "owner": owner,
        "now": datetime.now(UTC),
    }
    return {int(r[0]): int(r[1]) for r in (await session.execute(_CLAIM, params)).all()}


async def save_position(
    session: AsyncSession, shards: Iterable[int], *, watermark: int, owner: str
) -> None:
    """Every sample of these shards below `watermark` is evaluated (in the step's transaction)."""
    params = {
        "shards": sorted(shards),
        "watermark": watermark,
        "owner": owner,
        "now": datetime.now(UTC),
    }
    await session.execute(_SAVE, params)


async def rule_ids(session: AsyncSession) -> set[str]:
    """Every stored rule's id (a resync re-reads each)."""
    rows = await session.scalars(select(OptimizationRule.id))
    return {str(rule_id) for rule_id in rows}


async def alert_statuses(
    session: AsyncSession, alert_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The stored status of each of these alerts (missing ids are left out)."""
    ids = list(alert_ids)
    found: dict[uuid.UUID, str] = {}
    for start in range(0, len(ids), _IDS_PER_QUERY):
        chunk = ids[start : start + _IDS_PER_QUERY]
        query = select(PerformanceAlert.id, PerformanceAlert.status).where(
            PerformanceAlert.id.in_(chunk)
        )
        found.update({row.id: row.status for row in await session.execute(query)})
    return found


_IDS_PER_QUERY = 1_000
