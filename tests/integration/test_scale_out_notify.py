"""NOTIFY keeps nothing (DESIGN §12): a change relayed while a connection of the bus was down
must not be lost. A notification whose sending connection died is sent again on the next
one; a replica whose listening connection died re-reads, once it listens again, what it may
have missed (rules, alert statuses, scrape targets).

Connections are cut the way a failover or a network blip cuts them: pg_terminate_backend on
the replica's own named connection (application_name perfpilot-notify:<id> or
perfpilot-listen:<id>). PostgreSQL only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import text

from perfpilot.cluster.shards import shard_of
from perfpilot.core.db import create_engine
from tests.integration.replicas import (
    SHARDS,
    Api,
    Replica,
    balanced,
    client_for,
    eventually,
    replica_ids,
)

_CUT = text(
    "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND application_name = :name) AS cut"
)
_LISTENING = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND application_name = :name"
)


async def _sql(url: str, query: Any, **params: Any) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(query, params)).scalar_one())
    finally:
        await engine.dispose()


def _rule(service: str) -> dict[str, Any]:
    return {
        "name": f"slow {service}",
        "serviceName": service,
        "condition": {"metric": "latency", "operator": "gt", "threshold": 500},
        "action": {"type": "cache_clear"},
    }


async def _fires(api: Api, via: Replica, service: str, count: int = 1) -> list[Any]:
    """Post slow samples for the service (one every 0.1 s) until it has `count` alerts."""

    async def fired() -> list[Any] | None:
        body = {"serviceName": service, "metricType": "latency", "value": 900}
        await api(via, "POST", "/metrics", json=body)
        found = await api(via, "GET", "/alerts", params={"serviceName": service})
        return found if len(found) >= count else None

    found: list[Any] = await eventually(fired, timeout=20, what=f"the alert of {service}")
    return found


async def test_a_notification_is_sent_again_and_a_deaf_replica_re_reads_what_it_missed(
    replicas: list[Replica], postgres: str, tmp_path: Path
) -> None:
    a, b, c = replicas
    async with client_for(postgres, tmp_path) as client:
        api = Api(client)
        owners = await eventually(lambda: balanced(api, replicas), timeout=30, what="balance")
        by_id = await replica_ids(api, replicas)
        ids = {replica: replica_id for replica_id, replica in by_id.items()}

        def owned_by(replica: Replica, prefix: str) -> str:
            return next(
                name
                for name in (f"{prefix}-{i}" for i in range(1000))
                if owners[shard_of(name, SHARDS)] == ids[replica]
            )

        # 1. A's sending connection dies: the rule it relays next still reaches B (B owns
        # the service; without the resend, B would never hear of the rule)
        sent_again = owned_by(b, "sent-again")
        assert await _sql(postgres, _CUT, name=f"perfpilot-notify:{ids[a]}") == 1
        await api(a, "POST", "/rules", json=_rule(sent_again))
        [alert] = await _fires(api, c, sent_again)
        assert alert["status"] == "active"

        # 2. B stops listening; a rule made on A meanwhile is re-read by B when it listens
        # again, and so is an alert resolved by hand on A meanwhile (without the re-read, B
        # would think the pair still firing and never open another alert for it)
        listener = f"perfpilot-listen:{ids[b]}"

        async def while_b_is_deaf(prepare: Any, change: Any) -> str:
            """Prepare (B hears that), cut B's listener, make the change on A; each try with
            a service of its own, tried again if this machine stalled so long that B
            listened again before the change's notification went out (B then heard it)."""
            for attempt in range(5):
                service = owned_by(b, f"{change.__name__}-{attempt}")
                prepared = await prepare(service)
                assert await _sql(postgres, _CUT, name=listener) == 1
                await change(service, prepared)  # returns once its NOTIFY is sent
                if await _sql(postgres, _LISTENING, name=listener) == 0:
                    return service  # sent while B was deaf
                await asyncio.sleep(1.5)
            raise AssertionError("B listened again before every change's notification")

        async def nothing(service: str) -> None:
            return None

        async def rule_made(service: str, _: None) -> None:
            await api(a, "POST", "/rules", json=_rule(service))

        async def rule_and_alert(service: str) -> Any:
            await api(a, "POST", "/rules", json=_rule(service))
            [opened] = await _fires(api, c, service)
            return opened

        async def alert_resolved(service: str, opened: Any) -> None:
            await api(a, "PUT", f"/alerts/{opened['id']}/resolve")

        missed = await while_b_is_deaf(nothing, rule_made)
        [alert] = await _fires(api, c, missed)
        assert (alert["serviceName"], alert["status"]) == (missed, "active")

        closed = await while_b_is_deaf(rule_and_alert, alert_resolved)
        alerts = await _fires(api, c, closed, count=2)
        health = await api(b, "GET", "/health")
    assert sorted(x["status"] for x in alerts) == ["active", "resolved"]
    assert health["replica"]["listenLosses"] >= 2
