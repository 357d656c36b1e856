"""The alert path is measured stage by stage on /metrics (perfpilot_alert_path_seconds), and an
alert's webhook is handed to this process's dispatcher as the step commits: leased at insert,
sent without a claim or a poll."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from perfpilot.models import WebhookDelivery
from perfpilot.monitoring.telemetry import ALERT_PATH_STAGES
from tests.conftest import LiveServer
from tests.integration.test_health import exposition, value_of
from tests.webhook_receiver import WebhookReceiver

RULE = {
    "name": "slow",
    "condition": {"metric": "latency", "operator": "gt", "threshold": 1000},
    "action": {"type": "cache_clear"},
}


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


async def stage_counts(s: LiveServer) -> dict[str, float]:
    response = await s.client.get("/metrics", headers=s.auth("viewer"))
    assert response.status_code == 200, response.text
    samples = exposition(response.text)
    counts = {}
    for stage in ALERT_PATH_STAGES:
        count = value_of(samples, "perfpilot_alert_path_seconds_count", stage=stage)
        assert count is not None, f"stage {stage} is not exported"
        counts[stage] = count
    return counts


# a poll an hour apart: a delivery that arrives came by the hand-over, not by the poll
@pytest.mark.settings(webhook_poll_interval_seconds=3600.0)
async def test_each_stage_of_a_fired_alert_is_observed_once(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    assert await stage_counts(s) == dict.fromkeys(ALERT_PATH_STAGES, 0.0)
    hook = {"url": receiver.url, "events": ["alert.fired"]}
    assert (await s.client.post(s.api("/webhooks"), json=hook, headers=s.auth())).is_success
    assert (await s.client.post(s.api("/rules"), json=RULE, headers=s.auth())).is_success
    await asyncio.sleep(0.2)  # past the dispatcher's first look at the outbox
    stamp = (datetime.now(UTC) - timedelta(milliseconds=1)).isoformat()
    sample = {"serviceName": "api", "metricType": "latency", "value": 5000, "timestamp": stamp}
    await s.push(sample)

    [request] = await receiver.wait_for(1, timeout=10)
    assert request.header("x-perfpilot-event") == "alert.fired"
    assert request.header("x-perfpilot-attempt") == "1"
    for _ in range(100):  # the outcome is written just after the answer
        async with s.ctx.readers() as session:
            [row] = (await session.execute(select(WebhookDelivery))).scalars().all()
        if row.status == "delivered":
            break
        await asyncio.sleep(0.05)
    assert (row.status, row.attempts) == ("delivered", 1)
    assert await stage_counts(s) == dict.fromkeys(ALERT_PATH_STAGES, 1.0)

    # a sample that fires nothing adds to no stage
    await s.push({"serviceName": "api", "metricType": "latency", "value": 10})
    assert await stage_counts(s) == dict.fromkeys(ALERT_PATH_STAGES, 1.0)
