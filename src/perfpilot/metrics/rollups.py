"""Per-minute rollups of samples (count/sum/min/max per series per UTC minute).

Kept in the transaction that commits the samples (ingest.py), so a rollup is never behind
the samples it summarises: GET /series (series/) answers a coarse chart from one row per
series-minute and gets what the raw samples give. Retention drops the minutes before its
cutoff. The unlabelled samples of a (service, type) are series 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from perfpilot.metrics.repository import StoredRow
from perfpilot.models import MetricRollup

_table = cast(Table, MetricRollup.__table__)
MINUTE_SECONDS = 60
# a rollup row as bound: service, type, minute, series id, count, sum, min, max
RollupKey = tuple[str, str, Any, int]


def minute_rollups(rows: Sequence[StoredRow], *, dialect: str) -> list[dict[str, Any]]:
    """The rows' count/sum/min/max per (service, type, minute, series), in key order.

    Rows are as repository.bind_rows made them: on SQLite the time is the stored text
    'YYYY-MM-DD HH:MM:SS.ffffff', whose first 17 characters name the minute."""
    acc: dict[RollupKey, list[float]] = {}
    sqlite = dialect == "sqlite"
    for row in rows:
        when = row[5]
        minute = when[:17] if sqlite else when.replace(second=0, microsecond=0)
        key = (row[1], row[2], minute, row[7] or 0)
        value = row[3]
        a = acc.get(key)
        if a is None:
            acc[key] = [1, value, value, value]
            continue
        a[0] += 1
        a[1] += value
        if value < a[2]:
            a[2] = value
        elif value > a[3]:
            a[3] = value
    out = []
    for key in sorted(acc):  # one lock order for concurrent writers (PostgreSQL replicas)
        count, total, low, high = acc[key]
        minute = key[2]
        if sqlite:
            minute = datetime.fromisoformat(minute + "00").replace(tzinfo=UTC)
        out.append(
            {
                "service_name": key[0],
                "metric_type": key[1],
                "minute": minute,
                "series_id": key[3],
                "count": int(count),
                "sum": total,
                "min": low,
                "max": high,
            }
        )
    return out


async def add_rollups(connection: AsyncConnection, rollups: list[dict[str, Any]]) -> None:
    """Merge the rollups into the table, in the caller's transaction."""
    if not rollups:
        return
    postgres = connection.dialect.name == "postgresql"
    insert = (pg_insert if postgres else sqlite_insert)(_table)
    excluded = insert.excluded
    least, greatest = (func.least, func.greatest) if postgres else (func.min, func.max)
    statement = insert.on_conflict_do_update(
        index_elements=[
            _table.c.service_name,
            _table.c.metric_type,
            _table.c.minute,
            _table.c.series_id,
        ],
        set_={
            "count": _table.c.count + excluded.count,
            "sum": _table.c.sum + excluded.sum,
            "min": least(_table.c.min, excluded.min),
            "max": greatest(_table.c.max, excluded.max),
        },
    )
    await connection.execute(statement, rollups)


async def delete_rollups_older_than(
    connection: AsyncConnection, cutoff: datetime, *, chunk: int
) -> int:
    """Delete at most `chunk` minutes that end at or before `cutoff`."""
    whole = cutoff.replace(second=0, microsecond=0)
    oldest = (
        select(_table.c.minute)
        .where(_table.c.minute < whole)
        .order_by(_table.c.minute)
        .limit(chunk)
        .subquery()
    )
    # minutes repeat across series: bound the chunk by its last minute, delete all of those
    last = select(func.max(oldest.c.minute)).scalar_subquery()
    result = await connection.execute(
        delete(_table).where(_table.c.minute < whole, _table.c.minute <= last)
    )
    return int(result.rowcount or 0)
