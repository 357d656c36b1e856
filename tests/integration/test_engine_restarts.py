"""A real `perfpilot serve`, restarted on the same database after each way one bad input used
to break the engine for everyone (issue 9 items 1-3): the server starts again, and the other
services' alerts still fire."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete

from perfpilot.core.auth import Role, TokenAuthority
from perfpilot.core.config import API_PREFIX
from perfpilot.core.db import create_engine, create_sessionmaker
from perfpilot.models import OptimizationRule, PerformanceMetric
from tests.conftest import TEST_JWT_SECRET, make_settings
from tests.integration.test_restart_kill import ServerProcess

ACTION = {
    "type": "cache_clear",
    "parameters": {},
    "priority": "high",
    "cooldown": 300.0,
    "revertOnResolve": False,
}


class Api:
    """HTTP calls to a server process, as an admin."""

    def __init__(self, server: ServerProcess, client: httpx.AsyncClient) -> None:
        self.server = server
        self.client = client

    async def call(self, method: str, path: str, *, status: int = 200, **kwargs: Any) -> Any:
        r = await self.client.request(method, f"{self.server.url}{API_PREFIX}{path}", **kwargs)
        assert r.status_code == status, r.text
        return r.json()

    async def rule(self, name: str, service: str | None, **condition: Any) -> str:
        body = {
            "name": name,
            "serviceName": service,
            "condition": {"metric": "latency", "operator": "gt", "threshold": 1000} | condition,
            "action": {"type": "cache_clear", "priority": "high"},
        }
        return str((await self.call("POST", "/rules", json=body, status=201))["data"]["id"])

    async def push(self, *samples: tuple[str, float]) -> None:
        body = {
            "samples": [
                {"serviceName": service, "metricType": "latency", "value": value}
                for service, value in samples
            ]
        }
        await self.call("POST", "/metrics/batch", json=body, status=201)

    async def alerts(self, service: str) -> list[dict[str, Any]]:
        return list((await self.call("GET", f"/alerts?serviceName={service}"))["data"])

    async def wait_for_alert(self, service: str, *, rule_id: str | None = None) -> dict[str, Any]:
        """The service's open alert (of that rule), once the engine has committed it."""
        for _ in range(200):
            for alert in await self.alerts(service):
                if alert["status"] == "active" and rule_id in (None, alert["ruleId"]):
                    return alert
            await asyncio.sleep(0.05)
        raise AssertionError(f"no alert fired for {service}")


@asynccontextmanager
async def serving(database_url: str, tmp_path: Path, **env: str) -> AsyncIterator[Api]:
    settings = make_settings(database_url, tmp_path)
    token = TokenAuthority(settings, secret=TEST_JWT_SECRET).mint(
        role=Role.admin, subject="t", ttl_seconds=600
    )
    server = ServerProcess(database_url, tmp_path / "data")
    server.env.update(env)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client:
        try:
            yield Api(server, client)
        finally:
            if server.process is not None and server.process.returncode is None:
                await server.kill()


async def write_rows(database_url: str, *rows: Any, delete_rule: str | None = None) -> None:
    """Rows written behind the API's back, as by hand or by an older version."""
    engine = create_engine(database_url)
    async with create_sessionmaker(engine)() as session, session.begin():
        session.add_all(rows)
        if delete_rule is not None:
            await session.execute(
                delete(OptimizationRule).where(OptimizationRule.id == uuid.UUID(delete_rule))
            )
    await engine.dispose()


def stored_rule(name: str, service: str, condition: Any, action: Any = ACTION) -> OptimizationRule:
    now = datetime.now(UTC)
    return OptimizationRule(
        id=uuid.uuid4(),
        name=name,
        description="",
        service_name=service,
        metric_type="latency",
        action_type="cache_clear",
        condition=condition,
        action=action,
        is_active=True,
        created_at=now,
        updated_at=now,
    )


GOOD_CONDITION = {
    "metric": "latency",
    "operator": "gt",
    "threshold": 1000.0,
    "unit": "ms",
    "duration": 0.0,
    "aggregation": "last",
    "window": 60.0,
    "resolveThreshold": 1000.0,
    "keepFiringFor": 0.0,
    "noData": "keep",
}


async def test_a_bad_stored_rule_is_skipped_and_the_server_starts(
    clean_database: str, tmp_path: Path
) -> None:
    async with serving(clean_database, tmp_path, PERFPILOT_LOG_LEVEL="WARNING") as api:
        await api.server.start()
        good = await api.rule("every service", None)
        refused = {
            "name": "overflows",
            "condition": {"metric": "latency", "operator": "gt", "threshold": 1e308, "unit": "s"},
            "action": {"type": "cache_clear"},
        }
        body = await api.call("POST", "/rules", json=refused, status=422)
        assert body["error"]["details"][0]["field"] == "condition.threshold"
        await api.server.kill()

        no_threshold = {k: v for k, v in GOOD_CONDITION.items() if k != "threshold"}
        bad = {
            "no threshold": stored_rule("no threshold", "broken", no_threshold),
            "text threshold": stored_rule(
                "text threshold", "broken", GOOD_CONDITION | {"threshold": "fast"}
            ),
            "bad operator": stored_rule(
                "bad operator", "broken", GOOD_CONDITION | {"operator": "between"}
            ),
            "not an object": stored_rule("not an object", "broken", [1, 2]),
            "no priority": stored_rule(
                "no priority", "broken", GOOD_CONDITION, {"type": "cache_clear"}
            ),
        }
        await write_rows(clean_database, *bad.values())

        await api.server.start()  # before the fix: "Application startup failed"
        listed = {r["name"]: r for r in (await api.call("GET", "/rules"))["data"]}
        assert listed["every service"]["valid"] is True
        assert listed["every service"]["invalidReason"] is None
        reasons = {name: listed[name]["invalidReason"] for name in bad}
        assert all(listed[name]["valid"] is False for name in bad)
        assert "condition.threshold" in reasons["no threshold"]
        assert "condition.threshold" in reasons["text threshold"]
        assert "between" in reasons["bad operator"]
        assert "not a JSON object" in reasons["not an object"]
        assert "action.priority" in reasons["no priority"]
        assert listed["no threshold"]["condition"] is None
        assert listed["bad operator"]["condition"]["operator"] == "between"  # shown as stored
        one = await api.call("GET", f"/rules/{bad['no threshold'].id}")
        assert one["data"]["valid"] is False

        await api.push(("other", 5000))  # the other rules still evaluate
        await api.wait_for_alert("other", rule_id=good)

        # a PUT that completes the rule makes it valid, and the engine takes it up
        fixed = await api.call(
            "PUT",
            f"/rules/{bad['no threshold'].id}",
            json={"condition": {"threshold": 100}},
        )
        assert fixed["data"]["valid"] is True
        await api.push(("broken", 500))
        await api.wait_for_alert("broken", rule_id=str(bad["no threshold"].id))
        await api.server.kill()

        await api.server.start()
        await api.push(("third", 5000))
        await api.wait_for_alert("third", rule_id=good)
    log = (tmp_path / "server.log").read_text()
    assert "rule_invalid_skipped" in log
    assert "Application startup failed" not in log


async def test_huge_stored_samples_poison_no_other_service(
    clean_database: str, tmp_path: Path
) -> None:
    async with serving(clean_database, tmp_path, PERFPILOT_ENGINE_TICK_SECONDS="0.2") as api:
        await api.server.start()
        avg = await api.rule("avg everywhere", None, aggregation="avg", window=300)
        total = await api.rule(
            "sum poison", "poison", aggregation="sum", window=300, threshold=1e15
        )
        await api.server.kill()

        # written behind the API's back: the store holds what older versions admitted
        now = datetime.now(UTC)
        await write_rows(
            clean_database,
            *(
                PerformanceMetric(
                    service_name="poison",
                    metric_type="latency",
                    value=1.7e308,
                    unit="ms",
                    timestamp=now - timedelta(seconds=seconds),
                    meta={},
                )
                for seconds in (20, 10)
            ),
        )

        await api.server.start()  # windows are rebuilt with both huge values
        await api.push(("poison", 10), ("other", 5000))
        other = await api.wait_for_alert("other", rule_id=avg)  # before the fix: never
        assert other["currentValue"] == 5000
        poisoned = await api.wait_for_alert("poison", rule_id=avg)
        # the mean of 1.7e308, 1.7e308 and 10, computed without overflowing
        assert math.isclose(poisoned["currentValue"], 1.7e308 / 3 * 2, rel_tol=1e-12)
        summed = await api.wait_for_alert("poison", rule_id=total)
        assert summed["currentValue"] == 1.7976931348623157e308  # saturates, never inf
        optimized = await api.call(
            "POST",
            "/optimize",
            json={"serviceName": "poison", "metricType": "latency", "value": 20},
        )
        assert optimized["success"] is True
        await asyncio.sleep(0.5)  # a few ticks over the huge window
        await api.server.kill()

        await api.server.start()
        await asyncio.sleep(0.5)  # ticks again over the reloaded window
        await api.push(("third", 5000))
        await api.wait_for_alert("third", rule_id=avg)
        health = await api.call("GET", "/health")
        assert health["data"]["services"]["monitoring"] is True, health


async def test_a_rule_deleted_under_the_engine_loses_no_other_alert(
    clean_database: str, tmp_path: Path
) -> None:
    async with serving(clean_database, tmp_path) as api:
        await api.server.start()
        doomed = await api.rule("doomed", "doomed")
        every = await api.rule("every service", None, threshold=4000)
        await api.push(("doomed", 5000))
        first = await api.wait_for_alert("doomed", rule_id=doomed)

        # The rule's deletion commits while the engine still holds it (as when DELETE /rules
        # races a batch): its state rows went with it, and the step writes new ones.
        await write_rows(clean_database, delete_rule=doomed)
        await api.push(("doomed", 6000), ("other", 5000))
        other = await api.wait_for_alert("other", rule_id=every)  # before the fix: lost
        assert other["currentValue"] == 5000
        for _ in range(100):
            [closed] = [a for a in await api.alerts("doomed") if a["id"] == first["id"]]
            if closed["status"] == "resolved":
                break
            await asyncio.sleep(0.05)
        assert closed["resolveReason"] == "rule_deleted"
        await api.server.kill()

        await api.server.start()
        await api.push(("third", 5000))
        await api.wait_for_alert("third", rule_id=every)
