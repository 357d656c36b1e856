"""The alert path is measured stage by stage on /metrics (perfpilot_alert_path_seconds); an
alert's webhook is handed to this process's dispatcher as the step commits (leased at insert,
sent without a claim or a poll); an alert committed without its action gets it on restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select

from perfpilot.core.db import create_engine
from perfpilot.models import OptimizationAction, OptimizationRule, WebhookDelivery
from perfpilot.monitoring.telemetry import ALERT_PATH_STAGES
from tests.conftest import LiveServer, make_settings, start_server
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


async def actions_of(s: LiveServer, service: str) -> list[dict[str, Any]]:
    response = await s.client.get(s.api(f"/actions?serviceName={service}"), headers=s.auth())
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def test_an_alert_committed_without_its_action_gets_it_after_a_restart(
    clean_database: str, tmp_path: Path
) -> None:
    """The alert and its action are two transactions: a crash between them (here: the
    action's row removed while the server is down) is made good on the next start, once."""
    settings = make_settings(clean_database, tmp_path)
    server, task, (app, port) = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            s = LiveServer(base_url=str(client.base_url), ctx=app.state.ctx, client=client)
            assert (await s.client.post(s.api("/rules"), json=RULE, headers=s.auth())).is_success
            await s.push(
                {"serviceName": "lost", "metricType": "latency", "value": 5000},
                {"serviceName": "kept", "metricType": "latency", "value": 5000},
            )
            [lost] = await actions_of(s, "lost")
            [kept] = await actions_of(s, "kept")
    finally:
        server.should_exit = True
        await task
    engine = create_engine(clean_database)
    async with engine.begin() as connection:
        await connection.execute(
            delete(OptimizationAction).where(OptimizationAction.id == uuid.UUID(lost["id"]))
        )
    await engine.dispose()

    server, task, (app, port) = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            s = LiveServer(base_url=str(client.base_url), ctx=app.state.ctx, client=client)
            s.runner.tick_now()  # the first step after the restart
            await s.settle()
            [again] = await actions_of(s, "lost")
            assert again["id"] != lost["id"]
            assert (again["alertId"], again["type"]) == (lost["alertId"], "cache_clear")
            assert again["status"] == "executed"
            assert [a["id"] for a in await actions_of(s, "kept")] == [kept["id"]]  # not twice
    finally:
        server.should_exit = True
        await task


async def test_an_action_that_fails_keeps_neither_its_alert_nor_other_actions_back(
    live_server: LiveServer,
) -> None:
    """A rule whose stored action cannot run (a parameter made unusable in the database, as a
    bad migration or a manual edit would leave it) still fires its alert; the other rule's
    action in the same step executes."""
    s = live_server
    broken = {
        "name": "broken action",
        "serviceName": "svc-a",
        "condition": {"metric": "latency", "operator": "gt", "threshold": 1000},
        "action": {"type": "scale_up", "parameters": {"instances": 1}},
    }
    created = await s.client.post(s.api("/rules"), json=broken, headers=s.auth())
    assert created.status_code == 201, created.text
    rule_id = uuid.UUID(created.json()["data"]["id"])
    good = RULE | {"name": "good", "serviceName": "svc-b"}
    assert (await s.client.post(s.api("/rules"), json=good, headers=s.auth())).is_success
    async with s.ctx.sessionmaker() as session, session.begin():
        rule = await session.get(OptimizationRule, rule_id)
        assert rule is not None
        rule.action = {**rule.action, "parameters": {"instances": "not a number"}}
    s.runner.rule_changed(str(rule_id))
    await s.settle()

    await s.push(
        {"serviceName": "svc-a", "metricType": "latency", "value": 5000},
        {"serviceName": "svc-b", "metricType": "latency", "value": 5000},
    )
    listed = await s.client.get(s.api("/alerts"), headers=s.auth())
    fired = {a["serviceName"]: a["status"] for a in listed.json()["data"]}
    assert fired == {"svc-a": "active", "svc-b": "active"}
    assert await actions_of(s, "svc-a") == []
    [done] = await actions_of(s, "svc-b")
    assert (done["type"], done["status"]) == ("cache_clear", "executed")
