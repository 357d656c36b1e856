"""Live views' pure parts: per-second aggregation, the event hub, the stats cache."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from perfpilot.metrics.stream import SampleRow
from perfpilot.monitoring.events import EventHub
from perfpilot.monitoring.live_schemas import (
    AlertStats,
    MetricStats,
    OptimizationStats,
    RuleStats,
    StatsOut,
)
from perfpilot.monitoring.live_stream import SecondWindow, sse
from perfpilot.monitoring.stats import StatsCache

T = datetime(2026, 1, 1, tzinfo=UTC)


def row(service: str, metric: str, value: float, seconds: float) -> SampleRow:
    return {
        "id": str(uuid.uuid4()),
        "service_name": service,
        "metric_type": metric,
        "value": value,
        "unit": "",
        "timestamp": T + timedelta(seconds=seconds),
        "metadata": {},
    }


def test_second_window_aggregates_per_service_and_type() -> None:
    window = SecondWindow()
    window.add([row("b", "error_rate", 0.5, 0), row("a", "latency", 30, 2)])
    window.add([row("a", "latency", 10, 3), row("a", "latency", 50, 1)])
    a, b = window.flush(T)
    assert a == {
        "timestamp": T.isoformat(),
        "serviceName": "a",
        "metrics": {
            "latency": {
                "count": 3,
                "avg": 30.0,
                "min": 10,
                "max": 50,
                "last": 10,  # the newest timestamp, not the last to arrive
                "lastTimestamp": (T + timedelta(seconds=3)).isoformat(),
            }
        },
    }
    assert list(b["metrics"]) == ["errorRate"]
    assert window.flush(T) == []


def test_second_window_filters_one_service() -> None:
    window = SecondWindow("a")
    window.add([row("b", "cpu", 1, 0), row("a", "cpu", 2, 0)])
    assert [p["serviceName"] for p in window.flush(T)] == ["a"]


def test_sse_format() -> None:
    assert sse("ready", {"a": 1}, retry=3000) == 'retry: 3000\nevent: ready\ndata: {"a":1}\n\n'


async def test_hub_fans_out_and_drops_the_oldest_for_slow_subscribers() -> None:
    hub = EventHub()
    fast, slow = hub.subscribe(), hub.subscribe(maxsize=2)
    for i in range(3):
        hub.publish("alert.fired", {"serviceName": "s", "i": i})
    assert [fast.get_nowait().data["i"] for _ in range(3)] == [0, 1, 2]
    assert [slow.get_nowait().data["i"] for _ in range(2)] == [1, 2]
    assert hub.dropped == 1
    hub.unsubscribe(fast)
    hub.unsubscribe(slow)
    assert hub.subscribers == 0


def stats_with(total: int) -> StatsOut:
    return StatsOut(
        metrics=MetricStats(total=total, by_type={}),
        rules=RuleStats(total=0, active=0, by_type={}),
        alerts=AlertStats(total=0, active=0, resolved=0, by_severity={}),
        optimizations=OptimizationStats(total=0, successful=0, failed=0, average_improvement=None),
    )


async def test_stats_cache_fresh_stale_and_single_flight() -> None:
    now = [0.0]
    calls: list[int] = []
    release = asyncio.Event()

    async def compute() -> StatsOut:
        calls.append(1)
        await release.wait()
        return stats_with(len(calls))

    cache = StatsCache(compute, fresh_seconds=2, max_stale_seconds=60, clock=lambda: now[0])
    release.set()
    assert (await cache.get()).stats.metrics.total == 1
    now[0] = 1.5
    assert (await cache.get()).stats.metrics.total == 1  # fresh: no recount
    assert len(calls) == 1

    release.clear()
    now[0] = 10.0  # stale: served at once, one background recount for many callers
    first, second = await cache.get(), await cache.get()
    assert first.stats.metrics.total == second.stats.metrics.total == 1
    await asyncio.sleep(0)  # the recount starts
    assert len(calls) == 2
    release.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert (await cache.get()).stats.metrics.total == 2

    now[0] = 100.0  # too old: the caller waits for the recount
    assert (await cache.get()).stats.metrics.total == 3


async def test_stats_cache_propagates_a_failed_first_count() -> None:
    async def broken() -> StatsOut:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        await StatsCache(broken).get()
