"""Per-minute rollups of samples (count/sum/min/max per series per UTC minute).

Kept in the transaction that commits the samples (ingest.py), so a rollup is never behind
the samples it summarises: GET /series (series/) answers a coarse chart from one row per
series-minute and gets what the raw samples give. Retention drops the minutes before its
cutoff. The unlabelled samples of a (service, type) are series 0.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from perfpilot.core.bulk import SQLITE_DIALECT, insert_rows, multirow
from perfpilot.metrics.repository import StoredRow
from perfpilot.models import MetricRollup

_table = cast(Table, MetricRollup.__table__)
MINUTE_SECONDS = 60


_COLUMNS = ["service_name", "metric_type", "minute", "series_id", "count", "sum", "min", "max"]
# a rollup row as the driver takes it, in _COLUMNS order
BoundRollup = tuple[str, str, Any, int, int, float, float, float]
_upsert_sql: dict[str, str] = {}


def minute_rollups(rows: Sequence[StoredRow], *, dialect: str) -> list[BoundRollup]:
    """The rows' count/sum/min/max per (service, type, minute, series), in key order, bound
    for the driver like the rows themselves (repository.bind_rows): on SQLite the time is the
    stored text 'YYYY-MM-DD HH:MM:SS.ffffff', whose first 17 characters name the minute."""
    acc: dict[tuple[str, str, Any, int], list[float]] = {}
    sqlite = dialect == "sqlite"
    for row in rows:
        when = row[5]
        # SQLite: the text up to the minute; PostgreSQL: whole minutes since the epoch
        minute = when[:17] if sqlite else when.timestamp() // MINUTE_SECONDS
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
    out: list[BoundRollup] = []
    for key in sorted(acc):  # one lock order for concurrent writers (PostgreSQL replicas)
        count, total, low, high = acc[key]
        minute = (
            f"{key[2]}00.000000" if sqlite else datetime.fromtimestamp(key[2] * MINUTE_SECONDS, UTC)
        )
        out.append((key[0], key[1], minute, key[3], int(count), total, low, high))
    return out


def _upsert_statement(dialect: Dialect) -> str:
    """INSERT ... ON CONFLICT DO UPDATE merging a rollup, compiled once per dialect."""
    sql = _upsert_sql.get(dialect.name)
    if sql is None:
        postgres = dialect.name == "postgresql"
        insert = (pg_insert if postgres else sqlite_insert)(_table)
        excluded = insert.excluded
        least, greatest = (func.least, func.greatest) if postgres else (func.min, func.max)
        statement = insert.on_conflict_do_update(
            index_elements=[_table.c[name] for name in _COLUMNS[:4]],
            set_={
                "count": _table.c.count + excluded.count,
                "sum": _table.c.sum + excluded.sum,
                "min": least(_table.c.min, excluded.min),
                "max": greatest(_table.c.max, excluded.max),
            },
        )
        compiled = statement.compile(dialect=dialect, column_keys=_COLUMNS)
        if list(compiled.positiontup or ()) != _COLUMNS:
            raise RuntimeError(f"unexpected upsert parameter order: {compiled.positiontup}")
        sql = _upsert_sql[dialect.name] = str(compiled)
    return sql


async def add_rollups(connection: AsyncConnection, rollups: list[BoundRollup]) -> None:
    """Merge the rollups into the table, in the caller's transaction: multi-row upserts on
    SQLite (core/bulk.py; a group's rollups have distinct keys), executemany on PostgreSQL."""
    await insert_rows(connection, _upsert_statement(connection.dialect), rollups)


def write_rollups(connection: sqlite3.Connection, rollups: list[BoundRollup]) -> None:
    """`add_rollups` on SQLite's write connection, on its own thread, inside a transaction
    run by core/db.write_in_one_hop."""
    multirow(_upsert_statement(SQLITE_DIALECT)).run(connection, rollups)


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
