"""Impact honesty over HTTP, with the real engine driven by sample time and explicit ticks:
a correct scale-down is a success of its own (capacity_saved), a revert is measured, and
actions inside one measurement window say so and are counted once (DESIGN §4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import LiveServer

SERVICE = "impact-service"
SETTLE, WINDOW = 10.0, 30.0
pytestmark = pytest.mark.settings(impact_settle_seconds=SETTLE, impact_window_seconds=WINDOW)


def sample(base: datetime, second: float, metric: str, value: float) -> dict[str, Any]:
    return {
        "serviceName": SERVICE,
        "metricType": metric,
        "value": value,
        "timestamp": (base + timedelta(seconds=second)).isoformat(),
    }


async def series(
    s: LiveServer, base: datetime, metric: str, start: int, stop: int, value: float
) -> None:
    await s.push(*(sample(base, t, metric, value) for t in range(start, stop, 5)))


async def actions(s: LiveServer, **params: Any) -> list[dict[str, Any]]:
    response = await s.client.get(
        s.api("/actions"), params={"serviceName": SERVICE} | params, headers=s.auth("viewer")
    )
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))  # oldest first


async def rule(s: LiveServer, condition: dict[str, Any], action: dict[str, Any]) -> None:
    body = {"name": f"{action['type']} rule", "serviceName": SERVICE}
    response = await s.client.post(
        s.api("/rules"), json=body | {"condition": condition, "action": action}, headers=s.auth()
    )
    assert response.status_code == 201, response.text


async def stats(s: LiveServer) -> dict[str, Any]:
    response = await s.client.get(s.api("/stats"), headers=s.auth("viewer"))
    assert response.status_code == 200, response.text
    return dict(response.json()["data"]["optimizations"])


async def report_optimizations(s: LiveServer) -> dict[str, dict[str, Any]]:
    response = await s.client.post(
        s.api("/reports"), json={"serviceName": SERVICE, "reportType": "daily"}, headers=s.auth()
    )
    assert response.status_code == 201, response.text
    return {o["type"]: o for o in response.json()["data"]["optimizations"]}


def ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


async def test_the_autoscalers_correct_scale_down_is_recorded_as_capacity_saved(
    live_server: LiveServer,
) -> None:
    s = live_server
    r = await s.client.put(
        s.api("/autoscaling/config"),
        json={
            "targetUtilization": 60,
            "scaleUpThreshold": 80,
            "scaleDownThreshold": 30,
            "cooldownPeriod": 60,
        },
        headers=s.auth(),
    )
    assert r.status_code == 200, r.text
    base = datetime.now(UTC) - timedelta(seconds=290)

    async def tick(at: int) -> None:
        s.runner.tick_now((base + timedelta(seconds=at)).timestamp())
        await s.settle()

    await series(s, base, "cpu", 0, 55, 95)
    await tick(55)  # ceil(2 x 95 / 60) = 4 instances
    await series(s, base, "cpu", 60, 160, 20)
    await tick(160)  # ceil(4 x 20 / 60) = 2: the scale-down, cpu 20 % on 4 instances
    await series(s, base, "cpu", 160, 215, 40)  # the same load on 2 instances: 40 %
    await tick(215)  # 40 % is inside [30, 80]: no further action

    up, down = await actions(s, source="autoscaler")
    assert (up["type"], up["outcome"]) == ("scale_up", "improved")
    assert (down["type"], down["stateBefore"]["instances"], down["stateAfter"]["instances"]) == (
        "scale_down",
        4,
        2,
    )
    # before: measured by cpu's direction, 20 -> 40 was "worsened" (-100 %)
    assert down["outcome"] == "capacity_saved"
    assert (down["baseline"], down["measuredValue"], down["measuredSamples"]) == (20.0, 40.0, 6)
    assert down["measuredImpact"] is None  # not claimed as an improvement of cpu
    assert down["guard"] == {
        "metric": "cpu",
        "operator": "lte",
        "limit": 80.0,
        "basis": "autoscaler scaleUpThreshold",
        "target": 60.0,
        "measured": 40.0,
        "held": True,
    }
    assert "within guard cpu <= 80" in down["measurementNote"]
    assert "4 -> 2 instances" in down["measurementNote"]
    assert (down["overlapsWith"], down["credited"]) == ([], True)
    assert [a["id"] for a in await actions(s, outcome="capacity_saved")] == [down["id"]]
    # the scale-up's window (55-95 s) ended before the scale-down: no overlap
    assert up["guard"] is None and up["overlapsWith"] == []

    # a success in /stats, not a failure, and not averaged as a cpu improvement
    assert await stats(s) == {
        "total": 2,
        "successful": 2,
        "failed": 0,
        "averageImprovement": pytest.approx(up["measuredImpact"]),
    }
    scale_down = (await report_optimizations(s))["scale_down"]
    assert {k: scale_down[k] for k in ("executed", "capacitySaved", "worsened", "measured")} == {
        "executed": 1,
        "capacitySaved": 1,
        "worsened": 0,
        "measured": 0,
    }
    assert scale_down["impact"] is None


async def test_a_fallbacks_revert_is_measured_not_left_pending(live_server: LiveServer) -> None:
    s = live_server
    await rule(
        s,
        {"metric": "latency", "operator": "gt", "threshold": 2000},
        {"type": "fallback", "parameters": {"models": ["small-fast"]}, "revertOnResolve": True},
    )
    base = datetime.now(UTC) - timedelta(seconds=280)
    await series(s, base, "latency", -30, 0, 1900)  # -30, -25, ... -5: below the threshold
    await s.push(sample(base, 0, "latency", 2500))  # fires: the fallback
    await s.push(sample(base, 5, "latency", 900))  # resolves: the revert
    fallback, revert = await actions(s)
    assert revert["parameters"] == {"revertOf": fallback["id"]}
    assert revert["stateAfter"]["fallbackActive"] is False
    # before: measureDueAt null and outcome null for good
    assert ts(revert["measureDueAt"]) == pytest.approx(ts(revert["executedAt"]) + SETTLE + WINDOW)
    assert revert["outcome"] is None

    await series(s, base, "latency", 10, 65, 900)
    fallback, revert = await actions(s)
    assert (revert["metricType"], revert["aggregation"]) == ("latency", "last")
    assert (revert["baseline"], revert["measuredValue"]) == (900.0, 900.0)
    assert revert["outcome"] == "no_change"
    assert revert["measurementNote"].startswith(f"revert of {fallback['id']}: latency 900 -> 900")
    assert fallback["outcome"] == "improved"  # 2500 -> 900
    # the revert executed 5 s into the fallback's window: the two say so, and the fallback
    # (executed first) carries the group's measurement
    assert revert["overlapsWith"] == [fallback["id"]]
    assert fallback["overlapsWith"] == [revert["id"]]
    assert (fallback["credited"], revert["credited"]) == (True, False)
    fallbacks = (await report_optimizations(s))["fallback"]
    assert {k: fallbacks[k] for k in ("executed", "improved", "noChange", "overlapped")} == {
        "executed": 2,
        "improved": 1,
        "noChange": 0,
        "overlapped": 1,
    }
    assert fallbacks["pending"] == 0


async def test_skips_say_why_they_are_not_measured(live_server: LiveServer) -> None:
    s = live_server
    await rule(
        s,
        {"metric": "cpu", "operator": "gt", "threshold": 90},
        {"type": "scale_up", "cooldown": 300},
    )
    base = datetime.now(UTC) - timedelta(seconds=280)
    await s.push(
        sample(base, 0, "cpu", 95), sample(base, 5, "cpu", 10), sample(base, 10, "cpu", 95)
    )
    executed, skipped = await actions(s)
    assert (skipped["status"], skipped["outcome"]) == ("skipped", "unmeasured")
    assert skipped["measurementNote"] == "skipped actions are not measured"
    assert (executed["outcome"], executed["measurementNote"]) == (None, None)  # pending
    assert executed["measureDueAt"] is not None


async def test_two_actions_in_one_window_overlap_and_are_counted_once(
    live_server: LiveServer,
) -> None:
    s = live_server
    await rule(s, {"metric": "cpu", "operator": "gt", "threshold": 90}, {"type": "scale_up"})
    await rule(
        s, {"metric": "latency", "operator": "gt", "threshold": 2000}, {"type": "cache_clear"}
    )
    base = datetime.now(UTC) - timedelta(seconds=280)
    await s.push(
        sample(base, -40, "cpu", 80),
        sample(base, -20, "cpu", 80),
        sample(base, -40, "latency", 1500),
        sample(base, -20, "latency", 1500),
    )
    await s.push(sample(base, 0, "cpu", 95))  # scale_up at 0 s
    await s.push(sample(base, 5, "latency", 2500))  # cache_clear at 5 s, inside 0-40 s
    await series(s, base, "cpu", 10, 65, 50)
    await series(s, base, "latency", 10, 65, 1000)

    scale_up, clear = await actions(s, status="executed")
    assert (scale_up["type"], clear["type"]) == ("scale_up", "cache_clear")
    # each measured on its own metric, and each saw an improvement
    assert scale_up["outcome"] == clear["outcome"] == "improved"
    assert scale_up["measuredImpact"] == pytest.approx((95 - 50) / 95)
    assert clear["measuredImpact"] == pytest.approx((2500 - 1000) / 2500)
    assert scale_up["overlapsWith"] == [clear["id"]]
    assert clear["overlapsWith"] == [scale_up["id"]]
    assert (scale_up["credited"], clear["credited"]) == (True, False)

    # counted once: the group's credit goes to the first action
    assert await stats(s) == {
        "total": 2,
        "successful": 1,
        "failed": 0,
        "averageImprovement": pytest.approx(scale_up["measuredImpact"]),
    }
    by_type = await report_optimizations(s)
    assert {k: by_type["scale_up"][k] for k in ("executed", "improved", "overlapped")} == {
        "executed": 1,
        "improved": 1,
        "overlapped": 0,
    }
    assert by_type["scale_up"]["impact"] == pytest.approx(scale_up["measuredImpact"])
    cache = by_type["cache_clear"]
    assert {k: cache[k] for k in ("executed", "improved", "overlapped", "measured")} == {
        "executed": 1,
        "improved": 0,
        "overlapped": 1,
        "measured": 0,
    }
    assert cache["impact"] is None
    assert sum(o["improved"] for o in by_type.values()) == 1


async def test_a_rules_scale_down_is_judged_by_its_resolve_threshold(
    live_server: LiveServer,
) -> None:
    s = live_server
    await rule(
        s,
        {"metric": "cpu", "operator": "gt", "threshold": 90},
        {"type": "scale_up", "parameters": {"instances": 2}},
    )
    await rule(
        s,
        {"metric": "cpu", "operator": "lt", "threshold": 30, "resolveThreshold": 45},
        {"type": "scale_down"},
    )
    base = datetime.now(UTC) - timedelta(seconds=280)
    await series(s, base, "cpu", -20, 0, 85)
    await s.push(sample(base, 0, "cpu", 95))  # scale_up: 2 -> 4 instances
    await series(s, base, "cpu", 5, 60, 50)
    await s.push(sample(base, 60, "cpu", 20))  # idle: scale_down 4 -> 3, outside 0-40 s
    await series(s, base, "cpu", 65, 125, 26.5)  # 20 % x 4 / 3: still under 45
    _, down = await actions(s, status="executed")
    assert (down["type"], down["stateAfter"]["instances"]) == ("scale_down", 3)
    assert down["outcome"] == "capacity_saved"
    assert down["guard"] == {
        "metric": "cpu",
        "operator": "lt",
        "limit": 45.0,
        "basis": "rule resolveThreshold",
        "target": None,
        "measured": 26.5,
        "held": True,
    }
    assert (down["overlapsWith"], down["credited"]) == ([], True)
