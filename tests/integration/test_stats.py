"""GET /stats: the seed's shape, every count checked against seeded rows; the short cache."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import LiveServer
from tests.envelope import assert_error
from tests.integration.seed_rows import action, add_rows, alert

# every registered type, with 0 when it has no sample: the seed's eight, then DESIGN §9's
SEED_TYPES = ["latency", "throughput", "accuracy", "cost", "memory", "cpu", "error_rate"]
LLM_TYPES = ["ttft", "tpot", "tokens_per_second", "queue_depth", "kv_cache_usage"]
COUNT_TYPES = ["requests_running", "input_tokens", "output_tokens", "gpu_utilization"]
EMPTY_TYPES = dict.fromkeys([*SEED_TYPES, "success_rate", *LLM_TYPES, *COUNT_TYPES], 0)
EMPTY_ACTIONS = dict.fromkeys(
    ["scale_up", "scale_down", "cache_clear", "model_switch", "retry", "fallback"], 0
)


async def stats(s: LiveServer) -> dict[str, Any]:
    response = await s.client.get(s.api("/stats"), headers=s.auth("viewer"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"].startswith("Statistics computed at ")
    return dict(body["data"])


async def make_rule(s: LiveServer, action_type: str, *, active: bool = True) -> None:
    parameters = {"retry": {"maxRetries": 2}, "fallback": {"models": ["small"]}}
    body = {
        "name": f"{action_type} rule",
        "condition": {"metric": "latency", "operator": "gt", "threshold": 1e12},
        "action": {"type": action_type, "parameters": parameters.get(action_type, {})},
        "isActive": active,
    }
    response = await s.client.post(s.api("/rules"), json=body, headers=s.auth())
    assert response.status_code == 201, response.text


async def test_empty_store_has_the_full_shape(live_server: LiveServer) -> None:
    assert await stats(live_server) == {
        "metrics": {"total": 0, "byType": EMPTY_TYPES},
        "rules": {"total": 0, "active": 0, "byType": EMPTY_ACTIONS},
        "alerts": {
            "total": 0,
            "active": 0,
            "resolved": 0,
            "bySeverity": {"low": 0, "medium": 0, "high": 0, "critical": 0},
        },
        "optimizations": {"total": 0, "successful": 0, "failed": 0, "averageImprovement": None},
    }
    assert_error(await live_server.client.get(live_server.api("/stats")), 401, "unauthorized")


async def test_counts_match_the_store_and_refresh_after_the_ttl(live_server: LiveServer) -> None:
    s = live_server
    now = datetime.now(UTC)
    ts = (now - timedelta(seconds=30)).isoformat()
    samples = [
        {"serviceName": svc, "metricType": metric, "value": 1, "timestamp": ts}
        for svc, metric in [
            ("a", "latency"),
            ("a", "latency"),
            ("b", "latency"),
            ("a", "throughput"),
            ("b", "throughput"),
            ("b", "cpu"),
        ]
    ]
    await s.push(*samples)
    await make_rule(s, "scale_up")
    await make_rule(s, "scale_up", active=False)
    await make_rule(s, "fallback")
    await make_rule(s, "retry")
    await add_rows(
        s,
        alert("a", at=now, severity="high"),
        alert("a", at=now, severity="low", status="acknowledged"),
        alert("a", at=now, severity="medium", resolved_after=10),
        alert("b", at=now, severity="medium", resolved_after=10),
        alert("b", at=now, severity="critical", resolved_after=10),
        action("a", "scale_up", at=now, outcome="improved", impact=0.5),
        action("a", "scale_up", at=now, outcome="improved", impact=0.25),
        action("a", "scale_up", at=now, outcome="worsened", impact=-0.25),
        action("a", "cache_clear", at=now, outcome="no_change", impact=0.0),
        action("a", "cache_clear", at=now, outcome="unmeasured"),
        action("a", "fallback", at=now),
        action("a", "retry", at=now, status="failed"),
        action("a", "scale_up", at=now, status="skipped"),
        action("a", "scale_up", at=now, status="dry_run"),
    )
    expected = {
        "metrics": {
            "total": 6,
            "byType": EMPTY_TYPES | {"latency": 3, "throughput": 2, "cpu": 1},
        },
        "rules": {
            "total": 4,
            "active": 3,
            "byType": EMPTY_ACTIONS | {"scale_up": 2, "fallback": 1, "retry": 1},
        },
        "alerts": {
            "total": 5,
            "active": 2,
            "resolved": 3,
            "bySeverity": {"low": 1, "medium": 2, "high": 1, "critical": 1},
        },
        "optimizations": {
            "total": 6,
            "successful": 2,
            "failed": 2,
            "averageImprovement": 0.125,
        },
    }
    assert await stats(s) == expected

    # counted at most 2 s ago: served from the cache; then recounted
    await make_rule(s, "cache_clear")
    assert await stats(s) == expected
    async with asyncio.timeout(10):
        while (await stats(s))["rules"]["total"] != 5:
            await asyncio.sleep(0.25)
    fresh = await stats(s)
    assert fresh["rules"]["byType"]["cache_clear"] == 1
    assert fresh["metrics"] == expected["metrics"]
