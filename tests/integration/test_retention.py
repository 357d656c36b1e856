"""Raw samples older than the retention period are deleted in chunks; newer ones stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from perfpilot.metrics.retention import RetentionLoop
from perfpilot.models import MetricRollup, WebhookDelivery
from tests.conftest import LiveServer


@pytest.mark.settings(retention_days=2, retention_chunk_rows=7)
async def test_old_samples_go_in_chunks_and_recent_ones_stay(live_server: LiveServer) -> None:
    s = live_server
    now = datetime.now(UTC)
    old = [now - timedelta(days=3, seconds=i) for i in range(20)]
    recent = [now - timedelta(days=1, seconds=i) for i in range(5)]
    await s.push(
        *(
            {"serviceName": "svc", "metricType": "cpu", "value": 50, "timestamp": ts.isoformat()}
            for ts in old + recent
        )
    )
    loop = s.ctx.loops["retention"]
    assert isinstance(loop, RetentionLoop)
    await loop.run_once()  # in chunks of 7: 7 + 7 + 6 (the pass at start-up may share them)
    assert loop.deleted_total == 20
    assert await loop.run_once() == 0
    left = await s.client.get(s.api("/metrics"), params={"serviceName": "svc"}, headers=s.auth())
    assert left.json()["count"] == 5
    # the per-minute rollups of the deleted samples go too: a chart counts what is left
    async with s.ctx.sessionmaker() as session:
        counts = (await session.execute(select(MetricRollup.count))).scalars().all()
    assert sum(counts) == 5


@pytest.mark.settings(retention_days=2, retention_chunk_rows=2)
async def test_finished_deliveries_past_retention_go_and_pending_ones_stay(
    live_server: LiveServer,
) -> None:
    s = live_server
    hook = await s.client.post(
        s.api("/webhooks"),
        json={"url": "http://127.0.0.1:9/never", "events": ["alert.fired"], "isActive": False},
        headers=s.auth(),
    )
    assert hook.status_code == 201, hook.text
    hook_id = uuid.UUID(hook.json()["data"]["id"])
    old = datetime.now(UTC) - timedelta(days=3)
    async with s.ctx.sessionmaker() as session, session.begin():
        for status in ("delivered", "delivered", "dead", "pending"):
            session.add(
                WebhookDelivery(
                    id=uuid.uuid4(),
                    webhook_id=hook_id,
                    event="alert.fired",
                    idempotency_key=str(uuid.uuid4()),
                    body="{}",
                    status=status,
                    attempts=1,
                    next_attempt_at=old,
                    event_at=old,
                    created_at=old,
                )
            )
    loop = s.ctx.loops["retention"]
    assert isinstance(loop, RetentionLoop)
    await loop.run_once()
    assert loop.deliveries_deleted_total == 3
    async with s.ctx.sessionmaker() as session:
        left = (await session.execute(select(WebhookDelivery.status))).scalars().all()
    assert left == ["pending"]
