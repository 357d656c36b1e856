"""On PostgreSQL the samples table is partitioned by day (migration 5f2a8c7d3e61): samples of
any time are stored and read back, the retention loop makes the days ahead and drops the days
past retention whole, without touching newer samples. SQLite has no partitions (skipped)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from perfpilot.core.db import create_engine
from perfpilot.core.migrate import alembic_config, upgrade_database
from perfpilot.metrics.partition_repository import (
    DEFAULT_PARTITION,
    SAMPLES,
    day_start,
    partition_name,
)
from perfpilot.metrics.retention import PARTITION_DAYS_AHEAD, RetentionLoop
from perfpilot.models import PerformanceMetric
from tests.conftest import LiveServer
from tests.conftest import _empty_tables as empty_tables

BEFORE = "6e2b9d4f1c87"  # the revision before the samples were partitioned


@pytest.fixture
async def postgres(database_url: str) -> AsyncIterator[str]:
    """The PostgreSQL test database, emptied after the test, with only today's and the next
    days' partitions left, as a fresh migration makes them (no other test meets these days)."""
    if database_url.startswith("sqlite"):
        pytest.skip("the samples table is partitioned on PostgreSQL only")
    yield database_url
    keep = {partition_name(d) for d in days_from(datetime.now(UTC).date(), PARTITION_DAYS_AHEAD)}
    await empty_tables(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            for name in set(await partitions(connection)) - keep - {DEFAULT_PARTITION}:
                await connection.execute(text(f"DROP TABLE {name}"))
    finally:
        await engine.dispose()


def days_from(first: date, ahead: int) -> list[date]:
    return [first + timedelta(days=n) for n in range(ahead + 1)]


async def partitions(connection: Any) -> dict[str, int]:
    """The attached partitions of the samples table (pg_inherits), with their row counts."""
    names = await connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:t AS regclass)"
        ),
        {"t": SAMPLES},
    )
    found = {}
    for (name,) in names.all():
        count = await connection.execute(text(f"SELECT count(*) FROM {name}"))
        found[name] = int(count.scalar_one())
    return found


async def where_stored(connection: Any, sample_id: str) -> str:
    """The partition holding the sample."""
    found = await connection.execute(
        text(f"SELECT tableoid::regclass::text FROM {SAMPLES} WHERE id = :id"),
        {"id": uuid.UUID(sample_id)},
    )
    return str(found.scalar_one())


def sample(at: datetime, service: str = "part") -> dict[str, Any]:
    return {"serviceName": service, "metricType": "cpu", "value": 50, "timestamp": at.isoformat()}


async def post(s: LiveServer, *samples: dict[str, Any]) -> list[str]:
    response = await s.client.post(
        s.api("/metrics/batch"), json={"samples": list(samples)}, headers=s.auth()
    )
    assert response.status_code == 201, response.text
    return [str(i) for i in response.json()["data"]["ids"]]


async def listed(s: LiveServer, **params: str) -> list[dict[str, Any]]:
    response = await s.client.get(
        s.api("/metrics"), params={"serviceName": "part", "limit": 1000, **params}, headers=s.auth()
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def _migrate(connection: Connection, revision: str, *, up: bool) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    (command.upgrade if up else command.downgrade)(config, revision)


async def test_the_migration_partitions_existing_samples_by_day(postgres: str) -> None:
    engine = create_engine(postgres)
    today = datetime.now(UTC).date()
    noon = day_start(today) + timedelta(hours=12)
    times = [noon - timedelta(days=3), noon - timedelta(days=1), noon, noon + timedelta(days=40)]
    try:
        await upgrade_database(engine)
        async with engine.begin() as connection:
            await connection.run_sync(_migrate, BEFORE, up=False)
            kind = f"SELECT relkind::text FROM pg_class WHERE relname = '{SAMPLES}'"
            assert (await connection.execute(text(kind))).scalar_one() == "r"
            rows = [
                {
                    "id": uuid.uuid4(),
                    "service_name": "part",
                    "metric_type": "cpu",
                    "value": float(i),
                    "unit": "%",
                    "timestamp": at,
                    "meta": {},
                }
                for i, at in enumerate(times)
            ]
            await connection.execute(PerformanceMetric.__table__.insert(), rows)
            xids = "SELECT id, ingest_xid::text FROM ai_performance_metrics ORDER BY id"
            before = (await connection.execute(text(xids))).all()
        await upgrade_database(engine)
        async with engine.connect() as connection:
            assert (await connection.execute(text(kind))).scalar_one() == "p"
            # the rows, their transaction ids (scale-out reads by them) kept
            assert (await connection.execute(text(xids))).all() == before
            found = await partitions(connection)
            held = [await where_stored(connection, str(r["id"])) for r in rows]
            days = [today - timedelta(days=3), today - timedelta(days=1)]
            days += days_from(today, 2)
            assert set(found) == {partition_name(d) for d in days} | {DEFAULT_PARTITION}
            assert held == [
                partition_name(today - timedelta(days=3)),
                partition_name(today - timedelta(days=1)),
                partition_name(today),
                DEFAULT_PARTITION,  # 40 days ahead: no partition of its own
            ]
            pkey = await connection.execute(
                text(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conname = 'ai_performance_metrics_pkey'"
                )
            )
            assert pkey.scalar_one() == 'PRIMARY KEY (id, "timestamp")'
    finally:
        await engine.dispose()


async def test_a_sample_of_any_time_is_stored_and_read_back(
    postgres: str, live_server: LiveServer
) -> None:
    s = live_server
    now = datetime.now(UTC)
    [old_id, recent_id] = await post(s, sample(datetime(2001, 2, 3, tzinfo=UTC)), sample(now))
    # the API refuses future times; a clock far ahead (another writer, a restore) does not
    ahead = uuid.uuid4()
    async with s.ctx.sessionmaker() as session, session.begin():
        session.add(
            PerformanceMetric(
                id=ahead,
                service_name="part",
                metric_type="cpu",
                value=1.0,
                unit="%",
                timestamp=now + timedelta(days=365),
                meta={},
            )
        )
    async with s.ctx.engine.connect() as connection:
        assert await where_stored(connection, old_id) == DEFAULT_PARTITION
        assert await where_stored(connection, str(ahead)) == DEFAULT_PARTITION
        assert await where_stored(connection, recent_id) == partition_name(now.date())
    assert [item["id"] for item in await listed(s)] == [str(ahead), recent_id, old_id]
    window = {"since": "2001-02-01T00:00:00Z", "until": "2001-02-28T00:00:00Z"}
    assert [item["id"] for item in await listed(s, **window)] == [old_id]


@pytest.mark.settings(retention_days=2, retention_chunk_rows=3)
async def test_retention_drops_old_days_whole_and_keeps_newer_samples(
    postgres: str, live_server: LiveServer
) -> None:
    s = live_server
    now = datetime.now(UTC)
    # a pass five days ago made that day's partition and the two after it
    past = RetentionLoop(s.ctx.engine, s.ctx.settings, clock=lambda: now.timestamp() - 5 * 86400)
    assert await past.run_once() == 0
    first = (now - timedelta(days=5)).date()
    old_days = days_from(first, PARTITION_DAYS_AHEAD)
    async with s.ctx.engine.connect() as connection:
        assert {partition_name(d) for d in old_days} <= set(await partitions(connection))
    cutoff = now - timedelta(days=2)
    in_old_days = [day_start(d) + timedelta(hours=h) for d in old_days for h in (1, 13, 23)]
    boundary = [cutoff - timedelta(minutes=m) for m in (1, 30, 90)]  # not a whole day
    kept = [cutoff + timedelta(minutes=m) for m in (1, 30)] + [now - timedelta(minutes=1)]
    await post(s, *(sample(at) for at in in_old_days + boundary + kept))
    await post(s, *(sample(at, service="other") for at in kept))

    loop = s.ctx.loops["retention"]
    assert isinstance(loop, RetentionLoop)
    assert await loop.run_once() == len(in_old_days) + len(boundary)
    async with s.ctx.engine.connect() as connection:
        left = await partitions(connection)
        catalog = await connection.execute(
            text("SELECT relname FROM pg_class WHERE relname = ANY(:names)"),
            {"names": [partition_name(d) for d in old_days]},
        )
    assert not set(left) & {partition_name(d) for d in old_days}  # detached and dropped
    assert catalog.all() == []
    assert {partition_name(d) for d in days_from(now.date(), PARTITION_DAYS_AHEAD)} <= set(left)
    assert sum(left.values()) == 2 * len(kept)
    times = [datetime.fromisoformat(item["timestamp"]) for item in await listed(s)]
    assert sorted(times) == sorted(kept)
    assert await loop.run_once() == 0


async def test_the_days_ahead_are_made_and_take_their_samples_from_the_default(
    postgres: str, live_server: LiveServer
) -> None:
    s = live_server
    now = datetime.now(UTC)
    later = now + timedelta(days=10)
    early = uuid.uuid4()  # a sample of a day before its partition exists
    async with s.ctx.sessionmaker() as session, session.begin():
        session.add(
            PerformanceMetric(
                id=early,
                service_name="part",
                metric_type="cpu",
                value=1.0,
                unit="%",
                timestamp=later + timedelta(days=1),
                meta={},
            )
        )
    async with s.ctx.engine.connect() as connection:
        assert await where_stored(connection, str(early)) == DEFAULT_PARTITION
    # the loop as it will run ten days from now
    ahead = RetentionLoop(s.ctx.engine, s.ctx.settings, clock=lambda: later.timestamp())
    await ahead.run_once()
    async with s.ctx.engine.connect() as connection:
        made = await partitions(connection)
        moved_to = await where_stored(connection, str(early))
    for day in days_from(later.date(), PARTITION_DAYS_AHEAD):
        assert partition_name(day) in made
    assert moved_to == partition_name((later + timedelta(days=1)).date())
    assert made[DEFAULT_PARTITION] == 0
    assert [item["id"] for item in await listed(s)] == [str(early)]
