"""The loop end to end over HTTP: samples → alert → scale_up → state.changed delivered →
recovery → alert resolved → the action measured as improved, with its figure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from perfpilot.engine.windows import percentile_cont
from tests.conftest import LiveServer
from tests.webhook_receiver import WebhookReceiver

SERVICE = "ai-chat-service"
BAD = [6000.0, 6500.0, 7000.0, 6200.0, 6800.0, 7200.0]  # t0 .. t0+5
GOOD = 3000.0


def latency(base: datetime, second: float, value: float) -> dict[str, Any]:
    return {
        "serviceName": SERVICE,
        "metricType": "latency",
        "value": value,
        "timestamp": (base + timedelta(seconds=second)).isoformat(),
    }


async def get(s: LiveServer, path: str, **params: Any) -> Any:
    response = await s.client.get(s.api(path), params=params, headers=s.auth("viewer"))
    assert response.status_code == 200, response.text
    return response.json()["data"]


@pytest.mark.settings(impact_settle_seconds=10.0, impact_window_seconds=30.0)
async def test_scale_up_is_executed_delivered_and_measured_as_improved(
    live_server: LiveServer,
) -> None:
    s = live_server
    async with WebhookReceiver() as receiver:
        hook = await s.client.post(
            s.api("/webhooks"),
            json={
                "url": receiver.url,
                "events": ["state.changed", "action.executed"],
                "serviceName": SERVICE,
            },
            headers=s.auth(),
        )
        assert hook.status_code == 201, hook.text
        config = await s.client.put(
            s.api("/autoscaling/config"),
            params={"serviceName": SERVICE},
            json={"minInstances": 2, "maxInstances": 8, "enabled": False},
            headers=s.auth(),
        )
        assert config.status_code == 200, config.text
        rule = await s.client.post(
            s.api("/rules"),
            json={
                "name": "High p95 latency",
                "serviceName": SERVICE,
                "condition": {
                    "metric": "latency",
                    "operator": "gt",
                    "threshold": 5000,
                    "aggregation": "p95",
                    "window": 30,
                    "duration": 5,
                    "resolveThreshold": 4000,
                },
                "action": {
                    "type": "scale_up",
                    "parameters": {"instances": 2},
                    "priority": "high",
                    "cooldown": 120,
                },
            },
            headers=s.auth(),
        )
        assert rule.status_code == 201, rule.text

        t0 = datetime.now(UTC) - timedelta(seconds=240)
        await s.push(*(latency(t0, i, v) for i, v in enumerate(BAD)))
        [alert] = await get(s, "/alerts")
        assert alert["status"] == "active"
        [action] = await get(s, "/actions", serviceName=SERVICE)
        assert action["type"] == "scale_up"
        assert action["status"] == "executed"
        assert action["source"] == "rule"
        assert action["alertId"] == alert["id"]
        assert action["stateBefore"]["instances"] == 2
        assert action["stateAfter"]["instances"] == 4
        assert action["aggregation"] == "p95"
        assert action["baseline"] == pytest.approx(percentile_cont(sorted(BAD), 0.95))
        assert action["baselineSamples"] == 6
        assert action["outcome"] is None  # not measured yet

        service = await get(s, f"/services/{SERVICE}")
        assert service["state"]["instances"] == 4
        assert service["state"]["version"] == 2
        assert service["status"] == "critical"

        delivered = await receiver.wait_for(2)
        events = {r.header("x-perfpilot-event"): r.json() for r in delivered}
        assert events["state.changed"]["state"]["instances"] == 4
        assert events["state.changed"]["version"] == 2
        assert events["action.executed"]["action"]["id"] == action["id"]

        # the service recovers: the alert resolves, then the window after settle is measured
        await s.push(*(latency(t0, 6 + i, GOOD + i) for i in range(45)))
        [alert] = await get(s, "/alerts")
        assert alert["status"] == "resolved"
        assert alert["resolveReason"] == "recovered"
        [action] = await get(s, "/actions", serviceName=SERVICE)
        after = [GOOD + i for i in range(45) if 15 < 6 + i <= 45]  # (t+10, t+40], t = t0+5
        expected_after = percentile_cont(sorted(after), 0.95)
        expected_impact = -(expected_after - action["baseline"]) / action["baseline"]
        assert action["measuredSamples"] == len(after)
        assert action["measuredValue"] == pytest.approx(expected_after)
        assert action["measuredImpact"] == pytest.approx(expected_impact)
        assert action["outcome"] == "improved"
        assert (await get(s, f"/services/{SERVICE}"))["status"] == "healthy"
