"""A p95 over a histogram series vs over raw samples carrying the same requests (issue 11).

    .venv/bin/python bench/histograms.py [--rate 200] [--minutes 30] [--repeats 3]

One service answers --rate requests/s for --minutes minutes; latencies are log-normal
(median 180 ms, 10 % slow tail around 2 s). The same requests reach the engine two ways:
- raw: one sample per request (what a client pushing every latency sends);
- histogram: one histogram sample per 10 s interval, in the buckets vLLM uses for
  e2e_request_latency_seconds (converted to ms), as OTLP or a scrape delivers them.
Each way feeds a fresh EvaluationCore with one rule: p95 latency over 300 s, never firing.
Printed per way (best of --repeats): the engine time to ingest and evaluate everything, the
time of one p95 over the last window computed from scratch (sort + percentile_cont for raw
values, merge + histogram_quantile for histograms), and the rule's p95 at the end, next to the
exact p95 of the requests in that window. Ratios are of the two ways in the same run.
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import time
from collections.abc import Callable

from perfpilot.engine.core import EvaluationCore
from perfpilot.engine.histograms import Histogram, histogram_aggregate, series_aggregate
from perfpilot.engine.state_machine import RuleSpec
from perfpilot.engine.windows import Sample, percentile_cont

SERVICE = "chat"
WINDOW = 300.0
INTERVAL = 10.0
START = 1_800_000_000.0
# vLLM's e2e_request_latency_seconds buckets, in ms
BOUNDS = tuple(
    b * 1000.0
    for b in (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0)
)


def requests(rate: float, minutes: float, seed: int = 11) -> list[tuple[float, float]]:
    """(timestamp, latency ms) of every request, in time order."""
    rng = random.Random(seed)
    count = int(rate * minutes * 60)
    out = []
    for i in range(count):
        slow = rng.random() < 0.10
        latency = rng.lognormvariate(math.log(2000.0 if slow else 180.0), 0.35)
        out.append((START + i / rate, latency))
    return out


def as_histograms(points: list[tuple[float, float]]) -> list[Sample]:
    """One histogram sample per INTERVAL, stamped with the interval's end."""
    intervals: dict[int, list[float]] = {}
    for ts, latency in points:
        intervals.setdefault(int((ts - START) // INTERVAL), []).append(latency)
    samples = []
    for k in sorted(intervals):
        values = intervals[k]
        counts = [0] * (len(BOUNDS) + 1)
        for v in values:
            counts[bisect.bisect_left(BOUNDS, v)] += 1  # bucket i holds (b[i-1], b[i]]
        histogram = Histogram(BOUNDS, tuple(counts), math.fsum(values), len(values))
        end = START + (k + 1) * INTERVAL
        samples.append(
            Sample(SERVICE, "latency", histogram.sum / len(values), end, histogram=histogram)
        )
    return samples


def core_with_rule() -> EvaluationCore:
    core = EvaluationCore()
    core.upsert_rule(
        RuleSpec(
            rule_id="p95",
            name="p95 latency",
            service_name=SERVICE,
            metric="latency",
            operator="gt",
            threshold=1e12,  # never fires: the bench measures evaluation, not alerting
            aggregation="p95",
            window=WINDOW,
        )
    )
    return core


def best(repeats: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeats))


def ingest_seconds(samples: list[Sample], repeats: int) -> tuple[float, EvaluationCore]:
    """Best time for a fresh core to take every sample, in the runner's groups of 1,000,
    evaluating the rule on each; and the core of the last run."""
    cores: list[EvaluationCore] = []

    def run() -> float:
        core = core_with_rule()
        cores.append(core)
        started = time.perf_counter()
        for i in range(0, len(samples), 1000):
            assert not core.evaluate_batch(samples[i : i + 1000])
        return time.perf_counter() - started

    return best(repeats, run), cores[-1]


def cold_p95_seconds(compute: Callable[[], float | None], repeats: int) -> float:
    """One p95 over the window from scratch (what a report or a restarted engine does)."""
    rounds = 20

    def run() -> float:
        started = time.perf_counter()
        for _ in range(rounds):
            compute()
        return (time.perf_counter() - started) / rounds

    return best(repeats, run)


def value_at(core: EvaluationCore, now: float) -> float:
    """The rule's p95 as the engine evaluates it at `now`."""
    series = core.series(SERVICE, "latency")
    assert series is not None
    value = series_aggregate(series.window, series.histograms, "p95", span=WINDOW, now=now)
    assert value is not None
    return value


def bucket_of(value: float) -> str:
    i = bisect.bisect_left(BOUNDS, value)
    low = BOUNDS[i - 1] if i else 0.0
    high = BOUNDS[i] if i < len(BOUNDS) else math.inf
    return f"({low:g}, {high:g}] ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    points = requests(args.rate, args.minutes)
    raw = [Sample(SERVICE, "latency", v, ts) for ts, v in points]
    histograms = as_histograms(points)
    now = histograms[-1].ts
    window_values = [v for ts, v in points if now - WINDOW < ts <= now]
    window_histograms = [
        s.histogram for s in histograms if now - WINDOW < s.ts <= now and s.histogram is not None
    ]
    exact = percentile_cont(sorted(window_values), 0.95)
    print(
        f"{len(points):,} requests at {args.rate:g}/s over {args.minutes:g} min; rule: p95 over "
        f"{WINDOW:g} s ({len(window_values):,} requests, {len(window_histograms)} histogram "
        f"samples in the last window); best of {args.repeats}"
    )
    raw_ingest, raw_core = ingest_seconds(raw, args.repeats)
    h_ingest, h_core = ingest_seconds(histograms, args.repeats)
    raw_cold = cold_p95_seconds(lambda: percentile_cont(sorted(window_values), 0.95), args.repeats)
    h_cold = cold_p95_seconds(lambda: histogram_aggregate("p95", window_histograms), args.repeats)
    raw_p95, h_p95 = value_at(raw_core, now), value_at(h_core, now)
    for name, count, ingest, cold, p95 in (
        ("raw samples", len(raw), raw_ingest, raw_cold, raw_p95),
        ("histograms", len(histograms), h_ingest, h_cold, h_p95),
    ):
        print(
            f"  {name:<12} {count:>9,} samples  ingest+evaluate {ingest * 1000:9.1f} ms  "
            f"one cold p95 {cold * 1e6:9.1f} us  p95 {p95:8.1f} ms"
        )
    print(
        f"  raw/histogram: ingest+evaluate {raw_ingest / h_ingest:,.0f}x, "
        f"one cold p95 {raw_cold / h_cold:,.1f}x"
    )
    print(
        f"  exact p95 of the window's requests {exact:.1f} ms: raw samples "
        f"{(raw_p95 - exact) / exact:+.2%}, histogram {(h_p95 - exact) / exact:+.2%} "
        f"(linear inside the {bucket_of(exact)} bucket)"
    )


if __name__ == "__main__":
    main()
