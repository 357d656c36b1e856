"""The alert lifecycle driven by pushed samples (their timestamps are the clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import LiveServer, make_settings, start_server

SERVICE = "ai-chat-service"


def at(base: datetime, seconds: float, value: float, service: str = SERVICE) -> dict[str, Any]:
    return {
        "serviceName": service,
        "metricType": "latency",
        "value": value,
        "timestamp": (base + timedelta(seconds=seconds)).isoformat(),
    }


def recent_base() -> datetime:
    # far enough back that a test's samples stay in the past, close enough to be "fresh"
    return datetime.now(UTC) - timedelta(seconds=240)


async def make_rule(s: LiveServer, **condition: Any) -> dict[str, Any]:
    body = {
        "name": "High p95 latency",
        "serviceName": SERVICE,
        "condition": {"metric": "latency", "operator": "gt", "threshold": 5000} | condition,
        "action": {"type": "scale_up", "parameters": {"instances": 2}, "priority": "high"},
    }
    response = await s.client.post(s.api("/rules"), json=body, headers=s.auth())
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def alerts(s: LiveServer, **params: Any) -> list[dict[str, Any]]:
    response = await s.client.get(s.api("/alerts"), params=params, headers=s.auth("viewer"))
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_fires_after_duration_updates_in_place_and_recovers_with_hysteresis(
    live_server: LiveServer,
) -> None:
    s = live_server
    rule = await make_rule(s, duration=60, resolveThreshold=4000)
    t0 = recent_base()
    await s.push(at(t0, 0, 6000), at(t0, 30, 7000))
    assert await alerts(s) == []  # pending, not yet for 60 s

    await s.push(at(t0, 61, 6500))
    [alert] = await alerts(s)
    assert alert["status"] == "active"
    assert alert["ruleId"] == rule["id"]
    assert alert["serviceName"] == SERVICE
    assert alert["severity"] == "high"
    assert alert["currentValue"] == 6500
    assert alert["threshold"] == 5000
    for fragment in ("High p95 latency", SERVICE, "6500", "5000", "60s"):
        assert fragment in alert["message"]

    await s.push(at(t0, 70, 8000), at(t0, 80, 4500))  # 4500: above resolveThreshold, still open
    [alert] = await alerts(s)
    assert alert["status"] == "active"
    assert alert["currentValue"] == 4500

    await s.push(at(t0, 90, 3000))
    [alert] = await alerts(s)
    assert alert["status"] == "resolved"
    assert alert["resolveReason"] == "recovered"
    assert alert["resolvedBy"] == "perfpilot"

    # a new firing after a resolve is a new alert
    await s.push(at(t0, 100, 9000), at(t0, 161, 9000))
    fired = await alerts(s)
    assert [a["status"] for a in fired] == ["active", "resolved"]
    assert len({a["id"] for a in fired}) == 2


async def test_flapping_without_duration_or_hysteresis_fires_each_crossing(
    live_server: LiveServer,
) -> None:
    s = live_server
    await make_rule(s)
    t0 = recent_base()
    values = [6000, 4000, 6000, 4000, 6000]
    await s.push(*(at(t0, i, v) for i, v in enumerate(values)))
    found = await alerts(s)
    assert [a["status"] for a in found] == ["active", "resolved", "resolved"]


async def test_manual_resolve_rearms_and_conflicts_twice(live_server: LiveServer) -> None:
    s = live_server
    await make_rule(s, duration=30)
    t0 = recent_base()
    await s.push(at(t0, 0, 6000), at(t0, 31, 6000))
    [alert] = await alerts(s)

    resolved = await s.client.put(
        s.api(f"/alerts/{alert['id']}/resolve"), headers=s.auth("operator", "alice")
    )
    assert resolved.status_code == 200, resolved.text
    body = resolved.json()["data"]
    assert body["status"] == "resolved"
    assert body["resolveReason"] == "manual"
    assert body["resolvedBy"] == "alice"
    again = await s.client.put(s.api(f"/alerts/{alert['id']}/resolve"), headers=s.auth())
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    await s.settle()

    # still bad: must be pending for the duration again before firing again
    await s.push(at(t0, 40, 6000))
    assert [a["status"] for a in await alerts(s)] == ["resolved"]
    await s.push(at(t0, 71, 6000))
    assert [a["status"] for a in await alerts(s)] == ["active", "resolved"]


async def test_acknowledge_does_not_stop_recovery(live_server: LiveServer) -> None:
    s = live_server
    await make_rule(s)
    t0 = recent_base()
    await s.push(at(t0, 0, 6000))
    [alert] = await alerts(s)
    acked = await s.client.put(
        s.api(f"/alerts/{alert['id']}/acknowledge"), headers=s.auth("operator", "bob")
    )
    assert acked.status_code == 200
    assert acked.json()["data"]["status"] == "acknowledged"
    assert acked.json()["data"]["acknowledgedBy"] == "bob"
    viewer = await s.client.put(
        s.api(f"/alerts/{alert['id']}/acknowledge"), headers=s.auth("viewer")
    )
    assert viewer.status_code == 403
    await s.settle()
    await s.push(at(t0, 5, 7000))
    [alert] = await alerts(s)
    assert alert["status"] == "acknowledged"
    assert alert["currentValue"] == 7000
    await s.push(at(t0, 10, 100))
    [alert] = await alerts(s)
    assert alert["status"] == "resolved"
    assert alert["resolveReason"] == "recovered"
    late = await s.client.put(s.api(f"/alerts/{alert['id']}/acknowledge"), headers=s.auth())
    assert late.status_code == 409


async def test_filters_paging_and_unknown_alert(live_server: LiveServer) -> None:
    s = live_server
    await make_rule(s)
    t0 = recent_base()
    # five separate firings: up, down, up, down ...
    await s.push(*(at(t0, i, 6000 if i % 2 == 0 else 1) for i in range(10)))
    everything = await alerts(s)
    assert len(everything) == 5
    assert len(await alerts(s, status="resolved")) == 5
    assert await alerts(s, status="active") == []
    assert len(await alerts(s, severity="high", serviceName=SERVICE)) == 5
    assert await alerts(s, severity="low") == []
    page1 = await s.client.get(s.api("/alerts"), params={"limit": 2}, headers=s.auth())
    cursor = page1.json()["nextCursor"]
    page2 = await s.client.get(
        s.api("/alerts"), params={"limit": 2, "cursor": cursor}, headers=s.auth()
    )
    ids = [a["id"] for a in page1.json()["data"] + page2.json()["data"]]
    assert ids == [a["id"] for a in everything[:4]]
    missing = await s.client.get(
        s.api("/alerts/00000000-0000-4000-8000-000000000000"), headers=s.auth()
    )
    assert missing.status_code == 404


async def test_deleting_a_rule_resolves_its_open_alerts(live_server: LiveServer) -> None:
    s = live_server
    rule = await make_rule(s)
    await s.push(at(recent_base(), 0, 6000))
    [alert] = await alerts(s)
    assert alert["status"] == "active"
    deleted = await s.client.delete(s.api(f"/rules/{rule['id']}"), headers=s.auth())
    assert deleted.status_code == 200
    [alert] = await alerts(s)
    assert alert["status"] == "resolved"
    assert alert["resolveReason"] == "rule_deleted"


async def test_pending_timer_and_open_alert_survive_a_restart(
    clean_database: str, tmp_path: Any
) -> None:
    settings = make_settings(clean_database, tmp_path, engine_tick_seconds=3600.0)
    t0 = recent_base()
    server, task, (app, port) = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            s = LiveServer(base_url="", ctx=app.state.ctx, client=client)
            await make_rule(s, duration=60)
            await s.push(at(t0, 0, 6000))  # pending from t0
    finally:
        server.should_exit = True
        await task

    server, task, (app, port) = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            s = LiveServer(base_url="", ctx=app.state.ctx, client=client)
            await s.push(at(t0, 61, 6000))  # the timer from before the restart counts
            [alert] = await alerts(s)
            assert alert["status"] == "active"
    finally:
        server.should_exit = True
        await task

    server, task, (app, port) = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            s = LiveServer(base_url="", ctx=app.state.ctx, client=client)
            await s.push(at(t0, 70, 7000))
            [alert] = await alerts(s)  # still one alert, updated in place
            assert alert["currentValue"] == 7000
            await s.push(at(t0, 80, 10))
            [alert] = await alerts(s)
            assert alert["status"] == "resolved"
    finally:
        server.should_exit = True
        await task
