"""Actions over HTTP: cooldown, repeats, scale-up wins, revert on resolve, skips with reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import LiveServer

SERVICE = "embed-service"


def sample(base: datetime, second: float, metric: str, value: float) -> dict[str, Any]:
    return {
        "serviceName": SERVICE,
        "metricType": metric,
        "value": value,
        "timestamp": (base + timedelta(seconds=second)).isoformat(),
    }


async def rule(s: LiveServer, name: str, condition: dict[str, Any], action: dict[str, Any]) -> str:
    response = await s.client.post(
        s.api("/rules"),
        json={"name": name, "serviceName": SERVICE, "condition": condition, "action": action},
        headers=s.auth(),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


async def actions(s: LiveServer, **params: Any) -> list[dict[str, Any]]:
    response = await s.client.get(
        s.api("/actions"), params={"serviceName": SERVICE} | params, headers=s.auth("viewer")
    )
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))  # oldest first


async def state(s: LiveServer) -> dict[str, Any]:
    response = await s.client.get(s.api(f"/services/{SERVICE}"), headers=s.auth("viewer"))
    assert response.status_code == 200, response.text
    return response.json()["data"]["state"]


def t0() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=280)


async def test_action_repeats_every_cooldown_while_active_and_stops_when_acknowledged(
    live_server: LiveServer,
) -> None:
    s = live_server
    await rule(
        s,
        "cpu hot",
        {"metric": "cpu", "operator": "gt", "threshold": 90},
        {"type": "scale_up", "parameters": {"instances": 1}, "cooldown": 30},
    )
    base = t0()
    for i in range(8):  # one push every 10 s of sample time: 0..70 s
        await s.push(sample(base, i * 10, "cpu", 95))
    rows = await actions(s)
    # fired at 0, repeated at 30 and 60 (cooldown 30 s): 2 → 3 → 4 → 5 instances
    assert [r["status"] for r in rows] == ["executed"] * 3
    assert [r["stateAfter"]["instances"] for r in rows] == [3, 4, 5]
    assert (await state(s))["instances"] == 5

    [alert] = (await s.client.get(s.api("/alerts"), headers=s.auth())).json()["data"]
    ack = await s.client.put(s.api(f"/alerts/{alert['id']}/acknowledge"), headers=s.auth())
    assert ack.status_code == 200
    await s.settle()
    for i in range(5):  # 80..120 s
        await s.push(sample(base, 80 + i * 10, "cpu", 95))
    assert len(await actions(s)) == 3  # acknowledged: no repeats


async def test_cooldown_skip_is_recorded_when_an_alert_refires_too_soon(
    live_server: LiveServer,
) -> None:
    s = live_server
    await rule(
        s,
        "cpu hot",
        {"metric": "cpu", "operator": "gt", "threshold": 90},
        {"type": "scale_up", "cooldown": 300},
    )
    base = t0()
    await s.push(
        sample(base, 0, "cpu", 95), sample(base, 5, "cpu", 10), sample(base, 10, "cpu", 95)
    )
    rows = await actions(s)
    assert [r["status"] for r in rows] == ["executed", "skipped"]
    assert rows[1]["reason"].startswith("cooldown")
    assert rows[1]["stateBefore"] == rows[1]["stateAfter"]
    assert (await state(s))["instances"] == 3


async def test_scale_up_wins_over_scale_down_in_one_evaluation(live_server: LiveServer) -> None:
    s = live_server
    await rule(
        s,
        "shrink when cheap",
        {"metric": "cpu", "operator": "lt", "threshold": 99},
        {"type": "scale_down"},
    )
    await rule(
        s,
        "grow when hot",
        {"metric": "cpu", "operator": "gt", "threshold": 50},
        {"type": "scale_up"},
    )
    await s.push(sample(t0(), 0, "cpu", 70))
    rows = await actions(s)
    by_type = {r["type"]: r for r in rows}
    assert by_type["scale_up"]["status"] == "executed"
    assert by_type["scale_down"]["status"] == "skipped"
    assert by_type["scale_down"]["reason"].startswith("scale_up_wins")
    assert (await state(s))["instances"] == 3


async def test_fallback_is_reverted_when_latency_recovers(live_server: LiveServer) -> None:
    s = live_server
    await rule(
        s,
        "slow model",
        {"metric": "latency", "operator": "gt", "threshold": 2000},
        {"type": "fallback", "parameters": {"models": ["small-fast"]}},
    )
    base = t0()
    await s.push(sample(base, 0, "latency", 2500))
    current = await state(s)
    assert current["fallbackActive"] is True
    assert current["fallbackModels"] == ["small-fast"]
    await s.push(sample(base, 5, "latency", 900))
    rows = await actions(s)
    assert [(r["status"], r["reason"]) for r in rows] == [
        ("executed", None),
        ("executed", "revert on resolve"),
    ]
    reverted = await state(s)
    assert reverted["fallbackActive"] is False
    assert reverted["version"] == 3


async def test_skips_say_why(live_server: LiveServer) -> None:
    s = live_server
    await s.client.put(
        s.api("/autoscaling/config"),
        params={"serviceName": SERVICE},
        json={"minInstances": 1, "maxInstances": 1},
        headers=s.auth(),
    )
    await rule(
        s, "grow", {"metric": "cpu", "operator": "gt", "threshold": 90}, {"type": "scale_up"}
    )
    await rule(
        s,
        "switch",
        {"metric": "latency", "operator": "gt", "threshold": 100},
        {"type": "model_switch", "parameters": {"model": "b", "fromModel": "a"}},
    )
    base = t0()
    await s.push(sample(base, 0, "cpu", 95), sample(base, 0, "latency", 500))
    reasons = {r["type"]: (r["status"], r["reason"]) for r in await actions(s)}
    assert reasons["scale_up"] == ("skipped", "at max instances (1)")
    assert reasons["model_switch"] == ("skipped", "current model is None, not 'a'")


@pytest.mark.settings(actions_dry_run=True)
async def test_dry_run_mode_records_without_changing_state(live_server: LiveServer) -> None:
    s = live_server
    await rule(
        s, "grow", {"metric": "cpu", "operator": "gt", "threshold": 90}, {"type": "scale_up"}
    )
    await s.push(sample(t0(), 0, "cpu", 95))
    [row] = await actions(s)
    assert row["status"] == "dry_run"
    assert row["stateAfter"]["instances"] == 3
    current = await state(s)
    assert current["instances"] == 2
    assert current["version"] == 1


async def test_actions_filters_and_unknown_ids(live_server: LiveServer) -> None:
    s = live_server
    await rule(
        s, "grow", {"metric": "cpu", "operator": "gt", "threshold": 90}, {"type": "scale_up"}
    )
    await s.push(sample(t0(), 0, "cpu", 95))
    assert len(await actions(s, type="scale_up", source="rule", status="executed")) == 1
    assert await actions(s, type="fallback") == []
    assert await actions(s, status="skipped") == []
    r = await s.client.get(s.api("/actions"), params={"status": "bogus"}, headers=s.auth())
    assert r.status_code == 422
    missing = "00000000-0000-4000-8000-000000000000"
    r = await s.client.get(s.api(f"/actions/{missing}"), headers=s.auth())
    assert r.status_code == 404
    r = await s.client.get(s.api("/services/never-seen"), headers=s.auth())
    assert r.status_code == 404
