"""The metric registry over HTTP: built-in types listed, a user type added by an admin and
used at once by ingestion, rules, live views and reports, then refused deletion while in use."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from perfpilot.metric_types.refresh import RegistryRefresh
from perfpilot.metrics.units import REGISTRY
from perfpilot.models import UserMetricType
from tests.conftest import LiveServer
from tests.envelope import assert_error


@pytest.fixture
def s(live_server: LiveServer) -> LiveServer:
    return live_server


USER_TYPE = {
    "name": "cache_hit_ratio",
    "unit": "ratio",
    "units": {"percent": 0.01},
    "better": "higher",
    "min": 0,
    "max": 1,
}


async def create(s: LiveServer, body: dict[str, Any], role: str = "admin") -> Any:
    return await s.client.post(s.api("/metric-types"), json=body, headers=s.auth(role))


async def test_builtins_are_listed_and_cannot_be_redefined_or_deleted(
    s: LiveServer,
) -> None:
    response = await s.client.get(s.api("/metric-types"), headers=s.auth("viewer"))
    assert response.status_code == 200
    types = {t["name"]: t for t in response.json()["data"]}
    assert list(types)[:8] == [
        "latency",
        "throughput",
        "accuracy",
        "cost",
        "memory",
        "cpu",
        "error_rate",
        "success_rate",
    ]
    assert types["ttft"] == {
        "name": "ttft",
        "unit": "ms",
        "units": {"s": 1000.0, "us": 0.001},
        "better": "lower",
        "min": 0.0,
        "max": None,
        "builtin": True,
        "createdAt": None,
    }
    assert types["kv_cache_usage"]["max"] == 1.0
    assert types["gpu_utilization"]["better"] == "none"
    one = await s.client.get(s.api("/metric-types/tpot"), headers=s.auth("viewer"))
    assert one.json()["data"]["unit"] == "ms"
    assert_error(
        await s.client.get(s.api("/metric-types/nope"), headers=s.auth()), 404, "not_found"
    )

    error = assert_error(await create(s, {**USER_TYPE, "name": "latency"}), 409, "conflict")
    assert error["details"][0]["field"] == "name"
    deleting = await s.client.delete(s.api("/metric-types/latency"), headers=s.auth())
    assert_error(deleting, 409, "conflict")
    assert_error(await create(s, USER_TYPE, role="operator"), 403, "forbidden")


async def test_invalid_user_types_are_422_naming_the_field(s: LiveServer) -> None:
    cases = [
        ({**USER_TYPE, "name": "Bad-Name"}, "name"),
        ({**USER_TYPE, "better": "sideways"}, "better"),
        ({**USER_TYPE, "units": {"percent": -1}}, "units.percent"),
        ({**USER_TYPE, "min": 2, "max": 1}, "max"),
        ({**USER_TYPE, "units": {"ratio": 1}}, "units"),
        ({**USER_TYPE, "max": 1e300}, "max"),
    ]
    for body, field in cases:
        error = assert_error(await create(s, body), 422, "validation_error")
        assert error["details"][0]["field"] == field, (body, error)


async def test_a_user_type_works_everywhere_at_once_and_is_kept_while_in_use(
    s: LiveServer,
) -> None:
    sample = {
        "serviceName": "svc-cache",
        "metricType": "cache_hit_ratio",
        "value": 40,
        "unit": "percent",
    }
    before = await s.client.post(s.api("/metrics"), json=sample, headers=s.auth())
    error = assert_error(before, 422, "validation_error")
    assert error["details"][0]["field"] == "metricType"

    created = await create(s, USER_TYPE)
    assert created.status_code == 201, created.text
    assert created.json()["data"]["builtin"] is False
    assert_error(await create(s, USER_TYPE), 409, "conflict")

    rule = {
        "name": "cache cold",
        "serviceName": "svc-cache",
        "condition": {
            "metric": "cache_hit_ratio",
            "operator": "lt",
            "threshold": 50,
            "unit": "percent",
        },
        "action": {"type": "cache_clear", "priority": "high"},
    }
    response = await s.client.post(s.api("/rules"), json=rule, headers=s.auth())
    assert response.status_code == 201, response.text
    assert response.json()["data"]["condition"]["threshold"] == 0.5
    assert response.json()["data"]["condition"]["unit"] == "ratio"

    stored = await s.client.post(s.api("/metrics"), json=sample, headers=s.auth())
    assert stored.status_code == 201, stored.text
    assert (stored.json()["data"]["value"], stored.json()["data"]["unit"]) == (0.4, "ratio")
    await s.settle()
    too_big = await s.client.post(
        s.api("/metrics"), json={**sample, "value": 101}, headers=s.auth()
    )
    assert assert_error(too_big, 422, "validation_error")["details"][0]["field"] == "value"
    bad_batch = {"samples": [sample, {**sample, "unit": "ms"}]}
    response = await s.client.post(s.api("/metrics/batch"), json=bad_batch, headers=s.auth())
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["field"] == "samples.1.unit"

    alerts = await s.client.get(s.api("/alerts"), headers=s.auth("viewer"))
    [alert] = alerts.json()["data"]
    assert (alert["metricType"], alert["currentValue"]) == ("cache_hit_ratio", 0.4)
    assert "0.4 ratio" in alert["message"]

    live = await s.client.get(
        s.api("/realtime"), params={"serviceName": "svc-cache"}, headers=s.auth()
    )
    assert live.json()["data"]["metrics"]["cacheHitRatio"] == 0.4
    report = await s.client.post(
        s.api("/reports"),
        json={"serviceName": "svc-cache", "reportType": "daily"},
        headers=s.auth(),
    )
    assert report.status_code == 201, report.text
    assert report.json()["data"]["summary"]["sampleCounts"]["cache_hit_ratio"] == 1
    assert report.json()["data"]["summary"]["averages"]["cache_hit_ratio"] == 0.4
    listed = await s.client.get(
        s.api("/metrics"), params={"metricType": "cache_hit_ratio"}, headers=s.auth("viewer")
    )
    assert [m["value"] for m in listed.json()["data"]] == [0.4]

    response = await s.client.delete(s.api("/metric-types/cache_hit_ratio"), headers=s.auth())
    error = assert_error(response, 409, "conflict")
    assert "samples" in error["message"] and "rules" in error["message"]


async def test_deleting_an_unused_type_makes_it_unknown_again(s: LiveServer) -> None:
    body = {"name": "gpu_temp", "unit": "celsius", "better": "lower", "min": -50}
    assert (await create(s, body)).status_code == 201
    sample = {"serviceName": "svc-gpu", "metricType": "gpu_temp", "value": -10}
    assert (
        await s.client.post(s.api("/metrics/batch"), json={"samples": [sample]}, headers=s.auth())
    ).status_code == 201
    too_cold = await s.client.post(
        s.api("/metrics"), json={**sample, "value": -60}, headers=s.auth()
    )
    assert (
        "gpu_temp must be >= -50"
        in assert_error(too_cold, 422, "validation_error")["details"][0]["message"]
    )

    other = {"name": "fan_speed", "unit": "rpm", "better": "none"}
    assert (await create(s, other)).status_code == 201
    deleted = await s.client.delete(s.api("/metric-types/fan_speed"), headers=s.auth())
    assert deleted.status_code == 200, deleted.text
    assert_error(
        await s.client.get(s.api("/metric-types/fan_speed"), headers=s.auth()), 404, "not_found"
    )
    gone = await s.client.post(
        s.api("/metrics/batch"),
        json={"samples": [{**sample, "metricType": "fan_speed"}]},
        headers=s.auth(),
    )
    assert (
        assert_error(gone, 422, "validation_error")["details"][0]["field"] == "samples.0.metricType"
    )


async def test_a_type_written_by_another_replica_is_known_after_a_refresh(s: LiveServer) -> None:
    # another replica's write: the row lands in the shared database, this one is not told
    async with s.ctx.sessionmaker() as session, session.begin():
        session.add(UserMetricType(name="queue_wait", unit="ms", units={}, better="lower"))
    sample = {"serviceName": "svc-q", "metricType": "queue_wait", "value": 12}
    refused = await s.client.post(s.api("/metrics"), json=sample, headers=s.auth())
    assert_error(refused, 422, "validation_error")
    refresh = RegistryRefresh(s.ctx.readers, interval=0.05)
    refresh.start()
    try:
        for _ in range(200):
            if "queue_wait" in REGISTRY:
                break
            await asyncio.sleep(0.05)
    finally:
        await refresh.stop()
    accepted = await s.client.post(s.api("/metrics"), json=sample, headers=s.auth())
    assert accepted.status_code == 201, accepted.text
