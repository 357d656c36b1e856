"""The report tests' data set, its figures worked out by hand.

The data set (period [S, E) = [T0 + 20 s, T0 + 3630 s), T0 a whole minute two days ago):
- latency: 100, 200, ..., 1900 and 5000 ms, one per minute at T0 + 60 i + 25 s (n = 20);
- throughput (rps), minute by minute from T0: m0: 10 and 20 (m0 clipped to 40 s by S),
  m1: 30, m4: 40, m10: 50, m60: 60 (clipped to 30 s by E); 1000 at T0 + 10 s (before S) and
  999 at T0 + 3640 s (after E) are outside. Integration: 15x40 + 30x60 + 30x120 (m2-m3, a
  180 s gap, held) + 40x60 (m5-m9 not held: 360 s > 300 s) + 50x60 + 60x30 = 13,200
  requests over 370 s, so an average of 13,200 / 370 rps;
- accuracy 0.5/0.75/1.0, cost 0.25/0.5/0.125, memory 512 mb and 1 gb, cpu 10..28 (10
  samples), error_rate 0.25/0.75, success_rate 0.5/1.0;
- previous period: ten latency samples of 1000 ms (the trend: 1000 -> 1200 ms, 20 % worse);
- alerts (seed_alerts_and_actions): rule "Flappy latency" fired 5 times in the period, 4 of
  them resolved after 30 s (noisy); "Steady latency" once (high, 2 h); one alert before S and
  one of another service do not count: 5 medium + 1 high;
- actions: scale_up improved +25 %, +50 %, worsened -12.5 % (mean +20.8 %), one skipped;
  cache_clear no change 0 % and +1 % on memory (did not help); fallback not measured yet;
  retry failed; one after E; the service runs 6 instances with cpu averaging 19 % (idle).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import LiveServer
from tests.integration.seed_rows import action, add_rows, alert, state

SERVICE = "ai-chat-service"


def sample(metric: str, value: float, when: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "serviceName": SERVICE,
        "metricType": metric,
        "value": value,
        "timestamp": when.isoformat(),
        **extra,
    }


def base_minute() -> datetime:
    return (datetime.now(UTC) - timedelta(days=2)).replace(second=0, microsecond=0)


async def seed_period(s: LiveServer, t0: datetime) -> tuple[datetime, datetime]:
    def at(seconds: float) -> datetime:
        return t0 + timedelta(seconds=seconds)

    latencies = [100.0 * (i + 1) for i in range(19)] + [5000.0]
    samples = [sample("latency", v, at(60 * i + 25)) for i, v in enumerate(latencies)]
    for seconds, rps in [(10, 1000), (30, 10), (50, 20), (60, 30), (250, 40), (600, 50)]:
        samples.append(sample("throughput", rps, at(seconds)))
    samples += [sample("throughput", 60, at(3610)), sample("throughput", 999, at(3640))]
    samples += [sample("accuracy", v, at(100 + i)) for i, v in enumerate([0.5, 0.75, 1.0])]
    samples += [sample("cost", v, at(200 + i)) for i, v in enumerate([0.25, 0.5, 0.125])]
    samples += [sample("memory", 512, at(300)), sample("memory", 1, at(301), unit="gb")]
    samples += [sample("cpu", 10 + 2 * i, at(400 + i)) for i in range(10)]
    samples += [sample("error_rate", 0.25, at(500)), sample("error_rate", 0.75, at(501))]
    samples += [sample("success_rate", 0.5, at(502)), sample("success_rate", 1.0, at(503))]
    # the previous period of equal length ends at S: ten samples of 1000 ms
    samples += [sample("latency", 1000, at(-1000 - 60 * i)) for i in range(10)]
    # another service's samples never count
    samples.append({**sample("latency", 99999, at(700)), "serviceName": "other-service"})
    await s.push(*samples)
    return at(20), at(3630)


async def make_rule(s: LiveServer, name: str, **condition: Any) -> str:
    body = {
        "name": name,
        "serviceName": SERVICE,
        # never true on this data: the engine must not add alerts of its own
        "condition": {"metric": "latency", "operator": "gt", "threshold": 1e12, **condition},
        "action": {"type": "scale_up", "priority": "medium"},
    }
    response = await s.client.post(s.api("/rules"), json=body, headers=s.auth())
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


async def seed_alerts_and_actions(s: LiveServer, t0: datetime) -> None:
    flappy = await make_rule(s, "Flappy latency", duration=0, keepFiringFor=0)
    steady = await make_rule(s, "Steady latency", duration=60)

    def at(seconds: float) -> datetime:
        return t0 + timedelta(seconds=seconds)

    rows: list[Any] = [
        alert(SERVICE, at=at(100 + 60 * i), severity="medium", rule_id=flappy, resolved_after=30)
        for i in range(4)
    ]
    rows.append(alert(SERVICE, at=at(500), severity="medium", rule_id=flappy))  # still open
    rows.append(alert(SERVICE, at=at(900), severity="high", rule_id=steady, resolved_after=7200))
    rows.append(alert(SERVICE, at=at(0), severity="critical", rule_id=steady, resolved_after=5))
    rows.append(alert("other-service", at=at(900), severity="critical"))
    rows += [
        action(SERVICE, "scale_up", at=at(1000), outcome="improved", impact=0.25),
        action(SERVICE, "scale_up", at=at(1100), outcome="improved", impact=0.5),
        action(SERVICE, "scale_up", at=at(1200), outcome="worsened", impact=-0.125),
        action(SERVICE, "scale_up", at=at(1300), status="skipped"),
        action(SERVICE, "cache_clear", at=at(1400), metric="memory", outcome="no_change", impact=0),
        action(
            SERVICE, "cache_clear", at=at(1500), metric="memory", outcome="no_change", impact=0.01
        ),
        action(SERVICE, "fallback", at=at(1600)),
        action(SERVICE, "retry", at=at(1700), status="failed"),
        action(SERVICE, "scale_up", at=at(4000), outcome="improved", impact=0.9),  # after E
        state(SERVICE, instances=6),
    ]
    await add_rows(s, *rows)


async def post_report(s: LiveServer, body: dict[str, Any], role: str = "operator") -> Any:
    return await s.client.post(s.api("/reports"), json=body, headers=s.auth(role))


def custom(start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "serviceName": SERVICE,
        "reportType": "custom",
        "period": {"start": start.isoformat(), "end": end.isoformat()},
    }
