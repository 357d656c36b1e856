"""Rules with label matchers and groupBy over labelled JSON samples, over real HTTP, on each
backend (issue 11 "must show"): one alert per service per distinct group value set, the
group's labels on the alert and in its webhook, per-group state across a restart, and 422s
naming the bad matcher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, make_settings, start_server
from tests.webhook_receiver import WebhookReceiver


def at(
    base: datetime, seconds: float, value: float, labels: dict[str, str], service: str = "chat"
) -> dict[str, Any]:
    return {
        "serviceName": service,
        "metricType": "latency",
        "value": value,
        "timestamp": (base + timedelta(seconds=seconds)).isoformat(),
        "labels": labels,
    }


def recent_base() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=240)


GROUPED_RULE = {
    "name": "Slow GPT models",
    "condition": {
        "metric": "latency",
        "operator": "gt",
        "threshold": 1000,
        "aggregation": "avg",
        "window": 60,
        "matchers": [
            {"label": "model", "op": "=~", "value": "gpt-.*"},
            {"label": "endpoint", "op": "!=", "value": "/healthz"},
        ],
        "groupBy": ["model"],
    },
    "action": {"type": "cache_clear", "priority": "high"},
}


async def make_rule(s: LiveServer, body: dict[str, Any] = GROUPED_RULE) -> dict[str, Any]:
    response = await s.client.post(s.api("/rules"), json=body, headers=s.auth())
    assert response.status_code == 201, response.text
    return dict(response.json()["data"])


async def alerts(s: LiveServer, **params: Any) -> list[dict[str, Any]]:
    response = await s.client.get(s.api("/alerts"), params=params, headers=s.auth("viewer"))
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def test_a_grouped_rule_fires_one_alert_per_model_with_its_labels(
    live_server: LiveServer,
) -> None:
    s = live_server
    async with WebhookReceiver() as receiver:
        hook = {"url": receiver.url, "events": ["alert.fired"], "secret": "k" * 32}
        created = await s.client.post(s.api("/webhooks"), json=hook, headers=s.auth())
        assert created.status_code == 201, created.text
        rule = await make_rule(s)
        assert rule["condition"]["groupBy"] == ["model"]
        assert rule["condition"]["matchers"][0] == {"label": "model", "op": "=~", "value": "gpt-.*"}
        t0 = recent_base()
        await s.push(
            at(t0, 0, 1500, {"model": "gpt-4", "endpoint": "/chat"}),
            at(t0, 1, 2500, {"model": "gpt-4", "endpoint": "/chat", "region": "eu"}),
            at(t0, 2, 1800, {"model": "gpt-4o", "endpoint": "/chat"}),
            at(t0, 3, 9000, {"model": "llama-3", "endpoint": "/chat"}),  # no matcher match
            at(t0, 4, 9000, {"model": "gpt-4o", "endpoint": "/healthz"}),  # excluded endpoint
            at(t0, 5, 500, {"model": "gpt-3.5", "endpoint": "/chat"}),  # matches, stays low
            at(t0, 6, 1200, {"model": "gpt-4", "endpoint": "/chat"}, service="search"),
        )
        fired = await alerts(s)
        assert sorted((a["serviceName"], a["labels"]["model"]) for a in fired) == [
            ("chat", "gpt-4"),
            ("chat", "gpt-4o"),
            ("search", "gpt-4"),
        ]
        by_group = {(a["serviceName"], a["labels"]["model"]): a for a in fired}
        assert by_group[("chat", "gpt-4")]["labels"] == {"model": "gpt-4"}
        assert by_group[("chat", "gpt-4")]["currentValue"] == 2000  # avg of gpt-4's 1500, 2500
        assert by_group[("chat", "gpt-4o")]["currentValue"] == 1800  # /healthz's 9000 left out
        assert "model=gpt-4" in by_group[("chat", "gpt-4")]["message"]
        assert len({a["fingerprint"] for a in fired}) == 3

        requests = await receiver.wait_for(3)
        models = sorted(
            (r.json()["alerts"][0]["labels"]["service"], r.json()["alerts"][0]["labels"]["model"])
            for r in requests
        )
        assert models == [("chat", "gpt-4"), ("chat", "gpt-4o"), ("search", "gpt-4")]
        assert all(r.json()["perfpilot"]["labels"]["model"] for r in requests)

        # more bad samples of a firing group update its alert; no second alert per group
        await s.push(at(t0, 10, 3000, {"model": "gpt-4", "endpoint": "/chat"}))
        assert len(await alerts(s)) == 3
        # gpt-4o recovers on its own; gpt-4 stays active
        await s.push(at(t0, 70, 100, {"model": "gpt-4o", "endpoint": "/chat"}))
        statuses = {(a["serviceName"], a["labels"]["model"]): a["status"] for a in await alerts(s)}
        assert statuses == {
            ("chat", "gpt-4"): "active",
            ("chat", "gpt-4o"): "resolved",
            ("search", "gpt-4"): "active",
        }


async def test_resolving_one_group_by_hand_leaves_the_others(live_server: LiveServer) -> None:
    s = live_server
    await make_rule(s)
    t0 = recent_base()
    await s.push(at(t0, 0, 1500, {"model": "gpt-4"}), at(t0, 1, 1500, {"model": "gpt-4o"}))
    first = {a["labels"]["model"]: a for a in await alerts(s)}
    resolved = await s.client.put(
        s.api(f"/alerts/{first['gpt-4']['id']}/resolve"), headers=s.auth("operator")
    )
    assert resolved.status_code == 200
    await s.settle()
    # gpt-4 is re-armed from inactive and fires again; gpt-4o's alert is updated in place
    await s.push(at(t0, 2, 1600, {"model": "gpt-4"}), at(t0, 3, 1700, {"model": "gpt-4o"}))
    now = await alerts(s)
    assert sorted((a["labels"]["model"], a["status"]) for a in now) == [
        ("gpt-4", "active"),
        ("gpt-4", "resolved"),
        ("gpt-4o", "active"),
    ]


async def test_grouped_pending_timers_survive_a_restart(
    clean_database: str, tmp_path: Path
) -> None:
    settings = make_settings(clean_database, tmp_path)
    body = GROUPED_RULE | {"condition": GROUPED_RULE["condition"] | {"duration": 60}}
    t0 = recent_base()

    async def serve() -> tuple[Any, Any, LiveServer, httpx.AsyncClient]:
        server, task, (app, port) = await start_server(settings)
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
        return server, task, LiveServer(base_url="", ctx=app.state.ctx, client=client), client

    server, task, s, client = await serve()
    try:
        await make_rule(s, body)
        await s.push(at(t0, 0, 1500, {"model": "gpt-4"}), at(t0, 30, 1500, {"model": "gpt-4o"}))
        assert await alerts(s) == []  # both pending
    finally:
        await client.aclose()
        server.should_exit = True
        await task

    server, task, s, client = await serve()
    try:
        # each group's timer and window came back: gpt-4 fires at 61 s (pending since 0);
        # gpt-4o, pending since 30 s, not yet
        await s.push(at(t0, 61, 1500, {"model": "gpt-4"}), at(t0, 62, 1500, {"model": "gpt-4o"}))
        [alert] = await alerts(s)
        assert alert["labels"] == {"model": "gpt-4"}
        await s.push(at(t0, 90, 1500, {"model": "gpt-4o"}))
        assert sorted(a["labels"]["model"] for a in await alerts(s)) == ["gpt-4", "gpt-4o"]
    finally:
        await client.aclose()
        server.should_exit = True
        await task


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        ({"matchers": [{"label": "model", "op": "=~", "value": "(gpt"}]}, "matchers.0.value"),
        ({"matchers": [{"label": "model", "op": "=~", "value": r"(a)\1"}]}, "matchers.0.value"),
        ({"matchers": [{"label": "m", "op": "=~", "value": "a" * 257}]}, "matchers.0.value"),
        ({"matchers": [{"label": "model", "op": "==", "value": "x"}]}, "matchers.0.op"),
        ({"matchers": [{"label": "9x", "op": "=", "value": "x"}]}, "matchers.0.label"),
        ({"matchers": [{"label": "model", "op": "="}]}, "matchers.0.value"),
        ({"groupBy": ["model", "bad-name"]}, "groupBy.1"),
        ({"groupBy": [f"l{i}" for i in range(17)]}, "groupBy"),
    ],
)
async def test_bad_matchers_and_group_by_are_a_422_naming_the_field(
    live_server: LiveServer, condition: dict[str, Any], field: str
) -> None:
    s = live_server
    body = GROUPED_RULE | {"condition": GROUPED_RULE["condition"] | condition}
    response = await s.client.post(s.api("/rules"), json=body, headers=s.auth())
    assert response.status_code == 422, response.text
    fields = [d["field"] for d in response.json()["error"]["details"]]
    assert fields == [f"condition.{field}"]
    listed = await s.client.get(s.api("/rules"), headers=s.auth())
    assert listed.json()["data"] == []
