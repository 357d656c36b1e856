"""Histogram samples over HTTP on each store: validated and converted like values, stored,
listed by GET /metrics, judged by a p95 rule on the requests (not on pushed means), and
reported with their percentile basis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from perfpilot.engine.core import EvaluationCore
from perfpilot.engine.histograms import series_aggregate
from perfpilot.engine.restore import load_windows
from perfpilot.engine.state_machine import RuleSpec
from tests.conftest import LiveServer
from tests.envelope import assert_error

# 100 requests per interval: 90 fast (<= 100 ms), 10 slow (1-2.5 s). Mean 245 ms, p95 1750 ms.
BOUNDS_S = [0.1, 0.5, 1.0, 2.5]
COUNTS = [90, 0, 0, 10, 0]
SUM_S = 90 * 0.05 + 10 * 2.0


@pytest.fixture
def s(live_server: LiveServer) -> LiveServer:
    return live_server


def histogram_sample(service: str, age: float, **extra: Any) -> dict[str, Any]:
    return {
        "serviceName": service,
        "metricType": "latency",
        "unit": "s",
        "histogram": {"bounds": BOUNDS_S, "counts": COUNTS, "sum": SUM_S, "count": 100},
        "intervalSeconds": 10,
        "timestamp": (datetime.now(UTC) - timedelta(seconds=age)).isoformat(),
        **extra,
    }


async def post(s: LiveServer, body: dict[str, Any]) -> Any:
    return await s.client.post(s.api("/metrics"), json=body, headers=s.auth())


async def test_a_histogram_sample_is_stored_in_the_canonical_unit(s: LiveServer) -> None:
    response = await post(s, histogram_sample("svc-h", 5))
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["histogram"] == {
        "bounds": [100.0, 500.0, 1000.0, 2500.0],
        "counts": COUNTS,
        "sum": pytest.approx(SUM_S * 1000),
        "count": 100,
    }
    assert (data["unit"], data["intervalSeconds"]) == ("ms", 10.0)
    assert data["value"] == pytest.approx(245.0)  # the interval's mean
    await post(s, {"serviceName": "svc-h", "metricType": "latency", "value": 7})
    listed = await s.client.get(
        s.api("/metrics"), params={"serviceName": "svc-h", "limit": 1}, headers=s.auth("viewer")
    )
    [newest] = listed.json()["data"]
    assert (newest["value"], newest["histogram"]) == (7.0, None)
    older = await s.client.get(
        s.api("/metrics"),
        params={"serviceName": "svc-h", "cursor": listed.json()["nextCursor"]},
        headers=s.auth("viewer"),
    )
    [stored] = older.json()["data"]
    assert stored == data
    assert older.json()["nextCursor"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bounds": [0.5, 0.1, 1.0, 2.5]}, "histogram.bounds"),
        ({"counts": [90, 0, 0, 10]}, "histogram.counts"),
        ({"counts": [90, -1, 0, 10, 0]}, "histogram.counts.1"),
        ({"counts": [90, 0.5, 0, 10, 0]}, "histogram.counts.1"),
        ({"count": 99}, "histogram.count"),
        ({"sum": -1.0}, "histogram"),  # latency is >= 0: so is the sum of 100 of them
        ({"bounds": [1e13, 2e13, 3e13, 4e13]}, "histogram"),  # past 1e15 once in ms
    ],
)
async def test_invalid_histograms_are_422_naming_the_field(
    s: LiveServer, change: dict[str, Any], field: str
) -> None:
    body = histogram_sample("svc-bad", 1)
    body["histogram"] = {**body["histogram"], **change}
    error = assert_error(await post(s, body), 422, "validation_error")
    assert error["details"][0]["field"] == field, error
    batch = {"samples": [histogram_sample("svc-bad", 1), body]}
    response = await s.client.post(s.api("/metrics/batch"), json=batch, headers=s.auth())
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["field"] == f"samples.1.{field}", error
    assert error["details"][0]["index"] == 1


async def test_value_and_histogram_exclude_each_other(s: LiveServer) -> None:
    both = histogram_sample("svc-bad", 1, value=3)
    assert assert_error(await post(s, both), 422, "validation_error")["details"][0]["field"] == (
        "value"
    )
    neither = {"serviceName": "svc-bad", "metricType": "latency"}
    error = assert_error(await post(s, neither), 422, "validation_error")
    assert error["details"][0]["field"] == "value"
    interval = {**neither, "value": 3, "intervalSeconds": 10}
    error = assert_error(await post(s, interval), 422, "validation_error")
    assert error["details"][0]["field"] == "intervalSeconds"
    stored = await s.client.get(
        s.api("/metrics"), params={"serviceName": "svc-bad"}, headers=s.auth("viewer")
    )
    assert stored.json()["data"] == []


async def test_p95_rule_fires_on_the_histogram_percentile_and_reports_say_so(
    s: LiveServer,
) -> None:
    rule = {
        "name": "p95 latency",
        "condition": {
            "metric": "latency",
            "operator": "gt",
            "threshold": 1,
            "unit": "s",
            "aggregation": "p95",
            "window": 120,
        },
        "action": {"type": "scale_up", "priority": "high"},
    }
    response = await s.client.post(s.api("/rules"), json=rule, headers=s.auth())
    assert response.status_code == 201, response.text
    # svc-means pushes only each interval's mean (245 ms): its p95 of means stays under 1 s
    means = [
        {"serviceName": "svc-means", "metricType": "latency", "value": 245.0, "timestamp": t}
        for t in (histogram_sample("x", age)["timestamp"] for age in (30, 20, 10))
    ]
    await s.push(*means, *(histogram_sample("svc-hist", age) for age in (30, 20, 10)))

    alerts = await s.client.get(s.api("/alerts"), headers=s.auth("viewer"))
    [alert] = alerts.json()["data"]
    assert alert["serviceName"] == "svc-hist"
    # rank 95 of 100 (and 285 of 300 later): halfway through the slow bucket (1000, 2500]
    assert alert["currentValue"] == pytest.approx(1750.0)
    assert alert["metadata"]["percentileBasis"] == "histogram"

    report = await s.client.post(
        s.api("/reports"), json={"serviceName": "svc-hist", "reportType": "daily"}, headers=s.auth()
    )
    assert report.status_code == 201, report.text
    summary = report.json()["data"]["summary"]
    assert summary["latencyPercentileBasis"] == "histogram"
    assert summary["latencyP95"] == pytest.approx(1750.0)
    # rank 150 of 300 lies among the 270 under 100 ms (the first bucket starts at 0)
    assert summary["latencyP50"] == pytest.approx(100.0 * 150 / 270)
    assert summary["averageLatency"] == pytest.approx(245.0)
    figures = summary["histograms"]["latency"]
    assert (figures["basis"], figures["samples"], figures["count"]) == ("histogram", 3, 300)

    # live views: a series fed only with histograms shows its newest interval's mean
    live = await s.client.get(
        s.api("/realtime"), params={"serviceName": "svc-hist"}, headers=s.auth("viewer")
    )
    assert live.json()["data"]["metrics"]["latency"] == pytest.approx(245.0)
    services = await s.client.get(s.api("/services"), headers=s.auth("viewer"))
    listed = {v["serviceName"]: v for v in services.json()["data"]}
    assert listed["svc-hist"]["latest"]["latency"]["value"] == pytest.approx(245.0)

    plain = await s.client.post(
        s.api("/reports"),
        json={"serviceName": "svc-means", "reportType": "daily"},
        headers=s.auth(),
    )
    summary = plain.json()["data"]["summary"]
    # (the same rule on svc-means: its p95 of pushed means never crossed 1 s, so no alert)
    assert (summary["latencyPercentileBasis"], summary["latencyP95"]) == ("samples", 245.0)
    assert summary["histograms"] == {}


def at(base: datetime, second: float, counts: list[int], total: float) -> dict[str, Any]:
    return {
        "serviceName": "svc-impact",
        "metricType": "latency",
        "histogram": {
            "bounds": [100, 500, 1000, 2500],
            "counts": counts,
            "sum": total,
            "count": 100,
        },
        "intervalSeconds": 10,
        "timestamp": (base + timedelta(seconds=second)).isoformat(),
    }


SLOW = ([90, 0, 0, 10, 0], 90 * 50.0 + 10 * 2000.0)  # p95 1750 ms
FAST = ([100, 0, 0, 0, 0], 100 * 50.0)  # p95 95 ms


@pytest.mark.settings(impact_settle_seconds=10, impact_window_seconds=30)
async def test_an_actions_impact_is_measured_on_the_histograms(s: LiveServer) -> None:
    rule = {
        "name": "p95 latency",
        "serviceName": "svc-impact",
        "condition": {
            "metric": "latency",
            "operator": "gt",
            "threshold": 1000,
            "aggregation": "p95",
            "window": 30,
            "duration": 20,
        },
        "action": {"type": "scale_up"},
    }
    response = await s.client.post(s.api("/rules"), json=rule, headers=s.auth())
    assert response.status_code == 201, response.text
    base = datetime.now(UTC) - timedelta(seconds=280)
    await s.push(*(at(base, t, *SLOW) for t in (-40, -30, -20)))  # pending at -40, fires at -20
    await s.push(*(at(base, t, *FAST) for t in (0, 10, 20, 30)))  # after: (-10, 20], then one

    response = await s.client.get(
        s.api("/actions"), params={"serviceName": "svc-impact"}, headers=s.auth("viewer")
    )
    [action] = response.json()["data"]
    assert action["type"] == "scale_up" and action["status"] == "executed"
    # the rule's own aggregate, p95 of the requests, before (-50, -20] and after (-10, 20]
    assert action["baseline"] == pytest.approx(1750.0)
    assert action["measuredValue"] == pytest.approx(95.0)
    assert action["outcome"] == "improved"
    assert action["measuredImpact"] == pytest.approx((1750 - 95) / 1750)


async def test_a_percentile_alert_over_values_says_samples(s: LiveServer) -> None:
    rule = {
        "name": "p95 on values",
        "serviceName": "svc-values",
        "condition": {
            "metric": "latency",
            "operator": "gt",
            "threshold": 1000,
            "aggregation": "p95",
        },
        "action": {"type": "cache_clear"},
    }
    assert (await s.client.post(s.api("/rules"), json=rule, headers=s.auth())).status_code == 201
    await s.push({"serviceName": "svc-values", "metricType": "latency", "value": 1500})
    [alert] = (await s.client.get(s.api("/alerts"), headers=s.auth("viewer"))).json()["data"]
    assert alert["metadata"]["percentileBasis"] == "samples"


async def test_a_restarted_engine_rebuilds_its_windows_from_stored_histograms(
    s: LiveServer,
) -> None:
    await s.push(*(histogram_sample("svc-restart", age) for age in (30, 20, 10)))
    await s.push(
        histogram_sample("svc-restart", 5)
        | {
            "histogram": {  # empty: not evaluated
                "bounds": BOUNDS_S,
                "counts": [0, 0, 0, 0, 0],
                "sum": 0.0,
                "count": 0,
            }
        }
    )
    core = EvaluationCore()  # what the engine builds on start, from the database alone
    core.upsert_rule(
        RuleSpec(
            rule_id="r1",
            name="p95",
            service_name="svc-restart",
            metric="latency",
            operator="gt",
            threshold=1000.0,
            aggregation="p95",
            window=120.0,
        )
    )
    now = datetime.now(UTC).timestamp()
    async with s.ctx.readers() as session:
        await load_windows(core, session, now=now, no_data_after=300.0, max_samples=1000)
    series = core.series("svc-restart", "latency")
    assert series is not None and series.histograms is not None
    assert len(series.histograms) == 3
    p95 = series_aggregate(series.window, series.histograms, "p95", span=120.0, now=now)
    assert p95 == pytest.approx(1750.0)
