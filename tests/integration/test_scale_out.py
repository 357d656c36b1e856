"""Several real `perfpilot serve` replicas on one PostgreSQL (DESIGN §12): the engine is
sharded across them, samples reach their shard's owner through the store whichever replica
took them, and a replica killed with SIGKILL loses and duplicates nothing.

PostgreSQL only: on SQLite one process serves a data directory (test_startup.py shows a
second `serve` refused)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from perfpilot.cluster.shards import shard_of, shard_sql
from perfpilot.core.config import API_PREFIX
from perfpilot.core.db import create_engine
from perfpilot.core.migrate import upgrade_database
from tests.integration.replicas import (
    SHARDS,
    Api,
    Replica,
    balanced,
    client_for,
    eventually,
    replica_ids,
)
from tests.integration.test_realtime import sse_events
from tests.webhook_receiver import WebhookReceiver


async def test_python_and_sql_agree_on_each_services_shard(postgres: str) -> None:
    names = [f"svc-{i}" for i in range(300)] + ["ai-chat-service", "é-ünïcode", "a" * 100]
    engine = create_engine(postgres)
    try:
        await upgrade_database(engine)  # the fixture empties the tables after the test
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(f"SELECT n, {shard_sql('n')} FROM unnest(CAST(:names AS text[])) AS n"),
                {"names": names, "shard_count": SHARDS},
            )
            in_sql = dict(rows.all())
    finally:
        await engine.dispose()
    assert in_sql == {n: shard_of(n, SHARDS) for n in names}
    assert len(set(in_sql.values())) > SHARDS * 0.9  # spread over (nearly) every shard


async def test_three_replicas_share_the_engine_and_survive_a_sigkill(
    replicas: list[Replica], postgres: str, tmp_path: Path
) -> None:
    services = [f"svc-{i:02d}" for i in range(20)]
    base = datetime.now(UTC) - timedelta(seconds=60)
    accepted: Counter[str] = Counter()  # samples each replica acknowledged (201), per service

    async with WebhookReceiver() as receiver, client_for(postgres, tmp_path) as client:
        api = Api(client)
        ids = await replica_ids(api, replicas)
        owners = await eventually(
            lambda: balanced(api, replicas), timeout=30, what="three-way shard balance"
        )
        assert set(owners.values()) == set(ids)
        await api(
            replicas[0],
            "POST",
            "/webhooks",
            json={"url": receiver.url, "events": ["alert.fired", "alert.resolved"]},
        )
        await api(
            replicas[1],
            "POST",
            "/rules",
            json={
                "name": "slow",
                "condition": {"metric": "latency", "operator": "gt", "threshold": 1000},
                "action": {"type": "cache_clear"},
            },
        )

        async def post(i: int, service: str, second: int, value: float) -> None:
            body = {
                "serviceName": service,
                "metricType": "latency",
                "value": value,
                "timestamp": (base + timedelta(seconds=second)).isoformat(),
            }
            target = replicas[i % len(replicas)]
            if target.process is not None and target.process.returncode is not None:
                target = next(r for r in replicas if r.process and r.process.returncode is None)
            await api(target, "POST", "/metrics", json=body)
            accepted[service] += 1

        # slow: every service fires, each sample taken by a different replica in turn
        await asyncio.gather(*(post(i, s, 0, 2000) for i, s in enumerate(services)))
        await asyncio.gather(*(post(i + 1, s, 1, 2100) for i, s in enumerate(services)))

        async def all_active() -> list[Any] | None:
            alerts = await api(replicas[2], "GET", "/alerts", params={"limit": 100})
            return alerts if len([a for a in alerts if a["status"] == "active"]) == 20 else None

        await eventually(all_active, timeout=20, what="20 active alerts")
        await receiver.wait_for(20, timeout=20)

        # SIGKILL the owner of a firing service's shard, mid-lifecycle
        victim_id = owners[shard_of(services[0], SHARDS)]
        victim = ids[victim_id]
        killed_at = time.monotonic()
        await victim.kill()
        alive = [r for r in replicas if r is not victim]

        # recovery samples right away, to the survivors: some land while nobody owns a shard
        await asyncio.gather(*(post(i, s, 2, 100) for i, s in enumerate(services)))

        after = await eventually(
            lambda: balanced(api, alive), timeout=30, what="two-way shard balance"
        )
        taken_in = time.monotonic() - killed_at
        assert victim_id not in after.values()

        async def all_resolved() -> list[Any] | None:
            alerts = await api(alive[0], "GET", "/alerts", params={"limit": 100})
            done = [a for a in alerts if a["status"] == "resolved"]
            return alerts if len(done) == len(alerts) == 20 else None

        alerts = await eventually(all_resolved, timeout=30, what="every alert resolved")
        await receiver.wait_for(40, timeout=20)
        await asyncio.sleep(1.0)  # a duplicate would arrive now
        actions = await api(alive[1], "GET", "/actions", params={"limit": 100})

    print(f"\nshards re-owned {taken_in:.2f} s after SIGKILL")  # shown with -s
    # exactly one alert per (rule, service), each resolved on recovery
    assert sorted(a["serviceName"] for a in alerts) == services
    assert {a["resolveReason"] for a in alerts} == {"recovered"}
    # exactly one action per (rule, service)
    assert sorted(a["serviceName"] for a in actions) == services
    assert {a["status"] for a in actions} == {"executed"}
    # every webhook event delivered, once
    keys = Counter(r.header("idempotency-key") for r in receiver.requests)
    events = Counter(r.header("x-perfpilot-event") for r in receiver.requests)
    assert len(keys) == 40 and set(keys.values()) == {1}
    assert events == {"alert.fired": 20, "alert.resolved": 20}
    # no acknowledged sample missing
    engine = create_engine(postgres)
    try:
        async with engine.connect() as conn:
            stored = dict(
                (
                    await conn.execute(
                        text(
                            "SELECT service_name, count(*) FROM ai_performance_metrics "
                            "GROUP BY service_name"
                        )
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    assert stored == dict(accepted)


async def test_a_rule_made_on_one_replica_fires_for_samples_sent_to_another_seen_on_a_third(
    replicas: list[Replica], postgres: str, tmp_path: Path
) -> None:
    a, b, c = replicas
    async with client_for(postgres, tmp_path) as client:
        api = Api(client)
        await eventually(lambda: balanced(api, replicas), timeout=30, what="shard balance")
        url = f"{c.url}{API_PREFIX}/realtime/stream"
        async with client.stream("GET", url, params={"heartbeat": 1}) as stream:
            assert stream.status_code == 200
            events = sse_events(stream)
            async with asyncio.timeout(10):
                assert (await anext(events))[0] == "ready"

            rule = await api(
                a,
                "POST",
                "/rules",
                json={
                    "name": "slow chat",
                    "serviceName": "chat",
                    "condition": {"metric": "latency", "operator": "gt", "threshold": 500},
                    "action": {"type": "cache_clear"},
                },
            )
            # the only sample: the alert can only come from its own first evaluation
            sample = {"serviceName": "chat", "metricType": "latency", "value": 900}
            await api(b, "POST", "/metrics", json=sample)
            fired = None
            async with asyncio.timeout(10):
                async for kind, data in events:
                    if kind == "alert.fired":
                        fired = data
                        break
        # a histogram sample sent to C reaches its owner too: p95 of the requests, 2000 ms
        await api(
            a,
            "POST",
            "/rules",
            json={
                "name": "slow tail",
                "serviceName": "chat-h",
                "condition": {
                    "metric": "latency",
                    "operator": "gt",
                    "threshold": 1000,
                    "aggregation": "p95",
                },
                "action": {"type": "cache_clear"},
            },
        )
        histogram = {"bounds": [100, 2000], "counts": [90, 10, 0], "sum": 20000, "count": 100}
        sample = {"serviceName": "chat-h", "metricType": "latency", "histogram": histogram}
        await api(c, "POST", "/metrics", json=sample)

        async def tail_alert() -> list[Any] | None:
            found = await api(b, "GET", "/alerts", params={"serviceName": "chat-h"})
            return found or None

        [tail] = await eventually(tail_alert, timeout=10, what="the histogram rule's alert")
        alerts = await api(a, "GET", "/alerts", params={"serviceName": "chat"})
    assert tail["metadata"]["percentileBasis"] == "histogram"
    assert fired is not None
    assert (fired["ruleId"], fired["serviceName"], fired["currentValue"]) == (
        rule["id"],
        "chat",
        900.0,
    )
    assert [(x["ruleId"], x["status"]) for x in alerts] == [(rule["id"], "active")]
