"""SQL for samples."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
from sqlalchemy import Table, bindparam, delete, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from perfpilot.core.bulk import SQLITE_DIALECT, insert_rows, multirow
from perfpilot.core.pagination import after_cursor, newest_first
from perfpilot.metrics.stream import SampleRow
from perfpilot.models import (
    IDEMPOTENCY_KEY_TTL,
    IdempotencyKey,
    MetricSeries,
    MetricSeriesLabel,
    PerformanceHistogram,
    PerformanceMetric,
)

_table = cast(Table, PerformanceMetric.__table__)
_insert = _table.insert()


@dataclass(frozen=True, slots=True)
class SampleFilter:
    service_name: str | None = None
    metric_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    labels: tuple[tuple[str, str], ...] = ()  # label name = value, every one (AND)


# A row as the driver takes it, in the table's column order: SQLAlchemy's per-row bind
# processing (UUID, UTCDateTime, JSON) done once per row in bind_rows, not per value.
StoredRow = tuple[Any, str, str, float, str, Any, str, int | None]
_COLUMNS = [
    "id",
    "service_name",
    "metric_type",
    "value",
    "unit",
    "timestamp",
    "metadata",
    "series_id",
]
_insert_sql: dict[str, str] = {}


def bind_rows(
    rows: Sequence[SampleRow], metadata_json: Sequence[str], *, dialect: str
) -> list[StoredRow]:
    """Rows in the storage form SQLAlchemy's column types give them on this backend.

    SQLite: the UUID as 32 hex digits (Uuid) and the time as naive UTC
    'YYYY-MM-DD HH:MM:SS.ffffff' (UTCDateTime, DateTime). PostgreSQL (asyncpg): the UUID as
    text, which asyncpg encodes as a native uuid, and timestamptz. Metadata is JSON text on
    both (JSONB parses it).
    """
    if dialect == "sqlite":
        return [
            (
                r["id"].replace("-", ""),
                r["service_name"],
                r["metric_type"],
                r["value"],
                r["unit"],
                r["timestamp"].astimezone(UTC).isoformat(" ", "microseconds")[:26],
                meta,
                r["series_id"],
            )
            for r, meta in zip(rows, metadata_json, strict=True)
        ]
    return [
        (
            r["id"],
            r["service_name"],
            r["metric_type"],
            r["value"],
            r["unit"],
            r["timestamp"],
            meta,
            r["series_id"],
        )
        for r, meta in zip(rows, metadata_json, strict=True)
    ]


def _insert_statement(dialect: Dialect) -> str:
    """The INSERT SQLAlchemy itself would send (placeholders, casts), compiled once."""
    sql = _insert_sql.get(dialect.name)
    if sql is None:
        compiled = _insert.compile(dialect=dialect, column_keys=_COLUMNS)
        if list(compiled.positiontup or ()) != _COLUMNS:
            raise RuntimeError(f"unexpected INSERT parameter order: {compiled.positiontup}")
        sql = _insert_sql[dialect.name] = str(compiled)
    return sql


# On PostgreSQL a group this large is written with COPY (asyncpg copy_records_to_table):
# about twice the rows/s of executemany (BENCHMARKS.md, "Scale-out"); below it, the extra
# round trip that makes COPY join the transaction costs more than it saves.
COPY_MIN_ROWS = 500


async def insert_samples(connection: AsyncConnection, rows: Sequence[StoredRow]) -> None:
    """Bound rows in the caller's transaction: multi-row INSERTs (SQLite, core/bulk.py),
    executemany or COPY (PostgreSQL)."""
    if connection.dialect.name == "postgresql" and len(rows) >= COPY_MIN_ROWS:
        await _copy_samples(connection, rows)
        return
    await insert_rows(connection, _insert_statement(connection.dialect), rows)


def write_samples(connection: sqlite3.Connection, rows: Sequence[StoredRow]) -> None:
    """`insert_samples` on SQLite's write connection, on its own thread, inside a
    transaction run by core/db.write_in_one_hop."""
    multirow(_insert_statement(SQLITE_DIALECT)).run(connection, rows)


async def _copy_samples(connection: AsyncConnection, rows: Sequence[StoredRow]) -> None:
    # the driver begins the transaction on the first statement: COPY must come after one
    await connection.exec_driver_sql("SELECT 1")
    raw = await connection.get_raw_connection()
    try:
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            _table.name, records=rows, columns=_COLUMNS
        )
    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
        # refused for its data, as executemany's would be (metrics/ingest.py isolates the
        # request that holds the row)
        raise DBAPIError("COPY ai_performance_metrics", None, exc) from exc


# GET /metrics reads columns, not ORM objects: a page is tuples, no identity map, no instances
_LISTED = (
    _table.c.id,
    _table.c.service_name,
    _table.c.metric_type,
    _table.c.value,
    _table.c.unit,
    _table.c.timestamp,
    _table.c.metadata,
    _table.c.series_id,
)
ListedRow = Row[Any, Any, Any, Any, Any, Any, Any, Any]  # the columns of _LISTED


def _samples_query(
    filters: SampleFilter, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> Any:
    query = select(*_LISTED)
    if filters.service_name is not None:
        query = query.where(PerformanceMetric.service_name == filters.service_name)
    if filters.metric_type is not None:
        query = query.where(PerformanceMetric.metric_type == filters.metric_type)
    if filters.since is not None:
        query = query.where(PerformanceMetric.timestamp >= filters.since)
    # One upper bound, the tighter of `until` and the cursor: given both, SQLite bounds the
    # index range by `until` and would walk back over every earlier page on each page.
    if after is not None and (filters.until is None or after[0] <= filters.until):
        query = query.where(after_cursor(PerformanceMetric.timestamp, PerformanceMetric.id, after))
    elif filters.until is not None:
        query = query.where(PerformanceMetric.timestamp <= filters.until)
    return query.order_by(*newest_first(PerformanceMetric.timestamp, PerformanceMetric.id)).limit(
        limit
    )


async def list_samples(
    session: AsyncSession,
    filters: SampleFilter,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> Sequence[ListedRow]:
    """Newest first, keyset-paged on (timestamp, id), without label filters.

    Each combination of filters is one range of an index that ends in (timestamp, id):
    (service, type, ...), (service, ...), (type, ...) or (timestamp, id) alone.
    """
    result = await session.execute(_samples_query(filters, limit=limit, after=after))
    return result.all()


async def matching_series(session: AsyncSession, filters: SampleFilter) -> dict[int, str]:
    """The labelled series (id -> canonical labels) holding every label of the filter, within
    its service and type: a seek on (name, value) per label."""
    query = select(MetricSeries.id, MetricSeries.labels)
    if filters.service_name is not None:
        query = query.where(MetricSeries.service_name == filters.service_name)
    if filters.metric_type is not None:
        query = query.where(MetricSeries.metric_type == filters.metric_type)
    for name, value in filters.labels:
        query = query.where(
            MetricSeries.id.in_(
                select(MetricSeriesLabel.series_id).where(
                    MetricSeriesLabel.name == name, MetricSeriesLabel.value == value
                )
            )
        )
    rows = (await session.execute(query)).all()
    return {int(row.id): row.labels for row in rows}


async def list_series_samples(
    session: AsyncSession,
    series_id: int,
    filters: SampleFilter,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> Sequence[ListedRow]:
    """One labelled series, newest first: one range of ix_metrics_series_ts (the series
    filter implies its `series_id IS NOT NULL`)."""
    only = SampleFilter(since=filters.since, until=filters.until)
    query = _samples_query(only, limit=limit, after=after).where(
        PerformanceMetric.series_id == series_id
    )
    return (await session.execute(query)).all()


async def series_labels(session: AsyncSession, series_ids: Iterable[int]) -> dict[int, str]:
    """Canonical labels of the given series, by id."""
    wanted = sorted(set(series_ids))
    if not wanted:
        return {}
    query = select(MetricSeries.id, MetricSeries.labels).where(MetricSeries.id.in_(wanted))
    return {int(row.id): row.labels for row in (await session.execute(query)).all()}


@dataclass(frozen=True, slots=True)
class LabelledLatest:
    """The newest sample of one labelled series, with the value of the grouping label."""

    label_value: str
    metric_type: str
    timestamp: datetime | None  # None: the series has no sample left
    value: float | None


async def latest_by_label(
    session: AsyncSession, service_name: str, label: str
) -> list[LabelledLatest]:
    """The newest sample of each series of a service that has `label`: the series by a seek on
    (service) and (series, name), each newest sample by a seek on ix_metrics_series_ts."""
    samples = PerformanceMetric
    newest = (
        select(samples.timestamp, samples.value)
        .where(samples.series_id == MetricSeries.id)
        .order_by(samples.timestamp.desc(), samples.id.desc())
        .limit(1)
    )
    query = (
        select(
            MetricSeriesLabel.value,
            MetricSeries.metric_type,
            newest.with_only_columns(samples.timestamp).scalar_subquery(),
            newest.with_only_columns(samples.value).scalar_subquery(),
        )
        .join(
            MetricSeriesLabel,
            (MetricSeriesLabel.series_id == MetricSeries.id) & (MetricSeriesLabel.name == label),
        )
        .where(MetricSeries.service_name == service_name)
    )
    rows = (await session.execute(query)).all()
    return [LabelledLatest(r[0], r[1], r[2], r[3]) for r in rows]


async def series_by_label(
    session: AsyncSession, service_name: str, label: str
) -> list[tuple[int, str, str]]:
    """(series id, metric type, value of `label`) of each series of a service with the label."""
    query = (
        select(MetricSeries.id, MetricSeries.metric_type, MetricSeriesLabel.value)
        .join(
            MetricSeriesLabel,
            (MetricSeriesLabel.series_id == MetricSeries.id) & (MetricSeriesLabel.name == label),
        )
        .where(MetricSeries.service_name == service_name)
    )
    return [(int(r[0]), r[1], r[2]) for r in (await session.execute(query)).all()]


# --- series registration (the ingest writer, metrics/series.py) -----------------------------
_series = cast(Table, MetricSeries.__table__)
_series_labels = cast(Table, MetricSeriesLabel.__table__)


async def lock_service_series(connection: AsyncConnection, service_name: str) -> None:
    """Serialise registrations of one service's series until the transaction ends, across
    replicas (PostgreSQL advisory lock). SQLite has one writer: nothing to do."""
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('perfpilot.series'), hashtext(:s))"),
            {"s": service_name},
        )


async def service_label_sets(connection: AsyncConnection, service_name: str) -> set[int]:
    """The distinct label sets (their hashes) of a service's series that still hold a sample:
    a set whose samples all went with retention no longer counts (the series row stays, so a
    series id never dangles). One seek per series on ix_metrics_series_ts."""
    samples = PerformanceMetric
    held = or_(
        select(samples.id).where(samples.series_id == _series.c.id).exists(),
        select(PerformanceHistogram.id)
        .where(PerformanceHistogram.series_id == _series.c.id)
        .exists(),
    )
    query = (
        select(_series.c.labels_hash).where(_series.c.service_name == service_name, held).distinct()
    )
    return {int(r[0]) for r in await connection.execute(query)}


async def insert_series(
    connection: AsyncConnection, series: Sequence[dict[str, Any]], pairs: Sequence[dict[str, Any]]
) -> None:
    """Register series and their label pairs; a series registered meanwhile is kept as is."""
    if not series:
        return
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    await connection.execute(insert(_series).on_conflict_do_nothing(), list(series))
    if pairs:
        await connection.execute(insert(_series_labels).on_conflict_do_nothing(), list(pairs))


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
    # the bound again outside: on PostgreSQL it keeps the DELETE to the partitions before the
    # cutoff (the day it falls in, the default one) instead of probing every day for the ids
    result = await connection.execute(
        delete(_table).where(_table.c.id.in_(oldest), _table.c.timestamp < cutoff)
    )
    return int(result.rowcount or 0)


async def count_samples(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(_table))).scalar_one())


# Idempotency keys of ingestion requests (POST /metrics, /metrics/batch).
_keys = cast(Table, IdempotencyKey.__table__)
_delete_expired_key = delete(_keys).where(
    _keys.c.subject == bindparam("b_subject"),
    _keys.c.key == bindparam("b_key"),
    _keys.c.created_at <= bindparam("b_expired_before", type_=_keys.c.created_at.type),
)


async def find_idempotency_key(
    connection: AsyncConnection, *, subject: str, key: str, now: datetime
) -> tuple[str, int, str] | None:
    """(request_hash, status_code, response_body) of a key still live at `now`."""
    query = select(_keys.c.request_hash, _keys.c.status_code, _keys.c.response_body).where(
        _keys.c.subject == subject,
        _keys.c.key == key,
        _keys.c.created_at > now - IDEMPOTENCY_KEY_TTL,
    )
    row = (await connection.execute(query)).first()
    return None if row is None else (row.request_hash, row.status_code, row.response_body)


async def insert_idempotency_keys(
    connection: AsyncConnection, keys: Sequence[dict[str, Any]]
) -> None:
    """Record key rows in the caller's transaction (the one inserting their samples). A row
    of the same (subject, key) past its lifetime is replaced; a live one makes the insert
    fail (IntegrityError): the primary key is what stops a second commit."""
    await connection.execute(
        _delete_expired_key,
        [
            {
                "b_subject": k["subject"],
                "b_key": k["key"],
                "b_expired_before": k["created_at"] - IDEMPOTENCY_KEY_TTL,
            }
            for k in keys
        ],
    )
    await connection.execute(_keys.insert(), list(keys))


async def delete_idempotency_keys_older_than(
    connection: AsyncConnection, cutoff: datetime, *, chunk: int
) -> int:
    """Delete at most `chunk` idempotency keys recorded before cutoff; returns how many went."""
    oldest = (
        select(_keys.c.subject, _keys.c.key)
        .where(_keys.c.created_at < cutoff)
        .order_by(_keys.c.created_at)
        .limit(chunk)
    )
    rows = (await connection.execute(oldest)).all()
    if not rows:
        return 0
    await connection.execute(
        delete(_keys).where(
            _keys.c.subject == bindparam("b_subject"), _keys.c.key == bindparam("b_key")
        ),
        [{"b_subject": subject, "b_key": key} for subject, key in rows],
    )
    return len(rows)
