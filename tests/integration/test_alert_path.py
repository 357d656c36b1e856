"""The alert path is measured stage by stage on /metrics (perfpilot_alert_path_seconds); an
alert's webhook is handed to this process's dispatcher as the step commits (leased at insert,
sent without a claim or a poll); an alert committed without its action gets it on restart;
an alert's action waits for the samples queued behind it (a bounded time)."""

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
from perfpilot.engine import deferred
from perfpilot.engine.state_machine import TransitionKind
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


# 30 s: longer than the test (the default, 0.25 s, could pass on a slow machine); 0: overdue
@pytest.mark.parametrize("defer_max_s", [30.0, 0.0])
async def test_an_alerts_action_waits_for_the_samples_queued_behind_it_but_not_longer(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, defer_max_s: float
) -> None:
    """Under load the next alert commits before the previous alert's action runs (the action's
    transaction is the longer one); an action never waits longer than ACT_DEFER_MAX_S (at 0,
    at once: one alert, its action, the next alert, its action)."""
    s = live_server
    monkeypatch.setattr(deferred, "ACT_DEFER_MAX_S", defer_max_s)
    assert (await s.client.post(s.api("/rules"), json=RULE, headers=s.auth())).is_success
    await s.settle()
    runner = s.runner
    order: list[str] = []
    commit, act = runner._commit, runner._act_once

    async def commit_logged(step: Any, **options: Any) -> None:
        await commit(step, **options)
        fired = [t.service_name for t in step.transitions if t.kind is TransitionKind.FIRED]
        order.extend(f"alert {name}" for name in fired)
        while fired == ["first"] and runner._queue.empty():  # the next sample, mid-step
            await asyncio.sleep(0.005)

    async def act_logged(step: Any, fired: Any, *args: Any, **options: Any) -> Any:
        order.extend(f"action {alert.service_name}" for _, alert, _ in fired)
        return await act(step, fired, *args, **options)

    monkeypatch.setattr(runner, "_commit", commit_logged)
    monkeypatch.setattr(runner, "_act_once", act_logged)
    batch = s.api("/metrics/batch")
    for name in ("first", "second"):
        sample = {"serviceName": name, "metricType": "latency", "value": 5000}
        response = await s.client.post(batch, json={"samples": [sample]}, headers=s.auth())
        assert response.status_code == 201, response.text
    await s.settle()
    if defer_max_s:
        assert order == ["alert first", "alert second", "action first", "action second"]
    else:
        assert order == ["alert first", "action first", "alert second", "action second"]
    assert [a["status"] for a in await actions_of(s, "first") + await actions_of(s, "second")] == [
        "executed",
        "executed",
    ]
