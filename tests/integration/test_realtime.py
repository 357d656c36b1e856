"""GET /realtime (latest values and status) and GET /realtime/stream (SSE over real HTTP)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import LiveServer
from tests.envelope import assert_error
from tests.integration.seed_rows import add_rows, alert, state

METRIC_KEYS = {
    "latency",
    "throughput",
    "accuracy",
    "cost",
    "memory",
    "cpu",
    "errorRate",
    "successRate",
}
LLM_KEYS = {  # DESIGN §9's built-ins, camelCased
    "ttft",
    "tpot",
    "tokensPerSecond",
    "queueDepth",
    "kvCacheUsage",
    "requestsRunning",
    "inputTokens",
    "outputTokens",
    "gpuUtilization",
}
METRIC_KEYS |= LLM_KEYS


def sample(service: str, metric: str, value: float, age: float) -> dict[str, Any]:
    when = datetime.now(UTC) - timedelta(seconds=age)
    return {
        "serviceName": service,
        "metricType": metric,
        "value": value,
        "timestamp": when.isoformat(),
    }


async def make_rule(s: LiveServer, service: str, priority: str, threshold: float = 1000) -> None:
    body = {
        "name": f"{priority} latency on {service}",
        "serviceName": service,
        "condition": {"metric": "latency", "operator": "gt", "threshold": threshold},
        "action": {"type": "cache_clear", "priority": priority},
    }
    response = await s.client.post(s.api("/rules"), json=body, headers=s.auth())
    assert response.status_code == 201, response.text


async def realtime(s: LiveServer, **params: Any) -> httpx.Response:
    return await s.client.get(s.api("/realtime"), params=params, headers=s.auth("viewer"))


async def test_latest_values_freshness_and_status(live_server: LiveServer) -> None:
    s = live_server
    await make_rule(s, "svc-c", "high")
    await s.push(
        sample("svc-a", "latency", 123, 10),
        sample("svc-a", "latency", 999, 30),  # older, pushed later: not the latest
        sample("svc-a", "throughput", 45, 20),
        sample("svc-a", "memory", 512, 10),
        sample("svc-a", "cpu", 50, 400),  # older than 300 s: null
        sample("svc-b", "latency", 80, 600),
        sample("svc-c", "latency", 2000, 5),
        sample("svc-d", "latency", 90, 5),
    )
    now = datetime.now(UTC)
    await add_rows(
        s,
        alert("svc-d", at=now, severity="low"),
        alert("svc-d", at=now, severity="medium", status="acknowledged"),
        alert("svc-a", at=now, severity="critical", resolved_after=1),  # resolved: no effect
        state("svc-e", instances=3),
    )

    asked = datetime.now(UTC)
    response = await realtime(s, serviceName="svc-a")
    answered = datetime.now(UTC)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Realtime metrics retrieved successfully"
    view = body["data"]
    assert set(view) == {
        "timestamp",
        "serviceName",
        "metrics",
        "status",
        "lastSampleAt",
        "openAlerts",
    }
    assert view["serviceName"] == "svc-a"
    assert view["metrics"] == {
        "latency": 123.0,
        "throughput": 45.0,
        "accuracy": None,
        "cost": None,
        "memory": 512.0,
        "cpu": None,
        "errorRate": None,
        "successRate": None,
    } | dict.fromkeys(LLM_KEYS)
    assert view["status"] == "healthy" and view["openAlerts"] == 0
    taken = datetime.fromisoformat(view["timestamp"])
    # the view is dated while the request is served (a loaded machine may take seconds)
    assert asked - timedelta(seconds=1) <= taken <= answered + timedelta(seconds=1)
    assert abs((taken - datetime.fromisoformat(view["lastSampleAt"])).total_seconds() - 10) < 5

    everyone = (await realtime(s)).json()
    assert everyone["count"] == 5
    views = {v["serviceName"]: v for v in everyone["data"]}
    assert list(views) == ["svc-a", "svc-b", "svc-c", "svc-d", "svc-e"]
    assert views["svc-a"] == {**view, "timestamp": views["svc-a"]["timestamp"]}
    assert views["svc-b"]["status"] == "unknown"
    assert set(views["svc-b"]["metrics"].values()) == {None}
    assert views["svc-b"]["lastSampleAt"] is not None
    assert (views["svc-c"]["status"], views["svc-c"]["openAlerts"]) == ("critical", 1)
    assert views["svc-c"]["metrics"]["latency"] == 2000.0
    assert (views["svc-d"]["status"], views["svc-d"]["openAlerts"]) == ("degraded", 2)
    assert (views["svc-e"]["status"], views["svc-e"]["lastSampleAt"]) == ("unknown", None)
    for v in views.values():
        assert set(v["metrics"]) == METRIC_KEYS

    assert (await realtime(s, serviceName="svc-e")).json()["data"]["status"] == "unknown"
    assert_error(await realtime(s, serviceName="never-seen"), 404, "not_found")
    assert_error(await s.client.get(s.api("/realtime")), 401, "unauthorized")


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """(event, data) per event, and ("comment", text) per comment line."""
    event, data = "message", []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data.append(line.split(":", 1)[1].strip())
        elif line == "" and data:
            yield event, json.loads("\n".join(data))
            event, data = "message", []


async def test_stream_sends_samples_alerts_and_heartbeats(live_server: LiveServer) -> None:
    s = live_server
    await make_rule(s, "ai-chat", "critical")
    url = s.api("/realtime/stream")
    params = {"heartbeat": 1}
    async with s.client.stream("GET", url, params=params, headers=s.auth("viewer")) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
        async with asyncio.timeout(10):
            kind, ready = await anext(events)
            assert (kind, ready) == ("ready", {"serviceName": None, "heartbeatSeconds": 1.0})
            assert s.ctx.events.subscribers == 1

            await s.push(
                sample("ai-chat", "latency", 5000, 1), sample("ai-chat", "latency", 700, 2)
            )
            seen: dict[str, Any] = {}
            while not {"metrics", "alert.fired", "comment"} <= set(seen):
                kind, data = await anext(events)
                seen.setdefault(kind, data)

    metrics = seen["metrics"]
    assert metrics["serviceName"] == "ai-chat"
    assert metrics["metrics"]["latency"]["count"] == 2
    assert metrics["metrics"]["latency"]["avg"] == 2850.0
    assert (metrics["metrics"]["latency"]["min"], metrics["metrics"]["latency"]["max"]) == (
        700.0,
        5000.0,
    )
    assert metrics["metrics"]["latency"]["last"] == 5000.0  # the newer timestamp
    fired = seen["alert.fired"]
    assert fired["serviceName"] == "ai-chat"
    assert (fired["severity"], fired["status"], fired["currentValue"]) == (
        "critical",
        "active",
        5000.0,
    )
    assert seen["comment"] == "heartbeat"

    # the client went away: the server drops its subscription
    async with asyncio.timeout(5):
        while s.ctx.events.subscribers:
            await asyncio.sleep(0.05)


async def test_stream_filters_by_service_and_needs_a_token(live_server: LiveServer) -> None:
    s = live_server
    assert_error(await s.client.get(s.api("/realtime/stream")), 401, "unauthorized")
    params = {"serviceName": "wanted", "heartbeat": 60}
    url = s.api("/realtime/stream")
    async with s.client.stream("GET", url, params=params, headers=s.auth("viewer")) as response:
        events = sse_events(response)
        async with asyncio.timeout(10):
            assert (await anext(events))[0] == "ready"
            await s.push(sample("unwanted", "cpu", 10, 1), sample("wanted", "cpu", 20, 1))
            kind, data = await anext(events)
    assert kind == "metrics"
    assert data["serviceName"] == "wanted"
    assert data["metrics"] == {
        "cpu": {
            "count": 1,
            "avg": 20.0,
            "min": 20.0,
            "max": 20.0,
            "last": 20.0,
            "lastTimestamp": data["metrics"]["cpu"]["lastTimestamp"],
        }
    }
