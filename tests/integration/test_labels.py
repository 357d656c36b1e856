"""Labelled samples over HTTP, on each backend: stored and read back with their labels,
filtered by `labels[name]=value`, refused with a 422 naming the label, and the cardinality
limit per service (DESIGN §9), under concurrent requests too."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from perfpilot.core.db import create_engine
from perfpilot.metrics.retention import RetentionLoop
from tests.conftest import LiveServer, make_settings, start_server


def sample(service: str, value: float, labels: dict[str, str] | None, **extra: Any) -> dict:
    body: dict[str, Any] = {"serviceName": service, "metricType": "latency", "value": value}
    if labels is not None:
        body["labels"] = labels
    return body | extra


async def listed(s: LiveServer, **params: Any) -> list[dict[str, Any]]:
    response = await s.client.get(s.api("/metrics"), params=params, headers=s.auth("viewer"))
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def test_labels_are_stored_read_back_and_filtered(live_server: LiveServer) -> None:
    s = live_server
    one = await s.client.post(
        s.api("/metrics"),
        json=sample("chat", 100, {"model": "gpt-4", "region": "eu"}),
        headers=s.auth("operator"),
    )
    assert one.status_code == 201, one.text
    assert one.json()["data"]["labels"] == {"model": "gpt-4", "region": "eu"}
    base = datetime.now(UTC) - timedelta(minutes=10)
    batch = [
        sample(
            "chat",
            float(i),
            [{"model": "gpt-4", "region": "us"}, {"model": "llama"}, None][i % 3],
            timestamp=(base + timedelta(seconds=i)).isoformat(),
        )
        for i in range(30)
    ] + [sample("search", 7.0, {"model": "gpt-4", "region": "eu"})]
    await s.push(*batch)

    everything = await listed(s, serviceName="chat", limit=1000)
    assert len(everything) == 31
    by_value = {item["value"]: item["labels"] for item in everything}
    assert by_value[0.0] == {"model": "gpt-4", "region": "us"}
    assert by_value[1.0] == {"model": "llama"}
    assert by_value[2.0] == {}  # unlabelled: the empty label set

    gpt4 = await listed(s, **{"labels[model]": "gpt-4", "limit": 1000})
    # chat's two gpt-4 series and search's one, newest first
    assert [i["value"] for i in gpt4] == [7.0, 100.0] + [float(i) for i in range(27, -1, -3)]
    assert {i["serviceName"] for i in gpt4} == {"chat", "search"}
    both = await listed(s, **{"labels[model]": "gpt-4", "labels[region]": "eu"}, limit=100)
    assert sorted(i["value"] for i in both) == [7.0, 100.0]
    chat_eu = await listed(
        s, **{"labels[model]": "gpt-4", "labels[region]": "eu"}, serviceName="chat"
    )
    assert [i["value"] for i in chat_eu] == [100.0]
    assert await listed(s, **{"labels[model]": "nobody"}) == []
    assert await listed(s, **{"labels[model]": "llama"}, metricType="cpu") == []

    # pages over several series: the cursor skips and repeats nothing
    seen: list[float] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"labels[model]": "gpt-4", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = await s.client.get(s.api("/metrics"), params=params, headers=s.auth("viewer"))
        page = response.json()
        seen += [i["value"] for i in page["data"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [i["value"] for i in gpt4]

    since = (base + timedelta(seconds=20)).isoformat()
    recent = await listed(s, **{"labels[model]": "llama"}, since=since)
    assert [i["value"] for i in recent] == [28.0, 25.0, 22.0]


@pytest.mark.parametrize(
    ("labels", "field", "fragment"),
    [
        ({"model": ""}, "labels.model", "at least 1 character"),
        ({"model": "x" * 257}, "labels.model", "at most 256 characters"),
        ({"model": "a\u0000b"}, "labels.model", "match pattern"),
        ({"model": 4}, "labels.model", "valid string"),
        ({"9lives": "x"}, "labels.9lives.[key]", "match pattern"),
        ({"a-b": "x"}, "labels.a-b.[key]", "match pattern"),
        ({"k" * 65: "x"}, f"labels.{'k' * 65}.[key]", "match pattern"),
        ({f"k{i}": "x" for i in range(17)}, "labels", "at most 16 items"),
        (["model", "gpt-4"], "labels", "valid dictionary"),
    ],
)
async def test_bad_labels_are_a_422_naming_the_label(
    live_server: LiveServer, labels: Any, field: str, fragment: str
) -> None:
    s = live_server
    body = sample("chat", 1, None) | {"labels": labels}
    single = await s.client.post(s.api("/metrics"), json=body, headers=s.auth("operator"))
    assert single.status_code == 422, single.text
    [detail] = single.json()["error"]["details"]
    assert detail["field"] == field
    assert fragment in detail["message"]

    good = sample("chat", 1, {"model": "gpt-4"})
    batch = await s.client.post(
        s.api("/metrics/batch"), json={"samples": [good, good, body]}, headers=s.auth("operator")
    )
    assert batch.status_code == 422, batch.text
    [detail] = batch.json()["error"]["details"]
    assert detail["field"] == f"samples.2.{field}"
    assert detail["index"] == 2
    assert await listed(s, serviceName="chat") == []  # the batch is all or nothing


async def test_bad_label_filters_are_a_422_naming_the_parameter(live_server: LiveServer) -> None:
    s = live_server
    for params, field in [
        ({"labels[9x]": "a"}, "labels[9x]"),
        ({"labels[model]": ""}, "labels[model]"),
        ({"labels[model]": "x" * 257}, "labels[model]"),
    ]:
        response = await s.client.get(s.api("/metrics"), params=params, headers=s.auth("viewer"))
        assert response.status_code == 422, response.text
        [detail] = response.json()["error"]["details"]
        assert detail["field"] == field
        assert detail["in"] == "query"


@pytest.mark.settings(cardinality_limit=3)
async def test_the_cardinality_limit_is_a_422_and_stores_nothing_of_the_request(
    live_server: LiveServer,
) -> None:
    s = live_server
    # three label sets, two metric types: one label set counts once whatever the type
    await s.push(
        sample("chat", 1, {"model": "a"}),
        sample("chat", 1, {"model": "b"}),
        sample("chat", 1, {"model": "c"}),
        sample("chat", 1, {"model": "a"}) | {"metricType": "cpu"},
        sample("chat", 1, None),  # the unlabelled series is not a label set
    )
    refused = await s.client.post(
        s.api("/metrics/batch"),
        json={"samples": [sample("chat", 2, {"model": "a"}), sample("chat", 2, {"model": "d"})]},
        headers=s.auth("operator"),
    )
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "cardinality_limit"
    assert "'chat'" in error["message"] and "3" in error["message"]
    [detail] = error["details"]
    assert detail["serviceName"] == "chat"
    assert detail["limit"] == 3
    assert detail["index"] == 1
    assert detail["field"] == "samples.1.labels"
    assert [i["value"] for i in await listed(s, serviceName="chat")] == [1.0] * 5

    single = await s.client.post(
        s.api("/metrics"), json=sample("chat", 3, {"model": "e"}), headers=s.auth("operator")
    )
    assert single.status_code == 422
    assert single.json()["error"]["details"][0]["field"] == "labels"
    # known label sets, other services and unlabelled samples still go in
    await s.push(
        sample("chat", 4, {"model": "b"}),
        sample("chat", 4, {"model": "c"}) | {"metricType": "cpu"},
        sample("chat", 4, None),
        sample("search", 4, {"model": "d"}),
    )
    assert len(await listed(s, limit=100)) == 9


@pytest.mark.settings(cardinality_limit=5)
async def test_the_cardinality_limit_holds_under_concurrent_requests(
    live_server: LiveServer, database_url: str
) -> None:
    s = live_server

    async def post(i: int) -> int:
        response = await s.client.post(
            s.api("/metrics"), json=sample("chat", i, {"tenant": f"t{i}"}), headers=s.auth()
        )
        return response.status_code

    statuses = await asyncio.gather(*(post(i) for i in range(20)))
    assert sorted(statuses) == [201] * 5 + [422] * 15
    assert len(await listed(s, serviceName="chat")) == 5
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                text("SELECT count(*) FROM ai_metric_series WHERE service_name = 'chat'")
            )
    finally:
        await engine.dispose()
    assert count == 5


async def test_realtime_groups_the_latest_values_by_one_label(live_server: LiveServer) -> None:
    s = live_server
    now = datetime.now(UTC)

    def at(seconds_ago: float, metric: str, value: float, labels: dict[str, str] | None) -> dict:
        ts = (now - timedelta(seconds=seconds_ago)).isoformat()
        return sample("chat", value, labels, metricType=metric, timestamp=ts)

    await s.push(
        at(30, "latency", 100, {"model": "gpt-4", "region": "eu"}),
        at(20, "latency", 300, {"model": "gpt-4", "region": "us"}),  # gpt-4's newest latency
        at(25, "cpu", 40, {"model": "gpt-4"}),
        at(10, "latency", 50, {"model": "llama"}),
        at(900, "cpu", 70, {"model": "llama"}),  # stale: null, but still its newest sample
        at(5, "latency", 999, None),  # no model: the service's figure, in no group
    )
    response = await s.client.get(
        s.api("/realtime"), params={"serviceName": "chat", "groupBy": "model"}, headers=s.auth()
    )
    assert response.status_code == 200, response.text
    view = response.json()["data"]
    assert view["metrics"]["latency"] == 999
    groups = view["groups"]
    assert [g["labels"] for g in groups] == [{"model": "gpt-4"}, {"model": "llama"}]
    gpt4, llama = groups
    assert gpt4["metrics"]["latency"] == 300 and gpt4["metrics"]["cpu"] == 40
    assert llama["metrics"]["latency"] == 50 and llama["metrics"]["cpu"] is None
    assert datetime.fromisoformat(gpt4["lastSampleAt"]) == now - timedelta(seconds=20)

    plain = await s.client.get(s.api("/realtime"), params={"serviceName": "chat"}, headers=s.auth())
    assert plain.json()["data"].get("groups") is None
    for params, field in [
        ({"groupBy": "model"}, "groupBy"),
        ({"serviceName": "chat", "groupBy": "9"}, "groupBy"),
    ]:
        bad = await s.client.get(s.api("/realtime"), params=params, headers=s.auth())
        assert bad.status_code == 422, bad.text
        assert bad.json()["error"]["details"][0]["field"] == field


async def test_a_report_groups_its_figures_by_one_label(live_server: LiveServer) -> None:
    s = live_server
    now = datetime.now(UTC)

    def at(minutes_ago: float, metric: str, value: float, labels: dict[str, str] | None) -> dict:
        ts = (now - timedelta(minutes=minutes_ago)).isoformat()
        return sample("chat", value, labels, metricType=metric, timestamp=ts)

    await s.push(
        at(60, "latency", 100, {"model": "a", "region": "eu"}),
        at(59, "latency", 400, {"model": "a", "region": "eu"}),
        at(30, "latency", 200, {"model": "a", "region": "us"}),
        at(20, "latency", 300, {"model": "a"}),
        at(10, "latency", 1000, {"model": "b"}),
        at(10, "cost", 0.5, {"model": "b"}),
        at(10, "cost", 0.25, {"model": "b", "region": "us"}),
        at(5, "latency", 5000, None),
    )
    response = await s.client.post(
        s.api("/reports"),
        json={"serviceName": "chat", "reportType": "daily", "groupBy": "model"},
        headers=s.auth("operator"),
    )
    assert response.status_code == 201, response.text
    summary = response.json()["data"]["summary"]
    assert summary["sampleCounts"]["latency"] == 6  # the whole service, unlabelled included
    a, b = summary["groups"]
    assert a["labels"] == {"model": "a"} and b["labels"] == {"model": "b"}
    assert a["sampleCounts"] == {"latency": 4}
    assert a["averages"]["latency"] == 250 and a["maxima"]["latency"] == 400
    # percentile_cont over 100, 200, 300, 400
    assert (a["latencyP50"], a["latencyP95"], a["latencyP99"]) == pytest.approx((250, 385, 397))
    assert a["totalCost"] is None
    assert b["sampleCounts"] == {"latency": 1, "cost": 2}
    assert b["latencyP95"] == 1000 and b["totalCost"] == 0.75

    stored = await s.client.get(
        s.api(f"/reports/{response.json()['data']['id']}"), headers=s.auth("viewer")
    )
    assert stored.json()["data"]["summary"]["groups"] == summary["groups"]
    plain = await s.client.post(
        s.api("/reports"), json={"serviceName": "chat", "reportType": "daily"}, headers=s.auth()
    )
    assert "groups" not in plain.json()["data"]["summary"]


async def test_a_lone_surrogate_in_a_label_is_a_422_naming_it(live_server: LiveServer) -> None:
    s = live_server
    body = (
        b'{"serviceName": "chat", "metricType": "latency", "value": 1, "labels": {"m": "\\ud800"}}'
    )
    headers = s.auth() | {"Content-Type": "application/json"}
    single = await s.client.post(s.api("/metrics"), content=body, headers=headers)
    assert single.status_code == 422, single.text
    assert single.json()["error"]["details"][0]["field"] == "labels.m"
    batch = await s.client.post(
        s.api("/metrics/batch"), content=b'{"samples": [' + body + b"]}", headers=headers
    )
    assert batch.status_code == 422, batch.text
    assert batch.json()["error"]["details"][0]["field"] == "samples.0.labels.m"


async def test_a_label_filter_matching_too_many_series_is_a_422(live_server: LiveServer) -> None:
    s = live_server
    await s.push(*(sample("chat", 1, {"tier": "gold", "tenant": f"t{i}"}) for i in range(501)))
    wide = await s.client.get(s.api("/metrics"), params={"labels[tier]": "gold"}, headers=s.auth())
    assert wide.status_code == 422, wide.text
    [detail] = wide.json()["error"]["details"]
    assert detail["field"] == "labels" and "501 series" in detail["message"]
    narrow = await listed(s, **{"labels[tier]": "gold", "labels[tenant]": "t7"})
    assert [i["labels"] for i in narrow] == [{"tier": "gold", "tenant": "t7"}]


async def test_the_cardinality_limit_counts_the_label_sets_stored_before_a_restart(
    clean_database: str, tmp_path: Path
) -> None:
    settings = make_settings(clean_database, tmp_path, cardinality_limit=2)
    for tenants, expected in ((["a", "b"], 201), (["a", "c"], 422), (["b"], 201)):
        server, task, (app, port) = await start_server(settings)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                s = LiveServer(base_url="", ctx=app.state.ctx, client=client)
                response = await client.post(
                    s.api("/metrics/batch"),
                    json={"samples": [sample("chat", 1, {"tenant": t}) for t in tenants]},
                    headers=s.auth(),
                )
                assert response.status_code == expected, (tenants, response.text)
        finally:
            server.should_exit = True
            await task


@pytest.mark.settings(cardinality_limit=2, retention_days=2)
async def test_label_sets_whose_samples_expired_no_longer_count(live_server: LiveServer) -> None:
    s = live_server
    old = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    await s.push(
        sample("chat", 1, {"tenant": "gone"}, timestamp=old),
        sample("chat", 1, {"tenant": "kept"}),
    )
    refused = await s.client.post(
        s.api("/metrics"), json=sample("chat", 1, {"tenant": "new"}), headers=s.auth()
    )
    assert refused.status_code == 422
    loop = s.ctx.loops["retention"]
    assert isinstance(loop, RetentionLoop)
    await loop.run_once()
    accepted = await s.client.post(
        s.api("/metrics"), json=sample("chat", 1, {"tenant": "new"}), headers=s.auth()
    )
    assert accepted.status_code == 201, accepted.text
    # the expired set may come back as a new one only while there is room
    again = await s.client.post(
        s.api("/metrics"), json=sample("chat", 2, {"tenant": "gone"}), headers=s.auth()
    )
    assert again.status_code == 422
    tenants = {i["labels"]["tenant"] for i in await listed(s, serviceName="chat")}
    assert tenants == {"kept", "new"}
