"""Root /metrics stays bounded however many services report: at most
PERFPILOT_EXPOSITION_MAX_SERIES latest-value series, and none for a service silent past the
no-data horizon, while the API still knows every service from the store."""

from __future__ import annotations

import time

import pytest

from tests.conftest import LiveServer

SERVICES = 300


def latest_series(exposition: str) -> dict[str, float]:
    """service -> value of perfpilot_service_metric_value{metric_type="latency"}."""
    out = {}
    for line in exposition.splitlines():
        if line.startswith("perfpilot_service_metric_value{"):
            labels, _, value = line.rpartition(" ")
            service = labels.split('service="', 1)[1].split('"', 1)[0]
            out[service] = float(value)
    return out


@pytest.mark.settings(exposition_max_series=50)
async def test_exposition_keeps_the_newest_series_and_drops_silent_ones(
    live_server: LiveServer,
) -> None:
    s = live_server
    for start in range(0, SERVICES, 100):  # three commits: the last 100 are the newest
        await s.push(
            *[
                {"serviceName": f"svc-{i:03d}", "metricType": "latency", "value": i}
                for i in range(start, start + 100)
            ]
        )
    response = await s.client.get("/metrics", headers=s.auth("viewer"))
    assert response.status_code == 200
    exported = latest_series(response.text)
    assert len(exported) == 50
    assert set(exported) <= {f"svc-{i:03d}" for i in range(200, SERVICES)}
    assert all(value == int(name[4:]) for name, value in exported.items())

    # every service has been silent for longer than the horizon (300 s): none is exported
    horizon = s.ctx.settings.no_data_after_seconds
    s.ctx.telemetry.latest.clock = lambda: time.monotonic() + horizon + 1
    response = await s.client.get("/metrics", headers=s.auth("viewer"))
    assert latest_series(response.text) == {}
    assert 'perfpilot_service_series_evicted_total{reason="silent"} 50.0' in response.text

    # the API reads the store, not this table: every service is still listed and readable
    listed = await s.client.get(s.api("/services"), params={"limit": 1000}, headers=s.auth())
    assert [i["serviceName"] for i in listed.json()["data"]] == [
        f"svc-{i:03d}" for i in range(SERVICES)
    ]
    one = await s.client.get(s.api("/services/svc-007"), headers=s.auth())
    assert one.status_code == 200, one.text
    assert one.json()["data"]["latest"]["latency"]["value"] == 7.0
