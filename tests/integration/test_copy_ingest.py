"""Large group commits on PostgreSQL go through COPY (metrics/repository.py): the rows are
stored exactly, in the request's transaction (with its Idempotency-Key), with their
inserting transaction id for scale-out readers. SQLite keeps executemany (not run here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from perfpilot.metrics.repository import COPY_MIN_ROWS
from tests.conftest import LiveServer


async def test_a_large_batch_is_copied_whole_and_once(live_server: LiveServer) -> None:
    s = live_server
    if s.ctx.settings.is_sqlite:
        pytest.skip("COPY is PostgreSQL's")
    now = datetime.now(UTC)
    size = COPY_MIN_ROWS * 3
    samples = [
        {
            "serviceName": f"copy-{i % 7}",
            "metricType": "latency",
            "value": float(i),
            "timestamp": (now - timedelta(milliseconds=i)).isoformat(),
            "metadata": {"i": i, "note": "é"},
        }
        for i in range(size)
    ]
    headers = s.auth("operator") | {"Idempotency-Key": "copy-batch-1"}
    first = await s.client.post(s.api("/metrics/batch"), json={"samples": samples}, headers=headers)
    again = await s.client.post(s.api("/metrics/batch"), json={"samples": samples}, headers=headers)
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.json() == first.json()  # answered from the key

    async with s.ctx.read_engine.connect() as conn:
        stored = (
            await conn.execute(
                text(
                    "SELECT count(*), count(ingest_xid), sum(value), "
                    "count(*) FILTER (WHERE metadata->>'note' = 'é') "
                    "FROM ai_performance_metrics WHERE service_name LIKE 'copy-%'"
                )
            )
        ).one()
    assert tuple(stored) == (size, size, float(sum(range(size))), size)
