"""Pushing samples and reading them back, over HTTP, on each backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import LiveServer

SEED_EXAMPLE = {
    "serviceName": "ai-chat-service",
    "metricType": "latency",
    "value": 1500,
    "unit": "ms",
    "metadata": {"requestId": "req-123", "model": "gpt-4"},
}


async def test_seed_example_is_stored_and_read_back(live_server: LiveServer) -> None:
    s = live_server
    created = await s.client.post(s.api("/metrics"), json=SEED_EXAMPLE, headers=s.auth("operator"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["success"] is True
    assert body["message"] == "Performance metric recorded successfully"
    sample = body["data"]
    assert sample["serviceName"] == "ai-chat-service"
    assert sample["metricType"] == "latency"
    assert sample["value"] == 1500
    assert sample["unit"] == "ms"
    assert sample["metadata"] == {"requestId": "req-123", "model": "gpt-4"}
    assert datetime.fromisoformat(sample["timestamp"]).tzinfo is not None

    listed = await s.client.get(
        s.api("/metrics"), params={"serviceName": "ai-chat-service"}, headers=s.auth("viewer")
    )
    assert listed.status_code == 200
    page = listed.json()
    assert page["count"] == 1
    assert page["data"] == [sample]


@pytest.mark.parametrize(
    ("metric_type", "value", "unit", "canonical", "canonical_unit"),
    [
        ("latency", 1.5, "s", 1500.0, "ms"),
        ("latency", 2500, "us", 2.5, "ms"),
        ("latency", 12, None, 12.0, "ms"),
        ("throughput", 600, "rpm", 10.0, "rps"),
        ("accuracy", 92, "percent", 0.92, "ratio"),
        ("cost", 0.00002, "usd", 0.00002, "usd"),
        ("memory", 2, "gb", 2048.0, "mb"),
        ("memory", 512, "kb", 0.5, "mb"),
        ("memory", 1048576, "b", 1.0, "mb"),
        ("cpu", 0.45, "ratio", 45.0, "percent"),
        ("error_rate", 2, "percent", 0.02, "ratio"),
        ("success_rate", 98, "percent", 0.98, "ratio"),
    ],
)
async def test_units_convert_to_canonical_on_the_way_in(
    live_server: LiveServer,
    metric_type: str,
    value: float,
    unit: str | None,
    canonical: float,
    canonical_unit: str,
) -> None:
    s = live_server
    payload = {"serviceName": "svc-units", "metricType": metric_type, "value": value}
    if unit is not None:
        payload["unit"] = unit
    created = await s.client.post(s.api("/metrics"), json=payload, headers=s.auth("operator"))
    assert created.status_code == 201, created.text
    listed = await s.client.get(
        s.api("/metrics"),
        params={"serviceName": "svc-units", "metricType": metric_type},
        headers=s.auth("viewer"),
    )
    [stored] = listed.json()["data"]
    assert stored["value"] == pytest.approx(canonical, rel=1e-12)
    assert stored["unit"] == canonical_unit


async def test_batch_is_committed_whole_and_filters_page_newest_first(
    live_server: LiveServer,
) -> None:
    s = live_server
    base = datetime.now(UTC) - timedelta(minutes=30)
    samples = [
        {
            "serviceName": "svc-batch",
            "metricType": "latency",
            "value": i,
            "timestamp": (base + timedelta(seconds=i)).isoformat(),
        }
        for i in range(250)
    ]
    created = await s.client.post(
        s.api("/metrics/batch"), json={"samples": samples}, headers=s.auth("operator")
    )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["accepted"] == 250

    seen: list[float] = []
    cursor = None
    while True:
        params = {"serviceName": "svc-batch", "limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = (
            await s.client.get(s.api("/metrics"), params=params, headers=s.auth("viewer"))
        ).json()
        seen.extend(item["value"] for item in page["data"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [float(v) for v in range(249, -1, -1)]

    window = await s.client.get(
        s.api("/metrics"),
        params={
            "serviceName": "svc-batch",
            "since": (base + timedelta(seconds=10)).isoformat(),
            "until": (base + timedelta(seconds=19)).isoformat(),
        },
        headers=s.auth("viewer"),
    )
    assert [i["value"] for i in window.json()["data"]] == [float(v) for v in range(19, 9, -1)]


async def test_batch_with_one_bad_item_stores_nothing_and_names_the_index(
    live_server: LiveServer,
) -> None:
    s = live_server
    samples = [{"serviceName": "svc-bad", "metricType": "latency", "value": i} for i in range(10)]
    samples[7] = {"serviceName": "svc-bad", "metricType": "accuracy", "value": 1.7}
    response = await s.client.post(
        s.api("/metrics/batch"), json={"samples": samples}, headers=s.auth("operator")
    )
    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert detail["index"] == 7
    assert detail["field"] == "samples.7.value"
    listed = await s.client.get(
        s.api("/metrics"), params={"serviceName": "svc-bad"}, headers=s.auth("viewer")
    )
    assert listed.json()["count"] == 0
