"""Cost scenario: the cheaper-model recommendation's predicted saving against the saving
measured after applying it.

    python bench/cost.py            # about 30 s; prints the figures (BENCHMARKS.md "Cost")

One invocation, loopback only: a `perfpilot serve` process on SQLite in a temporary directory.
The service "chat" answers with gpt-4o and sends a 10 % canary share to gpt-4o-mini; both are
priced by the shipped default table (no price is set by the bench). Clients post, per model
and 60 s interval: input_tokens, output_tokens, throughput, latency, accuracy (labels
{model}) and no cost: Perfpilot computes cost from tokens x price. Workload (seeded): arrivals
follow a daily cycle around 6 requests/s (Poisson counts per interval); tokens per request are
log-normal (input mean 800, output mean 250); latency/accuracy per model: gpt-4o 1400 ms / 0.94,
gpt-4o-mini 900 ms / 0.90, with noise. Rules: avg latency > 2000 ms, avg accuracy < 0.88.

Period 1 (before): 12 h ending 12 h ago. A custom report over it gives cost by model and the
recommendation with its expected saving per 30-day month. Applying it: from then on the
client sends gpt-4o's share to the recommended model (period 2, the next 12 h, fresh draws of
the same workload). A report over period 2 gives the measured cost; measured saving per month
= (cost of period 1 - cost of period 2) x 30 days / 12 h, both read from the reports. The ratio
measured / predicted shows how far the period's volume predicted the next one's.
"""

from __future__ import annotations

import math
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from server import API, Server

SERVICE = "chat"
CURRENT, CANARY = "gpt-4o", "gpt-4o-mini"
CANARY_SHARE = 0.10
INTERVAL = 60.0
PERIOD = timedelta(hours=12)
BASE_RPS = 6.0
QUALITY = {CURRENT: (1400.0, 0.94), CANARY: (900.0, 0.90)}
RULES = [
    {"metric": "latency", "operator": "gt", "threshold": 2000, "aggregation": "avg"},
    {"metric": "accuracy", "operator": "lt", "threshold": 0.88, "aggregation": "avg"},
]
MONTH = 30 * 86400.0


def token_sum(rng: random.Random, requests: int, mean: float, sigma: float = 0.6) -> float:
    """Sum of `requests` log-normal token counts with this mean (normal approximation)."""
    if requests == 0:
        return 0.0
    variance = (math.exp(sigma**2) - 1) * mean**2
    return max(0.0, rng.gauss(requests * mean, math.sqrt(requests * variance)))


def poisson(rng: random.Random, mean: float) -> int:
    return max(0, round(rng.gauss(mean, math.sqrt(mean)))) if mean > 30 else _knuth(rng, mean)


def _knuth(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, 1.0
    while p > limit:
        k += 1
        p *= rng.random()
    return k - 1


def interval_samples(
    rng: random.Random, at: datetime, shares: dict[str, float]
) -> list[dict[str, Any]]:
    hour = at.hour + at.minute / 60
    rate = BASE_RPS * (1 + 0.5 * math.sin(2 * math.pi * (hour - 9) / 24))
    out = []
    for model, share in shares.items():
        requests = poisson(rng, rate * share * INTERVAL)
        latency, accuracy = QUALITY[model]
        values = {
            "input_tokens": token_sum(rng, requests, 800.0),
            "output_tokens": token_sum(rng, requests, 250.0),
            "throughput": requests / INTERVAL,
            "latency": latency * math.exp(rng.gauss(0, 0.05)),
            "accuracy": min(1.0, accuracy * math.exp(rng.gauss(0, 0.005))),
        }
        out.extend(
            {
                "serviceName": SERVICE,
                "metricType": metric,
                "value": value,
                "timestamp": at.isoformat(),
                "labels": {"model": model},
            }
            for metric, value in values.items()
        )
    return out


def post_period(
    client: httpx.Client, rng: random.Random, start: datetime, shares: dict[str, float]
) -> None:
    batch: list[dict[str, Any]] = []
    at = start + timedelta(seconds=INTERVAL / 2)
    while at < start + PERIOD:
        batch.extend(interval_samples(rng, at, shares))
        at += timedelta(seconds=INTERVAL)
    for i in range(0, len(batch), 5000):
        r = client.post(f"{API}/metrics/batch", json={"samples": batch[i : i + 5000]})
        r.raise_for_status()


def report(client: httpx.Client, start: datetime) -> dict[str, Any]:
    r = client.post(
        f"{API}/reports",
        json={
            "serviceName": SERVICE,
            "reportType": "custom",
            "period": {"start": start.isoformat(), "end": (start + PERIOD).isoformat()},
        },
    )
    r.raise_for_status()
    data: dict[str, Any] = r.json()["data"]
    return data


def total_cost(data: dict[str, Any]) -> float:
    return math.fsum(c["cost"] or 0.0 for c in data["summary"].get("costByModel", []))


def main() -> None:
    rng = random.Random(15)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    first, second = now - 2 * PERIOD, now - PERIOD
    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp)) as server:
        headers = {"Authorization": f"Bearer {server.token('admin')}"}
        base = f"http://127.0.0.1:{server.port}"
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            for i, condition in enumerate(RULES):
                client.post(
                    f"{API}/rules",
                    json={
                        "name": f"quality {i}",
                        "serviceName": SERVICE,
                        "condition": condition,
                        "action": {"type": "cache_clear"},
                    },
                ).raise_for_status()
            started = time.perf_counter()
            post_period(client, rng, first, {CURRENT: 1 - CANARY_SHARE, CANARY: CANARY_SHARE})
            before = report(client, first)
            advice = [r for r in before["recommendations"] if r["kind"] == "cheaper_model"]
            if not advice:
                sys.exit("no cheaper_model recommendation: nothing to compare")
            evidence = advice[0]["evidence"]
            chosen = evidence["candidate"]
            shares = {CURRENT: 0.0, CANARY: 0.0} | {chosen: 1.0}
            post_period(client, rng, second, {m: s for m, s in shares.items() if s})
            after = report(client, second)
            elapsed = time.perf_counter() - started
    cost_before, cost_after = total_cost(before), total_cost(after)
    scale = MONTH / PERIOD.total_seconds()
    predicted = evidence["expectedMonthlySaving"]
    measured = (cost_before - cost_after) * scale
    per_request = {
        label: [
            (c["model"], c["costPerRequest"], c["costPer1kTokens"])
            for c in data["summary"]["costByModel"]
        ]
        for label, data in (("before", before), ("after", after))
    }
    print(f"cost scenario ({elapsed:.1f} s wall, seed 15, 2 x {PERIOD} of 60 s samples)")
    print(f"  recommendation: {evidence['currentModel']} -> {chosen}")
    for check in evidence["ruleChecks"]:
        print(
            f"    {check['metric']} {check['aggregation']} {check['value']:.3f} vs "
            f"{check['operator']} {check['threshold']:g} "
            f"({check['basis']}, n={check.get('samples')})"
        )
    for label, rows in per_request.items():
        for model, request, tokens in rows:
            print(f"  {label:6} {model:12} USD/request {request:.6f}  USD/1k tokens {tokens:.6f}")
    print(f"  period 1 cost {cost_before:.4f} USD, period 2 cost {cost_after:.4f} USD")
    print(f"  predicted saving  {predicted:10.2f} USD / 30 days")
    print(f"  measured saving   {measured:10.2f} USD / 30 days")
    print(f"  measured / predicted = {measured / predicted:.3f}")


if __name__ == "__main__":
    main()
