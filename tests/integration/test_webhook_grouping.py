"""Grouping on a webhook subscription: alerts of one group that fire within groupWait reach
the (real, local) receiver as one delivery listing them all; without grouping, one delivery
per event as before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.webhook_receiver import WebhookReceiver

SERVICE = "chat-service"
MODELS = [f"model-{i}" for i in range(10)]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


async def hook(s: LiveServer, url: str, **fields: Any) -> dict[str, Any]:
    body = {"url": url, "events": ["alert.fired"], "secret": "s" * 32} | fields
    response = await s.client.post(s.api("/webhooks"), json=body, headers=s.auth())
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def per_model_rule(s: LiveServer) -> None:
    response = await s.client.post(
        s.api("/rules"),
        json={
            "name": "SlowModel",
            "condition": {
                "metric": "latency",
                "operator": "gt",
                "threshold": 500,
                "groupBy": ["model"],
            },
            "action": {"type": "cache_clear"},
        },
        headers=s.auth(),
    )
    assert response.status_code == 201, response.text


def slow(model: str) -> dict[str, Any]:
    return {
        "serviceName": SERVICE,
        "metricType": "latency",
        "value": 900,
        "labels": {"model": model},
        "timestamp": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
    }


async def test_ten_alerts_of_one_group_within_group_wait_are_one_delivery(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    # groupWait generous for a loaded machine: the test asserts grouping, not timing
    made = await hook(s, receiver.url, groupBy=["alertname"], groupWait=3.0, groupInterval=60)
    assert (made["groupBy"], made["groupWait"], made["groupInterval"]) == (["alertname"], 3.0, 60)
    await per_model_rule(s)
    await s.push(*[slow(m) for m in MODELS[:5]])  # two pushes, well within groupWait
    await s.push(*[slow(m) for m in MODELS[5:]])
    [request] = await receiver.wait_for(1, timeout=20)
    await asyncio.sleep(0.5)
    assert len(receiver.requests) == 1
    body = request.json()
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["groupLabels"] == {"alertname": "SlowModel"}
    assert sorted(a["labels"]["model"] for a in body["alerts"]) == MODELS
    assert body["commonLabels"]["service"] == SERVICE
    assert len(body["perfpilot"]["events"]) == 10
    assert request.header("X-Perfpilot-Event") == "alert.fired"
    alerts = (await s.client.get(s.api("/alerts"), headers=s.auth())).json()["data"]
    assert {a["id"] for a in alerts} == {e["alertId"] for e in body["perfpilot"]["events"]}


async def test_without_grouping_each_alert_is_its_own_delivery(
    live_server: LiveServer, receiver: WebhookReceiver
) -> None:
    s = live_server
    made = await hook(s, receiver.url)
    assert made["groupWait"] == 0
    await per_model_rule(s)
    await s.push(*[slow(m) for m in MODELS[:3]])
    requests = await receiver.wait_for(3)
    assert sorted(len(r.json()["alerts"]) for r in requests) == [1, 1, 1]


async def test_grouping_fields_are_validated(live_server: LiveServer) -> None:
    s = live_server
    response = await s.client.post(
        s.api("/webhooks"),
        json={"url": "http://127.0.0.1:9/hook", "events": ["alert.fired"], "groupWait": -1},
        headers=s.auth(),
    )
    assert response.status_code == 422 and "groupWait" in response.text
