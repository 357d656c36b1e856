"""One writer on SQLite (core/db.py): writes queue for one connection in arrival order, never in
SQLite's busy handler; reads use read-only connections that do not wait for the writer.
PostgreSQL keeps one concurrent engine for both."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from perfpilot.core.checkpoint import WalCheckpointer
from tests.conftest import LiveServer
from tests.envelope import assert_error
from tests.integration.test_health import exposition, value_of

RULE = {
    "name": "slow",
    "condition": {"metric": "latency", "operator": "gt", "threshold": 1000},
    "action": {"type": "cache_clear"},
}
HELD = 0.3  # how long the test keeps the write turn


def sqlite_only(s: LiveServer) -> None:
    if not s.ctx.settings.is_sqlite:
        pytest.skip("SQLite's single writer")


async def histogram(s: LiveServer, name: str, le: str, **labels: str) -> tuple[float, float]:
    """(observations, observations <= le) of one of the server's histograms."""
    response = await s.client.get("/metrics", headers=s.auth("viewer"))
    assert response.status_code == 200, response.text
    samples = exposition(response.text)
    count = value_of(samples, f"{name}_count", **labels)
    within = value_of(samples, f"{name}_bucket", le=le, **labels)
    assert count is not None and within is not None, f"{name} is not exported"
    return count, within


async def test_a_second_writer_waits_for_its_turn_not_in_the_busy_handler(
    live_server: LiveServer,
) -> None:
    s = live_server
    sqlite_only(s)
    wait = "perfpilot_db_write_wait_seconds"
    turns_before, quick_before = await histogram(s, wait, "0.1", writer="api")
    locks_before, _ = await histogram(s, "perfpilot_db_lock_wait_seconds", "0.1")
    async with s.ctx.sessionmaker() as held, held.begin():
        await held.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: this transaction has the lock
        started = time.monotonic()
        post = asyncio.create_task(
            s.client.post(s.api("/rules"), json=RULE, headers=s.auth("admin"))
        )
        await asyncio.sleep(HELD)
        assert not post.done()  # the API write waits for the one write connection
    response = await post
    assert response.status_code == 201, response.text
    assert time.monotonic() - started >= HELD
    listed = await s.client.get(s.api("/rules"), headers=s.auth("viewer"))
    assert [r["name"] for r in listed.json()["data"]] == ["slow"]

    turns, quick = await histogram(s, wait, "0.1", writer="api")  # the POST is the API's
    assert turns > turns_before
    assert (turns - quick) - (turns_before - quick_before) >= 1  # it waited > 0.1 s here
    # ... and not in SQLite: every BEGIN IMMEDIATE got the lock at once (within the bucket;
    # the busy handler would have slept for the whole 0.3 s)
    locks, locks_quick = await histogram(s, "perfpilot_db_lock_wait_seconds", "0.1")
    assert locks > locks_before
    assert locks == locks_quick


async def test_reads_do_not_wait_for_the_writer_and_cannot_write(live_server: LiveServer) -> None:
    s = live_server
    sqlite_only(s)
    posted = await s.client.post(s.api("/rules"), json=RULE, headers=s.auth("admin"))
    assert posted.status_code == 201, posted.text
    async with s.ctx.sessionmaker() as held, held.begin():
        await held.execute(text("SELECT 1"))  # the write turn is taken for the whole block
        async with asyncio.timeout(15):  # a GET reads on its own connection meanwhile (a read
            # queued for the write turn would never get it: the block holds it until the end)
            listed = await s.client.get(s.api("/rules"), headers=s.auth("viewer"))
            health = await s.client.get(s.api("/health"), headers=s.auth("viewer"))
    assert listed.status_code == 200 and len(listed.json()["data"]) == 1
    assert health.json()["data"]["services"]["database"] is True
    async with s.ctx.readers() as reader:
        with pytest.raises(OperationalError, match="readonly"):
            await reader.execute(text("DELETE FROM ai_optimization_rules"))
    listed = await s.client.get(s.api("/rules"), headers=s.auth("viewer"))
    assert len(listed.json()["data"]) == 1  # nothing was deleted


async def test_the_writer_leaves_wal_checkpoints_to_the_checkpoint_loop(
    live_server: LiveServer,
) -> None:
    s = live_server
    sqlite_only(s)
    async with s.ctx.engine.connect() as writer:
        assert (await writer.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
    await s.push(
        *({"serviceName": "svc", "metricType": "latency", "value": float(i)} for i in range(2_000))
    )
    for _ in range(50):  # busy while the loop's own checkpoint runs at the same instant
        busy, frames, done = await s.ctx.loops["checkpoint"].checkpoint()
        if not busy:
            break
        await asyncio.sleep(0.05)
    assert busy == 0
    assert frames > 0 and done > 0  # copied into the database file (all of it unless a
    # reader still used an older snapshot at that instant)


async def test_a_wal_written_during_its_checkpoint_starts_over_once_it_is_copied(
    live_server: LiveServer,
) -> None:
    """A checkpoint beside an open write transaction copies what was committed; the commit
    then adds frames it never saw, and a WAL that is never copied whole is never started over
    (under steady ingestion it grew without bound). The checkpoint that follows holding the
    write turn copies the rest, and the next write starts the WAL over."""
    s = live_server
    sqlite_only(s)
    checkpointer = WalCheckpointer(s.ctx.read_engine, writer=s.ctx.engine, restart_frames=1)
    await s.push(
        *({"serviceName": "svc", "metricType": "latency", "value": float(i)} for i in range(2_000))
    )
    async with s.ctx.engine.begin() as held:  # the write turn, a transaction open
        await held.execute(
            text("UPDATE ai_performance_metrics SET value = value + 1 WHERE service_name = 'svc'")
        )
        checkpointing = asyncio.create_task(checkpointer.checkpoint())
        await asyncio.sleep(0.3)  # the first checkpoint runs meanwhile, on a read connection
    busy, frames, done = await checkpointing
    assert busy == 0 and frames > 0 and done == frames  # the second copied everything
    assert checkpointer.completions == 1
    await s.push({"serviceName": "svc", "metricType": "latency", "value": 1.0})
    async with s.ctx.read_engine.connect() as reader:
        result = await reader.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        _, frames_after, _ = result.one()
    assert 0 < frames_after < frames  # started over from its first frame


async def test_postgresql_keeps_one_concurrent_engine(live_server: LiveServer) -> None:
    s = live_server
    if s.ctx.settings.is_sqlite:
        pytest.skip("PostgreSQL")
    assert s.ctx.read_engine is s.ctx.engine
    assert s.ctx.readers is s.ctx.sessionmaker
    assert s.ctx.engine.sync_engine.pool.size() == 10  # type: ignore[attr-defined]
    assert "checkpoint" not in s.ctx.loops
    async with s.ctx.sessionmaker() as held, held.begin():
        await held.execute(text("SELECT 1"))
        async with asyncio.timeout(5):  # a write does not wait for another transaction
            posted = await s.client.post(s.api("/rules"), json=RULE, headers=s.auth("admin"))
    assert posted.status_code == 201, posted.text


async def test_no_write_turn_in_time_is_a_503_and_stores_nothing(live_server: LiveServer) -> None:
    s = live_server
    sqlite_only(s)
    pool = s.ctx.engine.sync_engine.pool
    saved = pool._timeout  # type: ignore[attr-defined]
    pool._timeout = 0.2  # type: ignore[attr-defined]  # WRITE_TURN_TIMEOUT_SECONDS, shortened
    try:
        async with s.ctx.sessionmaker() as held, held.begin():
            await held.execute(text("SELECT 1"))
            posted = await s.client.post(s.api("/rules"), json=RULE, headers=s.auth("admin"))
    finally:
        pool._timeout = saved  # type: ignore[attr-defined]
    assert_error(posted, 503, "database_unavailable")
    listed = await s.client.get(s.api("/rules"), headers=s.auth("viewer"))
    assert listed.json()["data"] == []
