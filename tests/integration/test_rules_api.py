"""Rules over HTTP: defaults, validation per action type, filters, partial update, delete."""

from __future__ import annotations

import pytest

from tests.conftest import LiveServer

SEED_RULE = {
    "name": "High Latency Rule",
    "description": "Alert when latency exceeds 5 seconds",
    "condition": {"metric": "latency", "operator": "gt", "threshold": 5000, "duration": 60},
    "action": {"type": "scale_up", "parameters": {"instances": 2}, "priority": "high"},
    "isActive": True,
}


async def create(s: LiveServer, body: dict, role: str = "admin") -> dict:
    response = await s.client.post(s.api("/rules"), json=body, headers=s.auth(role))
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_seed_rule_is_created_with_every_default(live_server: LiveServer) -> None:
    s = live_server
    response = await s.client.post(s.api("/rules"), json=SEED_RULE, headers=s.auth())
    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "Optimization rule created successfully"
    rule = body["data"]
    assert rule["name"] == "High Latency Rule"
    assert rule["description"] == "Alert when latency exceeds 5 seconds"
    assert rule["serviceName"] is None
    assert rule["isActive"] is True
    assert rule["condition"] == {
        "metric": "latency",
        "operator": "gt",
        "threshold": 5000.0,
        "unit": "ms",
        "duration": 60.0,
        "aggregation": "last",
        "window": 60.0,
        "resolveThreshold": 5000.0,
        "keepFiringFor": 0.0,
        "noData": "keep",
        "matchers": [],
        "groupBy": [],
    }
    assert rule["action"] == {
        "type": "scale_up",
        "parameters": {"instances": 2},
        "priority": "high",
        "cooldown": 300.0,
        "revertOnResolve": False,
    }
    assert rule["createdAt"] == rule["updatedAt"]
    fetched = await s.client.get(s.api(f"/rules/{rule['id']}"), headers=s.auth("viewer"))
    assert fetched.json()["data"] == rule


async def test_minimal_rule_and_type_defaults(live_server: LiveServer) -> None:
    s = live_server
    rule = await create(
        s,
        {
            "name": "fallback on errors",
            "condition": {
                "metric": "error_rate",
                "operator": "gte",
                "threshold": 5,
                "unit": "percent",
            },
            "action": {"type": "fallback", "parameters": {"model": "small-model"}},
        },
    )
    assert rule["condition"]["threshold"] == pytest.approx(0.05)
    assert rule["condition"]["unit"] == "ratio"
    assert rule["action"]["parameters"] == {"models": ["small-model"]}
    assert rule["action"]["priority"] == "medium"
    assert rule["action"]["revertOnResolve"] is True
    scale = await create(
        s,
        {
            "name": "s",
            "condition": {"metric": "cpu", "operator": "gt", "threshold": 80},
            "action": {"type": "scale_up"},
        },
    )
    assert scale["action"]["parameters"] == {"instances": 1}
    retry = await create(
        s,
        {
            "name": "r",
            "condition": {"metric": "error_rate", "operator": "gt", "threshold": 0.1},
            "action": {"type": "retry", "parameters": {"maxRetries": 3}},
        },
    )
    assert retry["action"]["parameters"] == {"maxRetries": 3, "backoffMs": 200}


@pytest.mark.parametrize(
    ("action", "field"),
    [
        ({"type": "scale_up", "parameters": {"instances": 0}}, "action.parameters.instances"),
        ({"type": "scale_up", "parameters": {"replicas": 2}}, "action.parameters.replicas"),
        ({"type": "retry", "parameters": {}}, "action.parameters.maxRetries"),
        ({"type": "retry", "parameters": {"maxRetries": 11}}, "action.parameters.maxRetries"),
        (
            {"type": "retry", "parameters": {"maxRetries": 1, "backoffMs": 60001}},
            "action.parameters.backoffMs",
        ),
        ({"type": "model_switch", "parameters": {}}, "action.parameters.model"),
        (
            {"type": "fallback", "parameters": {"models": ["a", "b", "c", "d", "e", "f"]}},
            "action.parameters.models",
        ),
        ({"type": "fallback", "parameters": {}}, "action.parameters"),
        ({"type": "teleport"}, "action.type"),
        ({"type": "scale_up", "priority": "urgent"}, "action.priority"),
        ({"type": "scale_up", "cooldown": -1}, "action.cooldown"),
    ],
)
async def test_action_parameters_are_validated_per_type(
    live_server: LiveServer, action: dict, field: str
) -> None:
    s = live_server
    body = {
        "name": "x",
        "condition": {"metric": "latency", "operator": "gt", "threshold": 1},
        "action": action,
    }
    response = await s.client.post(s.api("/rules"), json=body, headers=s.auth())
    assert response.status_code == 422, response.text
    assert field in {d["field"] for d in response.json()["error"]["details"]}
    listed = await s.client.get(s.api("/rules"), headers=s.auth())
    assert listed.json()["count"] == 0


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        ({"metric": "latency", "operator": "gt"}, "condition.threshold"),
        ({"metric": "latency", "operator": "between", "threshold": 1}, "condition.operator"),
        ({"metric": "speed", "operator": "gt", "threshold": 1}, "condition.metric"),
        ({"metric": "latency", "operator": "gt", "threshold": 1, "unit": "h"}, "condition.unit"),
        (
            {"metric": "latency", "operator": "gt", "threshold": 5000, "resolveThreshold": 6000},
            "condition.resolveThreshold",
        ),
        ({"metric": "latency", "operator": "gt", "threshold": 1, "window": 0}, "condition.window"),
        (
            {"metric": "latency", "operator": "gt", "threshold": 1, "aggregation": "p42"},
            "condition.aggregation",
        ),
    ],
)
async def test_conditions_are_validated(
    live_server: LiveServer, condition: dict, field: str
) -> None:
    s = live_server
    body = {"name": "x", "condition": condition, "action": {"type": "scale_up"}}
    response = await s.client.post(s.api("/rules"), json=body, headers=s.auth())
    assert response.status_code == 422, response.text
    assert field in {d["field"] for d in response.json()["error"]["details"]}


async def test_filters_partial_update_and_delete(live_server: LiveServer) -> None:
    s = live_server
    chat = await create(s, SEED_RULE | {"serviceName": "chat"})
    embed = await create(
        s,
        {
            "name": "embed cache",
            "serviceName": "embed",
            "isActive": False,
            "condition": {"metric": "memory", "operator": "gt", "threshold": 2, "unit": "gb"},
            "action": {"type": "cache_clear"},
        },
    )

    async def names(**params: object) -> list[str]:
        r = await s.client.get(s.api("/rules"), params=params, headers=s.auth("viewer"))
        return [rule["name"] for rule in r.json()["data"]]

    assert await names(serviceName="chat") == ["High Latency Rule"]
    assert await names(isActive="false") == ["embed cache"]
    assert await names(actionType="cache_clear") == ["embed cache"]
    assert sorted(await names()) == ["High Latency Rule", "embed cache"]

    updated = await s.client.put(
        s.api(f"/rules/{chat['id']}"),
        json={"condition": {"threshold": 3}, "isActive": False},
        headers=s.auth(),
    )
    assert updated.status_code == 200, updated.text
    rule = updated.json()["data"]
    assert rule["condition"]["threshold"] == 3
    assert rule["condition"]["resolveThreshold"] == 3  # follows the threshold unless given
    assert rule["condition"]["duration"] == 60  # untouched
    assert rule["isActive"] is False
    assert rule["updatedAt"] > rule["createdAt"]

    switched = await s.client.put(
        s.api(f"/rules/{embed['id']}"),
        json={"action": {"type": "model_switch", "parameters": {"model": "m2"}}},
        headers=s.auth(),
    )
    assert switched.json()["data"]["action"]["parameters"] == {"model": "m2"}
    assert switched.json()["data"]["action"]["revertOnResolve"] is True

    bad = await s.client.put(
        s.api(f"/rules/{embed['id']}"), json={"condition": {"operator": "nope"}}, headers=s.auth()
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "condition.operator"

    deleted = await s.client.delete(s.api(f"/rules/{chat['id']}"), headers=s.auth())
    assert deleted.status_code == 200
    gone = await s.client.get(s.api(f"/rules/{chat['id']}"), headers=s.auth())
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    again = await s.client.delete(s.api(f"/rules/{chat['id']}"), headers=s.auth())
    assert again.status_code == 404


async def test_only_admins_write_rules(live_server: LiveServer) -> None:
    s = live_server
    for role in ("viewer", "operator"):
        r = await s.client.post(s.api("/rules"), json=SEED_RULE, headers=s.auth(role))
        assert r.status_code == 403, role
        assert r.json()["error"]["code"] == "forbidden"
    rule = await create(s, SEED_RULE)
    r = await s.client.put(
        s.api(f"/rules/{rule['id']}"), json={"name": "n"}, headers=s.auth("operator")
    )
    assert r.status_code == 403
    r = await s.client.delete(s.api(f"/rules/{rule['id']}"), headers=s.auth("operator"))
    assert r.status_code == 403
    r = await s.client.get(s.api("/rules"), headers=s.auth("viewer"))
    assert r.status_code == 200
    assert r.json()["count"] == 1


async def test_unknown_and_malformed_ids(live_server: LiveServer) -> None:
    s = live_server
    missing = "00000000-0000-4000-8000-000000000000"
    assert (await s.client.get(s.api(f"/rules/{missing}"), headers=s.auth())).status_code == 404
    r = await s.client.put(s.api(f"/rules/{missing}"), json={"name": "x"}, headers=s.auth())
    assert r.status_code == 404
    r = await s.client.get(s.api("/rules/not-a-uuid"), headers=s.auth())
    assert r.status_code == 404  # a malformed id names no record
    assert r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        # finite as sent, infinite (or beyond the 1e15 bound) once in the canonical unit
        ({"metric": "latency", "threshold": 1e308, "unit": "s"}, "condition.threshold"),
        ({"metric": "memory", "threshold": 1e306, "unit": "gb"}, "condition.threshold"),
        ({"metric": "cpu", "threshold": 1e307, "unit": "ratio"}, "condition.threshold"),
        ({"metric": "latency", "threshold": 2e15}, "condition.threshold"),
        ({"metric": "latency", "threshold": -2e15}, "condition.threshold"),
        ({"metric": "latency", "threshold": 2e12, "unit": "s"}, "condition.threshold"),
        (
            {"metric": "latency", "threshold": 1, "resolveThreshold": -1e308, "unit": "s"},
            "condition.resolveThreshold",
        ),
    ],
)
async def test_thresholds_beyond_the_finite_bound_are_rejected(
    live_server: LiveServer, condition: dict, field: str
) -> None:
    s = live_server
    body = {
        "name": "x",
        "condition": {"operator": "gt", **condition},
        "action": {"type": "scale_up"},
    }
    response = await s.client.post(s.api("/rules"), json=body, headers=s.auth())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert field in {d["field"] for d in error["details"]}
    assert field in error["message"]
    listed = await s.client.get(s.api("/rules"), headers=s.auth())
    assert listed.json()["count"] == 0

    # the same values through PUT, on a rule that exists
    rule = await create(s, SEED_RULE)
    update = {k: v for k, v in condition.items() if k != "metric"}
    if condition["metric"] != "latency":
        update["metric"] = condition["metric"]
    put = await s.client.put(
        s.api(f"/rules/{rule['id']}"), json={"condition": update}, headers=s.auth()
    )
    assert put.status_code == 422, put.text
    assert field in {d["field"] for d in put.json()["error"]["details"]}
    stored = await s.client.get(s.api(f"/rules/{rule['id']}"), headers=s.auth())
    assert stored.json()["data"] == rule


async def test_the_bound_itself_is_accepted(live_server: LiveServer) -> None:
    s = live_server
    rule = await create(
        s,
        {
            "name": "edge",
            "condition": {"metric": "latency", "operator": "gt", "threshold": 1e12, "unit": "s"},
            "action": {"type": "scale_up"},
        },
    )
    assert rule["condition"]["threshold"] == 1e15
