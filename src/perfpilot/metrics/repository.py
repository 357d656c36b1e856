"""SQL for samples."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select
from sqlalchemy.engine import Dialect, Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from perfpilot.core.pagination import after_cursor, newest_first
from perfpilot.metrics.stream import SampleRow
from perfpilot.models import IDEMPOTENCY_KEY_TTL, IdempotencyKey, PerformanceMetric

_table = cast(Table, PerformanceMetric.__table__)
_insert = _table.insert()


@dataclass(frozen=True, slots=True)
class SampleFilter:
    service_name: str | None = None
    metric_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


# A row as the driver takes it, in the table's column order: SQLAlchemy's per-row bind
# processing (UUID, UTCDateTime, JSON) done once per row in bind_rows, not per value.
StoredRow = tuple[Any, str, str, float, str, Any, str]
_COLUMNS = ["id", "service_name", "metric_type", "value", "unit", "timestamp", "metadata"]
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


async def insert_samples(connection: AsyncConnection, rows: Sequence[StoredRow]) -> None:
    """One executemany of bound rows in the caller's transaction."""
    await connection.exec_driver_sql(_insert_statement(connection.dialect), list(rows))


# GET /metrics reads columns, not ORM objects: a page is tuples, no identity map, no instances
_LISTED = (
    _table.c.id,
    _table.c.service_name,
    _table.c.metric_type,
    _table.c.value,
    _table.c.unit,
    _table.c.timestamp,
    _table.c.metadata,
)
ListedRow = Row[Any, Any, Any, Any, Any, Any, Any]  # the columns of _LISTED


async def list_samples(
    session: AsyncSession,
    filters: SampleFilter,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> Sequence[ListedRow]:
    """Newest first, keyset-paged on (timestamp, id).

    Each combination of filters is one range of an index that ends in (timestamp, id):
    (service, type, ...), (service, ...), (type, ...) or (timestamp, id) alone.
    """
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
    query = query.order_by(*newest_first(PerformanceMetric.timestamp, PerformanceMetric.id))
    result = await session.execute(query.limit(limit))
    return result.all()


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
