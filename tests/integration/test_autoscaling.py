"""Autoscaling over HTTP: configuration and the HPA loop driven by explicit ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import LiveServer

SERVICE = "llm-gateway"


async def put_config(s: LiveServer, body: dict[str, Any], service: str | None = None) -> Any:
    params = {"serviceName": service} if service else {}
    return await s.client.put(
        s.api("/autoscaling/config"), params=params, json=body, headers=s.auth()
    )


async def test_seed_defaults_overrides_and_validation(live_server: LiveServer) -> None:
    s = live_server
    got = await s.client.get(s.api("/autoscaling/config"), headers=s.auth("viewer"))
    assert got.status_code == 200
    assert got.json()["message"] == "Auto-scaling configuration retrieved successfully"
    data = got.json()["data"]
    assert {
        k: data[k]
        for k in (
            "minInstances",
            "maxInstances",
            "targetUtilization",
            "scaleUpThreshold",
            "scaleDownThreshold",
            "cooldownPeriod",
        )
    } == {
        "minInstances": 2,
        "maxInstances": 10,
        "targetUtilization": 70,
        "scaleUpThreshold": 80,
        "scaleDownThreshold": 30,
        "cooldownPeriod": 300,
    }
    assert data["enabled"] is True and data["metric"] == "cpu"

    r = await put_config(s, {"maxInstances": 20, "cooldownPeriod": 120})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["maxInstances"] == 20
    inherited = await s.client.get(
        s.api("/autoscaling/config"), params={"serviceName": SERVICE}, headers=s.auth()
    )
    assert inherited.json()["data"]["inherited"] is True
    assert inherited.json()["data"]["maxInstances"] == 20
    own = await put_config(s, {"minInstances": 3}, service=SERVICE)
    assert own.json()["data"] | {"updatedAt": None} == inherited.json()["data"] | {
        "minInstances": 3,
        "inherited": False,
        "updatedAt": None,
    }
    unchanged = await s.client.get(s.api("/autoscaling/config"), headers=s.auth())
    assert unchanged.json()["data"]["minInstances"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"minInstances": 11}, "minInstances"),
        ({"minInstances": 0}, "minInstances"),
        ({"scaleDownThreshold": 75}, "scaleDownThreshold"),
        ({"targetUtilization": 90}, "targetUtilization"),
        ({"cooldownPeriod": -1}, "cooldownPeriod"),
        ({"metric": "speed"}, "metric"),
    ],
)
async def test_invalid_configuration_is_rejected(
    live_server: LiveServer, body: dict[str, Any], field: str
) -> None:
    s = live_server
    r = await put_config(s, body)
    assert r.status_code == 422, r.text
    assert field in {d["field"] for d in r.json()["error"]["details"]}
    after = await s.client.get(s.api("/autoscaling/config"), headers=s.auth())
    assert after.json()["data"]["maxInstances"] == 10  # nothing stored


async def test_only_admins_change_autoscaling(live_server: LiveServer) -> None:
    s = live_server
    r = await s.client.put(
        s.api("/autoscaling/config"), json={"maxInstances": 5}, headers=s.auth("operator")
    )
    assert r.status_code == 403


async def test_hpa_scales_up_at_once_and_down_only_after_the_window(
    live_server: LiveServer,
) -> None:
    s = live_server
    r = await put_config(
        s,
        {
            "targetUtilization": 60,
            "scaleUpThreshold": 80,
            "scaleDownThreshold": 30,
            "cooldownPeriod": 60,
        },
    )
    assert r.status_code == 200, r.text
    base = datetime.now(UTC) - timedelta(seconds=290)

    async def cpu(start: int, stop: int, value: float) -> None:
        await s.push(
            *(
                {
                    "serviceName": SERVICE,
                    "metricType": "cpu",
                    "value": value,
                    "timestamp": (base + timedelta(seconds=t)).isoformat(),
                }
                for t in range(start, stop, 5)
            )
        )

    async def tick(at: int) -> list[dict[str, Any]]:
        s.runner.tick_now((base + timedelta(seconds=at)).timestamp())
        await s.settle()
        r = await s.client.get(s.api("/actions"), params={"source": "autoscaler"}, headers=s.auth())
        return list(reversed(r.json()["data"]))

    await cpu(0, 55, 95)
    [up] = await tick(55)
    # ceil(2 x 95 / 60) = 4: scale-up acts at once
    assert (up["type"], up["status"], up["stateAfter"]["instances"]) == ("scale_up", "executed", 4)
    assert "HPA recommends 4" in up["reason"]

    await cpu(60, 115, 20)
    assert len(await tick(115)) == 1  # recommends 2, but 4 was recommended within 60 s
    await cpu(115, 180, 20)
    actions = await tick(180)
    down = actions[-1]
    assert (down["type"], down["status"], down["stateAfter"]["instances"]) == (
        "scale_down",
        "executed",
        2,
    )
    service = await s.client.get(s.api(f"/services/{SERVICE}"), headers=s.auth())
    assert service.json()["data"]["state"]["instances"] == 2


async def test_a_tick_that_scales_many_services_scales_each_once(live_server: LiveServer) -> None:
    # the tick's proposals run a few per engine step (actions/coordinator.py): none is lost,
    # none runs twice, and the engine ends idle with nothing deferred
    s = live_server
    base = datetime.now(UTC) - timedelta(seconds=60)
    services = [f"busy-{i}" for i in range(7)]
    await s.push(
        *(
            {
                "serviceName": service,
                "metricType": "cpu",
                "value": 95,
                "timestamp": (base + timedelta(seconds=t)).isoformat(),
            }
            for service in services
            for t in range(0, 50, 5)
        )
    )
    s.runner.tick_now((base + timedelta(seconds=55)).timestamp())
    await s.settle()
    r = await s.client.get(
        s.api("/actions"), params={"source": "autoscaler", "limit": 100}, headers=s.auth()
    )
    actions = r.json()["data"]
    assert sorted(a["serviceName"] for a in actions) == services
    assert {(a["type"], a["status"], a["stateAfter"]["instances"]) for a in actions} == {
        ("scale_up", "executed", 3)  # ceil(2 x 95 / 70)
    }
    assert s.runner.actions is not None and s.runner.actions.deferred_proposals == 0
