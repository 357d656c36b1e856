"""The day partitions of the samples table on PostgreSQL (migration 5f2a8c7d3e61).

ai_performance_metrics is partitioned by range of `timestamp`: one partition per UTC day,
ai_performance_metrics_pYYYYMMDD, and a DEFAULT partition for samples of any other day, so
no sample is ever refused for its time. The retention loop (the leader's, on scale-out) keeps
the days ahead made and drops the days past retention whole: a DROP TABLE instead of deleting
the day's rows one by one (and vacuuming them after). SQLite: nothing here applies.

Naming is the contract: a partition's day is read from its name, never from its bounds' text.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

SAMPLES = "ai_performance_metrics"
DEFAULT_PARTITION = f"{SAMPLES}_default"
_DAY_PARTITION = re.compile(rf"{SAMPLES}_p(\d{{8}})")
# DDL on the samples table waits for no longer than this (then the next pass tries again):
# a queue behind a long report must not hold ingestion up
LOCK_TIMEOUT = "5s"


def partition_name(day: date) -> str:
    return f"{SAMPLES}_p{day:%Y%m%d}"


def partition_day(name: str) -> date | None:
    """The day of a day partition's name; None for any other name."""
    match = _DAY_PARTITION.fullmatch(name)
    return None if match is None else datetime.strptime(match[1], "%Y%m%d").date()


def is_samples_partition(name: str) -> bool:
    """A partition of the samples table (not in the models: made and dropped by day)."""
    return name == DEFAULT_PARTITION or partition_day(name) is not None


def outside_partitions(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's include_name: autogenerate compares the samples table, not its partitions."""
    return not (type_ == "table" and name is not None and is_samples_partition(name))


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def samples_partitioned(connection: AsyncConnection) -> bool:
    """Whether the samples table is partitioned (PostgreSQL past the migration)."""
    if connection.dialect.name != "postgresql":
        return False
    kind = await connection.execute(
        text("SELECT relkind::text FROM pg_class WHERE oid = to_regclass(:t)"), {"t": SAMPLES}
    )
    return kind.scalar_one_or_none() == "p"


async def day_partitions(connection: AsyncConnection) -> dict[date, bool]:
    """Every day partition by day, and whether it is attached (one left detached by a pass
    that stopped between DETACH and DROP is still listed, to be dropped)."""
    rows = await connection.execute(
        text(
            "SELECT c.relname, c.relispartition FROM pg_class c "
            "WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace "
            "AND c.relname LIKE :prefix"
        ),
        {"prefix": f"{SAMPLES}\\_p%"},
    )
    found: dict[date, bool] = {}
    for name, attached in rows:
        day = partition_day(name)
        if day is not None:
            found[day] = bool(attached)
    return found


async def create_day_partition(connection: AsyncConnection, day: date) -> int:
    """Make the day's partition in the caller's transaction; returns how many samples of that
    day it took over from the default partition (PostgreSQL refuses to make a partition for
    rows the default one holds, so they move out first and back in after)."""
    start, end = day_start(day), day_start(day + timedelta(days=1))
    bounds = {"start": start, "end": end}
    await connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    await connection.execute(text(f"CREATE TEMP TABLE moving (LIKE {SAMPLES}) ON COMMIT DROP"))
    moved = await connection.execute(
        text(
            f"WITH gone AS (DELETE FROM {DEFAULT_PARTITION} "  # noqa: S608
            'WHERE "timestamp" >= :start AND "timestamp" < :end RETURNING *) '
            "INSERT INTO moving SELECT * FROM gone"
        ),
        bounds,
    )
    # the bounds are dates we format: no input reaches the text
    await connection.execute(
        text(
            f"CREATE TABLE {partition_name(day)} PARTITION OF {SAMPLES} "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    )
    # ingest_xid included: moved rows keep the transaction id shard owners read them by
    await connection.execute(text(f"INSERT INTO {SAMPLES} SELECT * FROM moving"))  # noqa: S608
    await connection.execute(text("DROP TABLE moving"))
    return int(moved.rowcount or 0)


async def detach_day_partition(connection: AsyncConnection, day: date) -> None:
    """Take the day out of the samples table (a short lock on it; the caller commits at once):
    from then on no insert can reach it, so its rows can be counted and dropped unhurried."""
    await connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    await connection.execute(text(f"ALTER TABLE {SAMPLES} DETACH PARTITION {partition_name(day)}"))


async def drop_detached_day(connection: AsyncConnection, day: date) -> int:
    """Drop a detached day partition; returns how many samples went with it."""
    name = partition_name(day)
    count = await connection.execute(text(f"SELECT count(*) FROM {name}"))  # noqa: S608
    rows = int(count.scalar_one())
    await connection.execute(text(f"DROP TABLE {name}"))
    return rows
