"""The outbox's promises: nothing lost across a restart or a kill -9 mid-delivery, no double
send between dispatchers, and alert changes delivered in Alertmanager's format."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from perfpilot.core.db import create_engine, create_sessionmaker
from perfpilot.core.migrate import upgrade_database
from perfpilot.core.outbound import OutboundPolicy, parse_networks
from perfpilot.models import WebhookDelivery
from perfpilot.monitoring.telemetry import Telemetry
from perfpilot.webhooks.dispatcher import WebhookDispatcher
from perfpilot.webhooks.schemas import WebhookIn
from perfpilot.webhooks.service import create_webhook, enqueue_event
from tests.conftest import TEST_JWT_SECRET, LiveServer, make_settings, start_server
from tests.webhook_receiver import WebhookReceiver

LOOPBACK = ["127.0.0.0/8"]  # where the test receiver listens
FAST: dict[str, Any] = {
    "webhook_poll_interval_seconds": 0.05,
    "webhook_backoff_base_seconds": 0.01,
    "webhook_backoff_cap_seconds": 0.05,
}


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


async def enqueue_one(sessionmaker: Any, key: str = "event-1") -> None:
    async with sessionmaker() as session:
        count = await enqueue_event(
            session,
            event="alert.fired",
            payload={"version": "4", "perfpilot": {"event": "alert.fired", "key": key}},
            service_name="ai-chat-service",
            event_at=datetime.now(UTC),
            idempotency_key=key,
        )
        await session.commit()
    assert count == 1


async def stored_deliveries(url: str) -> list[WebhookDelivery]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return list((await session.execute(select(WebhookDelivery))).scalars())
    finally:
        await engine.dispose()


async def test_event_enqueued_while_stopped_is_delivered_after_restart(
    clean_database: str, tmp_path: Path, receiver: WebhookReceiver
) -> None:
    settings = make_settings(clean_database, tmp_path, **FAST)
    server, task, (app, port) = await start_server(settings)
    ctx = app.state.ctx
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        s = LiveServer(base_url=str(client.base_url), ctx=ctx, client=client)
        body = {"url": receiver.url, "events": ["alert.fired"]}
        created = await client.post(s.api("/webhooks"), json=body, headers=s.auth())
        assert created.status_code == 201, created.text
    server.should_exit = True
    await task

    await enqueue_one(ctx.sessionmaker)  # committed while no server runs
    await ctx.engine.dispose()
    await asyncio.sleep(0.2)
    assert receiver.requests == []
    [pending] = await stored_deliveries(clean_database)
    assert pending.status == "pending" and pending.attempts == 0

    server, task, _ = await start_server(settings)
    try:
        [request] = await receiver.wait_for(1)
        assert request.header("idempotency-key") == "event-1"
        assert request.header("x-perfpilot-delivery") == str(pending.id)
        assert request.body.decode() == pending.body
    finally:
        server.should_exit = True
        await task
    [delivered] = await stored_deliveries(clean_database)
    assert delivered.status == "delivered" and delivered.attempts == 1


CHILD = (
    "import uvicorn\n"
    "from perfpilot.app import create_app\n"
    "uvicorn.run(create_app(), host='127.0.0.1', port=0, log_level='warning')\n"
)


async def test_kill_9_mid_delivery_loses_nothing_and_resends_same_key(
    clean_database: str, tmp_path: Path, receiver: WebhookReceiver
) -> None:
    engine = create_engine(clean_database)
    await upgrade_database(engine)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session:
        hook_in = WebhookIn(url=receiver.url, events=["alert.fired"], secret="k" * 32)
        await create_webhook(session, hook_in, policy=OutboundPolicy(parse_networks(LOOPBACK)))
        await session.commit()
    await enqueue_one(sessionmaker)
    await engine.dispose()

    # a separate process delivers; the receiver holds the request open, then we SIGKILL it
    receiver.stall_next(1)
    env = os.environ | {
        "PERFPILOT_DATABASE_URL": clean_database,
        "PERFPILOT_OUTBOUND_ALLOW": ",".join(LOOPBACK),
        "PERFPILOT_DATA_DIR": str(tmp_path / "child"),
        "PERFPILOT_JWT_SECRET": TEST_JWT_SECRET,
        "PERFPILOT_WEBHOOK_TIMEOUT_SECONDS": "1",  # so its lease ends 3 s after the claim
        "PERFPILOT_WEBHOOK_POLL_INTERVAL_SECONDS": "0.05",
        "PERFPILOT_ENGINE_TICK_SECONDS": "3600",
        "PERFPILOT_LOG_LEVEL": "ERROR",
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, env=env, cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        [first] = await receiver.wait_for(1, timeout=30)
    finally:
        child.kill()
        await child.wait()
    receiver.release()
    [leased] = await stored_deliveries(clean_database)
    assert leased.status == "pending" and leased.attempts == 1  # sent, never marked

    server, task, _ = await start_server(make_settings(clean_database, tmp_path, **FAST))
    try:
        _, second = await receiver.wait_for(2, timeout=15)
    finally:
        server.should_exit = True
        await task
    assert second.header("idempotency-key") == first.header("idempotency-key") == "event-1"
    assert second.header("x-perfpilot-delivery") == first.header("x-perfpilot-delivery")
    assert second.body == first.body
    assert (first.header("x-perfpilot-attempt"), second.header("x-perfpilot-attempt")) == ("1", "2")
    [delivered] = await stored_deliveries(clean_database)
    assert delivered.status == "delivered" and delivered.attempts == 2


class CountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        return await super().handle_async_request(request)


@pytest.mark.settings(**FAST, webhook_concurrency=4)
async def test_concurrent_dispatchers_send_each_delivery_once(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    body = {"url": receiver.url, "events": ["alert.fired"]}
    assert (await s.client.post(s.api("/webhooks"), json=body, headers=s.auth())).is_success
    receiver.delay = 0.01
    url = s.ctx.settings.effective_database_url
    engines = [create_engine(url) for _ in range(2)]
    transports = [CountingTransport() for _ in engines]
    others = [
        WebhookDispatcher(engine=e, settings=s.ctx.settings, telemetry=Telemetry(), transport=t)
        for e, t in zip(engines, transports, strict=True)
    ]
    # half the events through the server's own engine (leased to its dispatcher at commit),
    # half through one that runs no dispatcher (like a replica without one): every
    # dispatcher claims from those
    producer = create_engine(url)
    for dispatcher in others:
        dispatcher.start()
    try:
        for n in range(10):
            sessionmaker = s.ctx.sessionmaker if n % 2 else create_sessionmaker(producer)
            async with sessionmaker() as session:
                for i in range(10):
                    await enqueue_event(
                        session,
                        event="alert.fired",
                        payload={"n": n * 10 + i},
                        service_name=None,
                        event_at=datetime.now(UTC),
                        idempotency_key=f"k{n * 10 + i}",
                    )
                await session.commit()
        await receiver.wait_for(100, timeout=30)
        await asyncio.sleep(0.5)
    finally:
        for dispatcher in others:
            await dispatcher.stop()
        for engine in [*engines, producer]:
            await engine.dispose()
    ids = [r.header("x-perfpilot-delivery") for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 100
    assert all(t.sent > 0 for t in transports)  # the work really was shared
    assert {r.header("x-perfpilot-attempt") for r in receiver.requests} == {"1"}


@pytest.mark.settings(**FAST)
async def test_alert_lifecycle_reaches_subscribers_in_alertmanager_format(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    events = ["alert.fired", "alert.acknowledged", "alert.resolved"]
    hook = {"url": receiver.url, "events": events, "serviceName": "ai-chat-service"}
    assert (await s.client.post(s.api("/webhooks"), json=hook, headers=s.auth())).is_success
    rule = {
        "name": "High p95 latency",
        "serviceName": "ai-chat-service",
        "condition": {"metric": "latency", "operator": "gt", "threshold": 5000},
        "action": {"type": "scale_up", "priority": "high"},
    }
    created = await s.client.post(s.api("/rules"), json=rule, headers=s.auth())
    assert created.status_code == 201, created.text
    rule_id = created.json()["data"]["id"]
    sample_at = datetime.now(UTC) - timedelta(seconds=5)
    sample = {"serviceName": "ai-chat-service", "metricType": "latency", "value": 6000}
    await s.push(sample | {"timestamp": sample_at.isoformat()})

    [fired] = await receiver.wait_for(1)
    body = fired.json()
    assert fired.header("x-perfpilot-event") == "alert.fired"
    assert (body["version"], body["status"], body["receiver"]) == ("4", "firing", "perfpilot")
    [alert] = body["alerts"]
    assert alert["labels"] == {
        "alertname": "High p95 latency",
        "service": "ai-chat-service",
        "severity": "high",
        "metric": "latency",
        "rule_id": rule_id,
    }
    assert alert["endsAt"] == "0001-01-01T00:00:00Z" and alert["status"] == "firing"
    assert body["groupKey"] == '{}:{alertname="High p95 latency", service="ai-chat-service"}'
    assert body["commonLabels"] == alert["labels"] and body["truncatedAlerts"] == 0
    alert_id = body["perfpilot"]["alertId"]
    assert body["perfpilot"]["event"] == "alert.fired"
    assert body["perfpilot"]["currentValue"] == 6000
    assert fired.header("idempotency-key") == f"{alert_id}:alert.fired"
    uuid.UUID(alert_id)

    ack = await s.client.put(s.api(f"/alerts/{alert_id}/acknowledge"), headers=s.auth())
    assert ack.status_code == 200, ack.text
    resolve = await s.client.put(s.api(f"/alerts/{alert_id}/resolve"), headers=s.auth())
    assert resolve.status_code == 200, resolve.text
    _, acked, resolved = await receiver.wait_for(3)
    assert acked.json()["status"] == "firing"
    assert acked.json()["perfpilot"]["status"] == "acknowledged"
    assert resolved.header("x-perfpilot-event") == "alert.resolved"
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    assert resolved.json()["perfpilot"]["resolveReason"] == "manual"
