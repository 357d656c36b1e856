"""Health for people and probes, and the Prometheus exposition, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from perfpilot import __version__
from perfpilot.core.config import API_PREFIX
from tests.conftest import LiveServer
from tests.envelope import assert_error


def exposition(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value_of(samples: list[Sample], name: str, **labels: str) -> float | None:
    for sample in samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return float(sample.value)
    return None


async def test_health_has_the_seed_shape_plus_version_and_uptime(live_server: LiveServer) -> None:
    s = live_server
    response = await s.client.get(s.api("/health"), headers=s.auth("viewer"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"]
    health = body["data"]
    assert set(health) >= {"status", "services", "lastCheck", "version", "uptime"}
    assert health["status"] == "healthy"
    assert health["services"] == {"database": True, "monitoring": True, "alerts": True}
    checked = datetime.fromisoformat(health["lastCheck"])
    assert checked.tzinfo is not None
    assert abs(datetime.now(UTC) - checked) < timedelta(seconds=30)
    assert health["version"] == __version__
    assert isinstance(health["uptime"], int | float) and health["uptime"] >= 0

    later = (await s.client.get(s.api("/health"), headers=s.auth("viewer"))).json()["data"]
    assert later["uptime"] >= health["uptime"]


async def test_health_needs_a_token_but_the_probes_do_not(live_server: LiveServer) -> None:
    s = live_server
    assert_error(await s.client.get(s.api("/health")), 401, "unauthorized")
    live = await s.client.get("/healthz")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = await s.client.get("/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")


async def test_prometheus_metrics_need_a_viewer_token_by_default(live_server: LiveServer) -> None:
    s = live_server
    denied = await s.client.get("/metrics")
    assert_error(denied, 401, "unauthorized")
    assert denied.headers["www-authenticate"].startswith("Bearer")
    forged = {"Authorization": "Bearer not.a.token"}
    assert_error(await s.client.get("/metrics", headers=forged), 401, "unauthorized")
    allowed = await s.client.get("/metrics", headers=s.auth("viewer"))
    assert allowed.status_code == 200
    assert allowed.headers["content-type"].startswith("text/plain")
    assert "perfpilot_http_requests_total" in allowed.text


@pytest.mark.settings(metrics_public=True)
async def test_prometheus_metrics_are_public_when_configured(live_server: LiveServer) -> None:
    s = live_server
    response = await s.client.get("/metrics")
    assert response.status_code == 200
    assert exposition(response.text)
    # only the scrape endpoint opens up; the API still needs a token
    assert_error(await s.client.get(s.api("/health")), 401, "unauthorized")


async def test_prometheus_shows_ingested_samples_latest_values_and_requests(
    live_server: LiveServer,
) -> None:
    s = live_server
    operator = s.auth("operator")
    now = datetime.now(UTC)
    batch = [
        {
            "serviceName": "svc-prom",
            "metricType": "latency",
            "value": value,
            "timestamp": (now - timedelta(seconds=age)).isoformat(),
        }
        for value, age in ((120, 30), (180, 20), (250, 10))
    ]
    created = await s.client.post(
        s.api("/metrics/batch"), json={"samples": batch}, headers=operator
    )
    assert created.status_code == 201, created.text
    # a late, older sample is counted but does not replace the latest value
    late = batch[0] | {"value": 999, "timestamp": (now - timedelta(minutes=5)).isoformat()}
    assert (await s.client.post(s.api("/metrics"), json=late, headers=operator)).status_code == 201
    seconds = {"serviceName": "svc-prom", "metricType": "latency", "value": 0.5, "unit": "s"}
    assert (
        await s.client.post(s.api("/metrics"), json=seconds, headers=operator)
    ).status_code == 201
    cpu = {"serviceName": "svc-prom", "metricType": "cpu", "value": 0.4, "unit": "ratio"}
    assert (await s.client.post(s.api("/metrics"), json=cpu, headers=operator)).status_code == 201
    rejected = await s.client.post(s.api("/metrics"), json=cpu | {"value": -1}, headers=operator)
    assert rejected.status_code == 422
    await s.client.get("/not-a-page-1")
    await s.client.get("/not-a-page-2")

    samples = exposition((await s.client.get("/metrics", headers=s.auth("viewer"))).text)
    ingested = "perfpilot_samples_ingested_total"
    assert value_of(samples, ingested, metric_type="latency") == 5
    assert value_of(samples, ingested, metric_type="cpu") == 1
    latest = "perfpilot_service_metric_value"
    # the newest sample by timestamp, in the canonical unit (0.5 s = 500 ms)
    assert value_of(samples, latest, service="svc-prom", metric_type="latency") == 500
    assert value_of(samples, latest, service="svc-prom", metric_type="cpu") == pytest.approx(40)

    route = f"{API_PREFIX}/metrics"
    requests = "perfpilot_http_requests_total"
    assert value_of(samples, requests, route=route, method="POST", status="201") == 3
    assert value_of(samples, requests, route=route, method="POST", status="422") == 1
    assert value_of(samples, requests, route=f"{route}/batch", method="POST", status="201") == 1
    duration = "perfpilot_http_request_duration_seconds_count"
    assert value_of(samples, duration, route=route, method="POST") == 4
    bucket = value_of(
        samples,
        "perfpilot_http_request_duration_seconds_bucket",
        route=route,
        method="POST",
        le="+Inf",
    )
    assert bucket == 4
    # unmatched paths share one label value: scanners cannot blow up the series count
    assert value_of(samples, requests, route="unmatched", method="GET", status="404") == 2
    assert not [x for x in samples if "not-a-page" in x.labels.get("route", "")]
    # the API's /metrics and the scrape endpoint are different series
    assert value_of(samples, requests, route="/metrics", method="POST") is None
