"""An engine step whose commit fails is retried, then split pair by pair: one pair that cannot
be written never takes the other pairs' alerts with it (issue 9 item 3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import LiveServer

SQLITE_TRIGGER = [
    """CREATE TRIGGER cursed_state BEFORE INSERT ON ai_rule_evaluation_states
       WHEN NEW.service_name = 'cursed' BEGIN SELECT RAISE(ABORT, 'cursed service'); END""",
]
PG_TRIGGER = [
    """CREATE OR REPLACE FUNCTION cursed_state() RETURNS trigger AS $$
       BEGIN
         IF NEW.service_name = 'cursed' THEN RAISE EXCEPTION 'cursed service'; END IF;
         RETURN NEW;
       END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER cursed_state BEFORE INSERT ON ai_rule_evaluation_states
       FOR EACH ROW EXECUTE FUNCTION cursed_state()""",
]


@pytest.fixture
async def cursed(live_server: LiveServer) -> AsyncIterator[LiveServer]:
    """A real database fault: every state row of service `cursed` is refused."""
    engine = live_server.ctx.engine
    postgres = engine.dialect.name == "postgresql"
    async with engine.begin() as conn:
        for statement in PG_TRIGGER if postgres else SQLITE_TRIGGER:
            await conn.execute(text(statement))
    yield live_server
    async with engine.begin() as conn:
        if postgres:
            await conn.execute(
                text("DROP TRIGGER IF EXISTS cursed_state ON ai_rule_evaluation_states")
            )
        else:
            await conn.execute(text("DROP TRIGGER IF EXISTS cursed_state"))


async def rule(s: LiveServer, name: str, service: str | None, threshold: float = 1000) -> str:
    body = {
        "name": name,
        "serviceName": service,
        "condition": {"metric": "latency", "operator": "gt", "threshold": threshold},
        "action": {"type": "cache_clear"},
    }
    r = await s.client.post(s.api("/rules"), json=body, headers=s.auth())
    assert r.status_code == 201, r.text
    await s.settle()
    return str(r.json()["data"]["id"])


def latency(service: str, value: float) -> dict[str, Any]:
    return {"serviceName": service, "metricType": "latency", "value": value}


async def open_alerts(s: LiveServer, service: str) -> list[dict[str, Any]]:
    r = await s.client.get(
        s.api("/alerts"), params={"serviceName": service, "status": "active"}, headers=s.auth()
    )
    return list(r.json()["data"])


async def failures(s: LiveServer, stage: str) -> float:
    text_ = (await s.client.get("/metrics", headers=s.auth("viewer"))).text
    for line in text_.splitlines():
        if line.startswith(f'perfpilot_engine_failures_total{{stage="{stage}"}}'):
            return float(line.rpartition(" ")[2])
    return 0.0


async def test_a_pair_that_cannot_be_written_does_not_sink_the_others(cursed: LiveServer) -> None:
    s = cursed
    await rule(s, "every service", None)
    await s.push(latency("cursed", 5000), latency("other", 5000), latency("third", 5000))
    assert len(await open_alerts(s, "other")) == 1  # before: the whole step rolled back
    assert len(await open_alerts(s, "third")) == 1
    assert await open_alerts(s, "cursed") == []
    assert await failures(s, "step") >= 1
    assert await failures(s, "persist") == 1

    # the dropped pair was reset: once it can be written, it fires on its next sample
    async with s.ctx.engine.begin() as conn:
        if s.ctx.engine.dialect.name == "postgresql":
            await conn.execute(text("DROP TRIGGER cursed_state ON ai_rule_evaluation_states"))
        else:
            await conn.execute(text("DROP TRIGGER cursed_state"))
    await s.push(latency("cursed", 5100))
    assert len(await open_alerts(s, "cursed")) == 1


async def test_deleting_rules_while_samples_flow_loses_no_other_alert(
    live_server: LiveServer,
) -> None:
    s = live_server
    await rule(s, "every service", None, threshold=4000)
    for i in range(15):
        doomed = await rule(s, f"doomed {i}", f"doomed-{i}")
        await s.push(latency(f"doomed-{i}", 5000))
        batch = s.client.post(
            s.api("/metrics/batch"),
            json={"samples": [latency(f"doomed-{i}", 6000), latency(f"other-{i}", 5000)]},
            headers=s.auth(),
        )
        deletion = s.client.delete(s.api(f"/rules/{doomed}"), headers=s.auth())
        pushed, deleted = await asyncio.gather(batch, deletion)
        assert pushed.status_code == 201 and deleted.status_code == 200
        await s.settle()
        assert len(await open_alerts(s, f"other-{i}")) == 1, i
        alerts = await s.client.get(
            s.api("/alerts"), params={"serviceName": f"doomed-{i}"}, headers=s.auth()
        )
        by_status = sorted((a["status"], a["resolveReason"]) for a in alerts.json()["data"])
        assert by_status == [("active", None), ("resolved", "rule_deleted")], i
