"""The `anomalous` operator over HTTP on a real database: learning shown in the rule's GET,
no alert on noise, an alert on a real shift; validation names the field."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from perfpilot.forecast.anomaly import AnomalyBands
from tests.conftest import LiveServer

SERVICE = "anomaly-chat"
RULE = {
    "name": "Unusual latency",
    "serviceName": SERVICE,
    "condition": {
        "metric": "latency",
        "operator": "anomalous",
        "sensitivity": "medium",
        "direction": "up",
        "aggregation": "avg",
        "window": 10,
        "duration": 30,
    },
    "action": {"type": "cache_clear", "priority": "low"},
}


def samples(base: datetime, start: int, stop: int, rng: random.Random, shift: float = 0.0):  # type: ignore[no-untyped-def]
    """One latency sample every 10 s: 200 ms ± 15 (Gaussian) + shift."""
    return [
        {
            "serviceName": SERVICE,
            "metricType": "latency",
            "value": 200.0 + shift + rng.gauss(0, 15),
            "timestamp": (base + timedelta(seconds=t)).isoformat(),
        }
        for t in range(start, stop, 10)
    ]


async def rule_status(s: LiveServer, rule_id: str) -> dict[str, Any]:
    r = await s.client.get(s.api(f"/rules/{rule_id}"), headers=s.auth("viewer"))
    assert r.status_code == 200, r.text
    return dict(r.json()["data"]["anomaly"])


async def alerts(s: LiveServer) -> list[dict[str, Any]]:
    r = await s.client.get(s.api("/alerts"), params={"serviceName": SERVICE}, headers=s.auth())
    return list(r.json()["data"])


@pytest.mark.settings(anomaly_refresh_seconds=3600.0)  # the test refreshes the bands itself
async def test_learning_then_quiet_on_noise_then_fires_on_a_shift(live_server: LiveServer) -> None:
    s = live_server
    bands = s.ctx.loops["anomaly"]
    assert isinstance(bands, AnomalyBands)
    created = await s.client.post(s.api("/rules"), json=RULE, headers=s.auth())
    assert created.status_code == 201, created.text
    rule = created.json()["data"]
    assert rule["condition"]["operator"] == "anomalous"
    assert (rule["condition"]["sensitivity"], rule["condition"]["direction"]) == ("medium", "up")
    assert rule["anomaly"]["status"] == "learning"  # nothing fitted yet
    rng = random.Random(7)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)

    await s.push(*samples(base, 0, 200, rng))
    await bands.refresh()
    status = await rule_status(s, rule["id"])
    assert status["status"] == "learning"
    [pair] = status["services"]
    assert (pair["state"], pair["historyWindows"], pair["neededWindows"]) == ("learning", 20, 60)
    assert "20 of the 60 windows" in pair["message"]

    await s.push(*samples(base, 200, 3600, rng))
    assert await bands.refresh() == 1
    status = await rule_status(s, rule["id"])
    [pair] = status["services"]
    assert status["status"] == "ready" and pair["state"] == "ready"
    assert pair["level"] == 0.95 and pair["model"].startswith("ETS")
    assert pair["historyWindows"] == 360 and pair["holdoutMape"] < 0.1

    # five more minutes of the same noise: the band holds it, no alert
    await s.push(*samples(base, 3600, 3890, rng))
    assert await alerts(s) == []

    # a real shift (+90 ms, six standard deviations) fires after its 30 s
    await s.push(*samples(base, 3890, 3960, rng, shift=90.0))
    [alert] = await alerts(s)
    assert alert["ruleId"] == rule["id"] and alert["status"] == "active"
    fired = datetime.fromisoformat(alert["triggeredAt"].replace("Z", "+00:00"))
    assert 30 <= (fired - base).total_seconds() - 3890 <= 60


async def test_anomalous_validation_names_the_field(live_server: LiveServer) -> None:
    s = live_server
    cases = [
        ({"operator": "anomalous", "threshold": 5}, "condition.threshold"),
        ({"operator": "gt", "threshold": 5, "sensitivity": "low"}, "condition.sensitivity"),
        ({"operator": "gt"}, "condition.threshold"),
        ({"operator": "anomalous", "sensitivity": "extreme"}, "condition.sensitivity"),
        ({"operator": "anomalous", "direction": "sideways"}, "condition.direction"),
        ({"operator": "anomalous", "groupBy": ["model"]}, "condition"),
    ]
    for condition, field in cases:
        body = RULE | {"condition": {"metric": "latency"} | condition}
        r = await s.client.post(s.api("/rules"), json=body, headers=s.auth())
        assert r.status_code == 422, (condition, r.text)
        fields = [d["field"] for d in r.json()["error"]["details"]]
        assert field in fields, (condition, fields)
