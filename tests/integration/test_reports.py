"""Reports over known data (report_data.py): every summary figure checked to the value, the
optimizations and recommendations derived from it, validation, roles and storage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.envelope import assert_error
from tests.integration.report_data import (
    SERVICE,
    base_minute,
    custom,
    post_report,
    sample,
    seed_alerts_and_actions,
    seed_period,
)


async def test_summary_figures_are_exact(live_server: LiveServer) -> None:
    s = live_server
    t0 = base_minute()
    start, end = await seed_period(s, t0)
    await seed_alerts_and_actions(s, t0)

    response = await post_report(s, custom(start, end))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Optimization report generated successfully"
    report = body["data"]
    assert report["serviceName"] == SERVICE
    assert report["reportType"] == "custom"
    assert datetime.fromisoformat(report["period"]["start"]) == start
    assert datetime.fromisoformat(report["period"]["end"]) == end

    summary = report["summary"]
    timeline = summary.pop("latencyTimeline")
    averages = summary.pop("averages")  # every type with values; the seed's fields agree
    trends = summary.pop("trends")  # a few samples per type: each says its history is short
    assert [t["metricType"] for t in trends] == [
        m for m in ("latency", "throughput", "error_rate", "cpu", "cost") if m in averages
    ]
    assert all(t["statement"].startswith("History too short") for t in trends)
    assert averages["latency"] == summary["averageLatency"]
    assert averages["throughput"] == summary["averageThroughput"]
    assert averages["cost"] == pytest.approx(summary["totalCost"] / 3)
    assert set(averages) == {k for k, n in summary["sampleCounts"].items() if n}
    # percentile_cont by its definition: v[f] + (q (n - 1) - f) (v[f + 1] - v[f])
    p95 = 1900 + (0.95 * 19 - 18) * (5000 - 1900)
    p99 = 1900 + (0.99 * 19 - 18) * (5000 - 1900)
    assert summary == {
        "totalRequests": 13200,
        "totalRequestsBasis": "throughput",
        "throughputSeconds": 370.0,
        "averageLatency": 1200.0,
        "averageThroughput": 13200 / 370,  # time-weighted: the integral over its seconds
        "averageAccuracy": 0.75,
        "totalCost": 0.875,
        "errorRate": 0.5,
        "successRate": 0.75,
        "latencyP50": 1050.0,
        "latencyP95": p95,
        "latencyP99": p99,
        "averageMemory": 768.0,
        "averageCpu": 19.0,
        "sampleCounts": {
            "latency": 20,
            "throughput": 6,
            "accuracy": 3,
            "cost": 3,
            "memory": 2,
            "cpu": 10,
            "error_rate": 2,
            "success_rate": 2,
        },
        "alertCounts": {
            "total": 6,
            "bySeverity": {"low": 0, "medium": 5, "high": 1, "critical": 0},
            "silenced": 0,  # no silence muted any of them
        },
        "latencyPercentileBasis": "samples",  # no latency histogram in the period
        "histograms": {},
    }
    assert p95 == pytest.approx(2055) and p99 == pytest.approx(4411)

    # 3610 s in 60 buckets of 61 s; every latency sample in exactly one
    assert timeline["bucketSeconds"] == 61.0
    points = timeline["points"]
    assert len(points) == 60
    assert datetime.fromisoformat(points[0]["start"]) == start
    assert sum(p["count"] for p in points) == 20
    assert max(p["max"] for p in points if p["max"] is not None) == 5000.0
    first = points[0]
    assert (first["count"], first["average"], first["max"]) == (1, 100.0, 100.0)


async def test_optimizations_and_recommendations_rest_on_the_data(
    live_server: LiveServer,
) -> None:
    s = live_server
    t0 = base_minute()
    start, end = await seed_period(s, t0)
    await seed_alerts_and_actions(s, t0)
    report = (await post_report(s, custom(start, end))).json()["data"]

    by_type = {o["type"]: o for o in report["optimizations"]}
    assert [o["type"] for o in report["optimizations"]] == [
        "scale_up",
        "cache_clear",
        "fallback",
        "retry",
    ]
    scale_up = by_type["scale_up"]
    assert {k: scale_up[k] for k in ("executed", "skipped", "measured", "improved")} == {
        "executed": 3,
        "skipped": 1,
        "measured": 3,
        "improved": 2,
    }
    assert scale_up["worsened"] == 1 and scale_up["metrics"] == ["latency"]
    assert scale_up["impact"] == pytest.approx(0.625 / 3)
    assert "+20.8% on latency" in scale_up["description"]
    assert scale_up["recommendation"].startswith("scale_up helps")
    clear = by_type["cache_clear"]
    assert (clear["executed"], clear["noChange"], clear["impact"]) == (2, 2, 0.005)
    assert "did not measurably help" in clear["recommendation"]
    assert (by_type["fallback"]["pending"], by_type["fallback"]["impact"]) == (1, None)
    assert (by_type["retry"]["failed"], by_type["retry"]["executed"]) == (1, 0)

    recs = {r["kind"]: r for r in report["recommendations"]}
    assert [r["kind"] for r in report["recommendations"]] == [
        "trend",
        "noisy_rule",
        "ineffective_action",
        "idle_capacity",
    ]
    trend = recs["trend"]["evidence"]
    assert trend["metricType"] == "latency"
    assert (trend["previous"], trend["current"], trend["change"]) == (1000.0, 1200.0, -0.2)
    assert (trend["previousSamples"], trend["currentSamples"]) == (10, 20)
    assert "20.0% worse" in recs["trend"]["message"]

    noisy = recs["noisy_rule"]["evidence"]
    assert noisy["ruleName"] == "Flappy latency"
    assert (noisy["firings"], noisy["shortLived"], noisy["resolved"]) == (5, 4, 4)
    assert noisy["meanDurationSeconds"] == pytest.approx(30.0)
    assert noisy["firingsPerDay"] == pytest.approx(5 / (3610 / 86400))

    ineffective = recs["ineffective_action"]["evidence"]
    assert ineffective == {
        "actionType": "cache_clear",
        "metricType": "memory",
        "measured": 2,
        "improved": 0,
        "noChange": 2,
        "worsened": 0,
        "meanImpact": 0.005,
    }
    idle = recs["idle_capacity"]["evidence"]
    assert idle == {
        "metric": "cpu",
        "average": 19.0,
        "maximum": 28.0,
        "samples": 10,
        "scaleDownThreshold": 30.0,
        "targetUtilization": 70.0,
        "instances": 6,
        "minInstances": 2,
        "suggestedInstances": 2,
    }
    assert "over-provisioned on 6 instances" in recs["idle_capacity"]["message"]


async def test_no_data_gives_one_recommendation_with_counts(live_server: LiveServer) -> None:
    s = live_server
    t0 = base_minute()
    await s.push(sample("latency", 300, t0 - timedelta(minutes=30)))
    response = await post_report(s, custom(t0, t0 + timedelta(hours=1)))
    report = response.json()["data"]
    summary = report["summary"]
    assert summary["totalRequests"] == 0 and summary["totalRequestsBasis"] == "none"
    assert summary["averageLatency"] is None and summary["latencyP99"] is None
    assert summary["totalCost"] is None
    assert set(summary["sampleCounts"].values()) == {0}
    assert report["optimizations"] == []
    assert report["recommendations"] == [
        {
            "kind": "no_data",
            "message": f"No samples from {SERVICE} in this period (1 in the previous one): "
            "nothing to recommend",
            "evidence": {"samples": 0, "previousPeriodSamples": 1, "alerts": 0},
        }
    ]


async def test_total_requests_falls_back_to_latency_samples(live_server: LiveServer) -> None:
    s = live_server
    t0 = base_minute()
    await s.push(*(sample("latency", 10 * (i + 1), t0 + timedelta(seconds=i)) for i in range(7)))
    summary = (await post_report(s, custom(t0, t0 + timedelta(hours=1)))).json()["data"]["summary"]
    assert (summary["totalRequests"], summary["totalRequestsBasis"]) == (7, "latency_samples")
    assert summary["throughputSeconds"] == 0.0
    assert summary["averageThroughput"] is None
    assert summary["latencyP50"] == 40.0
    assert summary["latencyP95"] == 60 + (0.95 * 6 - 5) * 10


async def test_default_periods_and_validation(live_server: LiveServer) -> None:
    s = live_server
    before = datetime.now(UTC)
    for report_type, days in (("daily", 1), ("weekly", 7), ("monthly", 30)):
        response = await post_report(s, {"serviceName": SERVICE, "reportType": report_type})
        assert response.status_code == 201, response.text
        period = response.json()["data"]["period"]
        start, end = (datetime.fromisoformat(period[k]) for k in ("start", "end"))
        assert end - start == timedelta(days=days)
        assert before <= end <= datetime.now(UTC)

    t0 = base_minute()
    cases = [
        ({"serviceName": SERVICE, "reportType": "custom"}, "period"),
        (custom(t0, t0), "period.end"),
        (custom(t0, t0 - timedelta(seconds=1)), "period.end"),
        (custom(t0 - timedelta(days=367), t0), "period"),
        ({**custom(t0 - timedelta(days=2), t0), "reportType": "daily"}, "period"),
        ({"serviceName": SERVICE, "reportType": "yearly"}, "reportType"),
        ({"serviceName": "bad name!", "reportType": "daily"}, "serviceName"),
    ]
    for body, field in cases:
        error = assert_error(await post_report(s, body), 422, "validation_error")
        assert field in [d["field"] for d in error["details"]], (body, error)
    ok = await post_report(s, {**custom(t0 - timedelta(days=31), t0), "reportType": "monthly"})
    assert ok.status_code == 201, ok.text
    ok = await post_report(s, custom(t0 - timedelta(days=366), t0))
    assert ok.status_code == 201, ok.text


async def test_roles_storage_listing_and_paging(live_server: LiveServer) -> None:
    s = live_server
    assert_error(
        await s.client.post(
            s.api("/reports"), json={"serviceName": SERVICE, "reportType": "daily"}
        ),
        401,
        "unauthorized",
    )
    assert_error(
        await post_report(s, {"serviceName": SERVICE, "reportType": "daily"}, role="viewer"),
        403,
        "forbidden",
    )
    ids = []
    for service, report_type in [(SERVICE, "daily"), (SERVICE, "weekly"), ("other", "daily")]:
        response = await post_report(s, {"serviceName": service, "reportType": report_type})
        ids.append(response.json()["data"]["id"])
    viewer = s.auth("viewer")

    one = await s.client.get(s.api(f"/reports/{ids[1]}"), headers=viewer)
    assert one.status_code == 200
    assert one.json()["data"]["id"] == ids[1] and one.json()["data"]["reportType"] == "weekly"
    stored = (await post_report(s, {"serviceName": SERVICE, "reportType": "daily"})).json()
    again = (await s.client.get(s.api(f"/reports/{stored['data']['id']}"), headers=viewer)).json()
    assert again["data"] == stored["data"]

    listed = await s.client.get(s.api("/reports"), params={"serviceName": SERVICE}, headers=viewer)
    assert [r["serviceName"] for r in listed.json()["data"]] == [SERVICE] * 3
    daily = await s.client.get(
        s.api("/reports"), params={"serviceName": SERVICE, "reportType": "daily"}, headers=viewer
    )
    assert daily.json()["count"] == 2

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await s.client.get(s.api("/reports"), params=params, headers=viewer)).json()
        seen += [r["id"] for r in page["data"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == 4 and len(set(seen)) == 4

    missing = "00000000-0000-4000-8000-000000000000"
    assert_error(await s.client.get(s.api(f"/reports/{missing}"), headers=viewer), 404, "not_found")


async def test_reports_are_generated_while_samples_keep_arriving(live_server: LiveServer) -> None:
    s = live_server
    t0 = base_minute()
    for lo in range(0, 30_000, 10_000):
        await s.push(
            *(
                sample("latency", i % 997, t0 + timedelta(seconds=i / 10))
                for i in range(lo, lo + 10_000)
            )
        )
    stop = asyncio.Event()

    async def ingest() -> int:
        pushed = 0
        while not stop.is_set():
            await s.push(
                sample("latency", 1, datetime.now(UTC)), sample("throughput", 5, datetime.now(UTC))
            )
            pushed += 1
        return pushed

    writer = asyncio.create_task(ingest())
    try:
        for _ in range(3):
            response = await post_report(s, custom(t0, t0 + timedelta(hours=1)))
            assert response.status_code == 201, response.text
            assert response.json()["data"]["summary"]["sampleCounts"]["latency"] == 30_000
    finally:
        stop.set()
        assert await writer > 0
