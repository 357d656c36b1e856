"""POST /rules/backtest: the engine core replayed over stored samples, nothing stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import LiveServer
from tests.envelope import assert_error

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def at(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


RULE = {
    "name": "slow",
    "serviceName": "chat",
    "condition": {"metric": "latency", "operator": "gt", "threshold": 1000, "duration": 20},
    "action": {"type": "scale_up", "cooldown": 30},
}


async def test_backtest_reports_pending_firing_and_actions(live_server: LiveServer) -> None:
    s = live_server
    values = [100] * 10 + [2000] * 10 + [100] * 10  # one sample each 10 s: a 100 s spike
    await s.push(
        *(
            {"serviceName": "chat", "metricType": "latency", "value": v, "timestamp": at(i * 10)}
            for i, v in enumerate(values)
        )
    )
    response = await s.client.post(
        s.api("/rules/backtest"),
        json={"rule": RULE, "since": at(-1), "until": at(300)},
        headers=s.auth("viewer"),
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["samples"] == 30
    spans = [(i["state"], i["start"], i["end"], i["endedBy"]) for i in data["intervals"]]
    assert spans == [
        ("pending", at(100), at(120), "fired"),
        ("firing", at(120), at(200), "recovered"),
    ]
    assert data["fired"] == 1 and data["resolved"] == 1
    # fired at 120 s, repeated every 30 s while the condition held (150, 180)
    assert [a["at"] for a in data["actions"]] == [at(120), at(150), at(180)]
    assert data["actionCount"] == 3
    # read-only: no rule, no alert, no action stored
    for path in ("/rules", "/alerts", "/actions"):
        listed = await s.client.get(s.api(path), headers=s.auth())
        assert listed.json()["count"] == 0, path


async def test_invalid_rule_and_long_period_are_422(live_server: LiveServer) -> None:
    s = live_server
    bad = {**RULE, "condition": {"metric": "latency", "operator": "gt"}}
    response = await s.client.post(
        s.api("/rules/backtest"), json={"rule": bad}, headers=s.auth("viewer")
    )
    fields = [d["field"] for d in assert_error(response, 422, "validation_error")["details"]]
    assert "rule.condition.threshold" in fields
    response = await s.client.post(
        s.api("/rules/backtest"),
        json={"rule": RULE, "since": at(-8 * 86400), "until": at(0)},
        headers=s.auth("viewer"),
    )
    assert assert_error(response, 422, "validation_error")["details"][0]["field"] == "since"
