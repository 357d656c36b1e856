"""/optimize: acts on the sample at once; dryRun plans and changes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from perfpilot.models import Base, OptimizationAction
from tests.conftest import LiveServer

SERVICE = "ai-chat-service"


async def row_counts(s: LiveServer) -> dict[str, int]:
    async with s.ctx.sessionmaker() as session:
        return {
            table.name: int(
                (await session.execute(select(func.count()).select_from(table))).scalar_one()
            )
            for table in Base.metadata.sorted_tables
        }


async def latency_rule(s: LiveServer) -> None:
    r = await s.client.post(
        s.api("/rules"),
        json={
            "name": "slow",
            "serviceName": SERVICE,
            "condition": {"metric": "latency", "operator": "gt", "threshold": 2000},
            "action": {"type": "scale_up", "parameters": {"instances": 2}},
        },
        headers=s.auth(),
    )
    assert r.status_code == 201, r.text


async def hot_cpu(s: LiveServer) -> None:
    now = datetime.now(UTC)
    await s.push(
        *(
            {
                "serviceName": SERVICE,
                "metricType": "cpu",
                "value": 92,
                "timestamp": (now - timedelta(seconds=i)).isoformat(),
            }
            for i in range(1, 20)
        )
    )


async def test_dry_run_plans_with_a_model_prediction_and_changes_nothing(
    live_server: LiveServer,
) -> None:
    s = live_server
    await latency_rule(s)
    await hot_cpu(s)
    before = await row_counts(s)
    r = await s.client.post(
        s.api("/optimize"),
        json={
            "serviceName": SERVICE,
            "metricType": "latency",
            "value": 3,
            "unit": "s",
            "dryRun": True,
        },
        headers=s.auth("operator"),
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["optimized"] is False
    [action] = data["actions"]
    assert action["status"] == "dry_run"
    assert action["type"] == "scale_up"
    assert action["parameters"] == {"instances": 2}
    assert action["basis"] == "model"  # cpu 92% >= target 70%: latency ~ 1/instances
    assert action["impact"] == pytest.approx(0.5)  # 2 -> 4 instances
    assert data["metrics"] == {"before": 3000.0, "after": 1500.0, "improvement": 0.5}
    # saturated cpu is named with its figures
    assert any("cpu averaged 92.0%" in text for text in data["recommendations"])
    assert await row_counts(s) == before


async def test_optimize_executes_and_predicts_from_history(live_server: LiveServer) -> None:
    s = live_server
    await latency_rule(s)
    old = datetime.now(UTC) - timedelta(days=1)
    async with s.ctx.sessionmaker() as session, session.begin():
        for impact in (0.1, 0.2, 0.3):  # three measured scale-ups on latency
            session.add(
                OptimizationAction(
                    id=uuid.uuid4(),
                    service_name=SERVICE,
                    action_type="scale_up",
                    parameters={"instances": 1},
                    source="rule",
                    status="executed",
                    metric_type="latency",
                    measured_impact=impact,
                    outcome="improved",
                    executed_at=old,
                    revert_on_resolve=False,
                )
            )
    r = await s.client.post(
        s.api("/optimize"),
        json={"serviceName": SERVICE, "metricType": "latency", "value": 2500},
        headers=s.auth("operator"),
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["optimized"] is True
    [action] = data["actions"]
    assert action["status"] == "executed"
    assert action["basis"] == "history"
    assert action["impact"] == pytest.approx(0.2)
    assert data["metrics"]["before"] == 2500
    assert data["metrics"]["after"] == pytest.approx(2000)
    stored = await s.client.get(
        s.api("/metrics"), params={"serviceName": SERVICE}, headers=s.auth()
    )
    assert [m["value"] for m in stored.json()["data"]] == [2500]
    service = await s.client.get(s.api(f"/services/{SERVICE}"), headers=s.auth())
    assert service.json()["data"]["state"]["instances"] == 4


async def test_not_triggered_rules_say_why_and_bad_input_is_422(live_server: LiveServer) -> None:
    s = live_server
    await latency_rule(s)
    r = await s.client.post(
        s.api("/optimize"),
        json={"serviceName": SERVICE, "metricType": "latency", "value": 100, "dryRun": True},
        headers=s.auth("operator"),
    )
    [action] = r.json()["data"]["actions"]
    assert action["status"] == "not_triggered"
    assert "is not > 2000" in action["description"]
    assert r.json()["data"]["metrics"] == {"before": 100.0, "after": None, "improvement": None}
    bad = await s.client.post(
        s.api("/optimize"),
        json={"serviceName": SERVICE, "metricType": "latency", "value": -1},
        headers=s.auth("operator"),
    )
    assert bad.status_code == 422
    viewer = await s.client.post(
        s.api("/optimize"),
        json={"serviceName": SERVICE, "metricType": "latency", "value": 1},
        headers=s.auth("viewer"),
    )
    assert viewer.status_code == 403
