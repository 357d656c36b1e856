"""GET /series: min/max/avg/count per time bucket, computed by the database (both stores)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import LiveServer
from tests.envelope import assert_error

START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).isoformat()


def sample(value: float, seconds: float, service: str = "chat", metric: str = "latency") -> dict:
    return {"serviceName": service, "metricType": metric, "value": value, "timestamp": at(seconds)}


async def test_buckets_hold_min_max_avg_count_of_their_samples(live_server: LiveServer) -> None:
    s = live_server
    await s.push(
        sample(100, 0),
        sample(300, 10),
        sample(200, 899.5),  # still the first 15-minute bucket
        sample(50, 1800),
        sample(70, 3599),
        sample(999, 3600),  # until is exclusive
        sample(5000, 60, service="other"),
        sample(0.5, 60, metric="error_rate"),
    )
    response = await s.client.get(
        s.api("/series"),
        params={
            "serviceName": "chat",
            "metricType": "latency",
            "since": at(0),
            "until": at(3600),
            "points": 4,
        },
        headers=s.auth("viewer"),
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["bucketSeconds"] == 900
    buckets = [(b["start"], b["count"], b["min"], b["max"], b["avg"]) for b in data["buckets"]]
    assert buckets == [
        ("2026-11-30T12:00:00Z", 3, 100, 300, 200),
        ("2026-11-30T12:30:00Z", 1, 50, 50, 50),
        ("2026-11-30T12:45:00Z", 1, 70, 70, 70),
    ]


async def test_many_samples_answer_with_at_most_points_buckets(live_server: LiveServer) -> None:
    s = live_server
    await s.push(*(sample(float(i), i * 3.7) for i in range(1000)))
    response = await s.client.get(
        s.api("/series"),
        params={
            "serviceName": "chat",
            "metricType": "latency",
            "since": at(0),
            "until": at(3700),
            "points": 37,
        },
        headers=s.auth("viewer"),
    )
    buckets = response.json()["data"]["buckets"]
    assert len(buckets) == 37
    assert sum(b["count"] for b in buckets) == 1000
    assert buckets[0]["min"] == 0 and buckets[-1]["max"] == 999


async def test_bad_ranges_are_422_naming_the_field(live_server: LiveServer) -> None:
    s = live_server
    base = {"serviceName": "chat", "metricType": "latency"}
    response = await s.client.get(
        s.api("/series"), params={**base, "since": at(10), "until": at(0)}, headers=s.auth()
    )
    assert assert_error(response, 422, "validation_error")["details"][0]["field"] == "since"
    response = await s.client.get(
        s.api("/series"), params={**base, "metricType": "speed"}, headers=s.auth()
    )
    assert "metricType" in str(assert_error(response, 422, "validation_error")["details"])
    response = await s.client.get(s.api("/series"), params={**base, "points": 0}, headers=s.auth())
    assert_error(response, 422, "validation_error")
    response = await s.client.get(s.api("/series"), params=base)
    assert_error(response, 401, "unauthorized")
