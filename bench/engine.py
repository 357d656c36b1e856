"""Rule engine throughput by rule count (issue 10 item 4), the evaluation core alone.

    .venv/bin/python bench/engine.py [--samples 200000] [--repeats 3]

Feeds the same samples (20 services x 8 metric types, 10,000 per batch, as bench/workload.py)
to a fresh EvaluationCore with 0, 100 and 1,000 never-firing rules, and prints evaluated
samples/s and the ratio to the 0-rule figure measured in the same run. Two rule sets:
- wildcard: every rule matches every service (serviceName null), `last`, spread over the eight
  types: the rules bench/alerts.py creates;
- mixed: 90 % of the rules name one of the 20 services, 10 % match every service; `last`,
  `avg`, `p95`, `max` over 60 s or 300 s windows.
Best of --repeats runs per figure (this machine's timings move by tens of percent).
"""

from __future__ import annotations

import argparse
import random
import time

from perfpilot.engine.core import EvaluationCore
from perfpilot.engine.state_machine import RuleSpec
from perfpilot.engine.windows import Sample
from perfpilot.metrics.units import SEED_METRIC_TYPES as METRIC_TYPES

SERVICES = [f"ai-service-{i:02d}" for i in range(20)]
BATCH = 10_000
AGGREGATIONS = [("last", 60.0), ("avg", 60.0), ("p95", 300.0), ("max", 300.0)]


def make_samples(count: int, seed: int = 7) -> list[list[Sample]]:
    rng = random.Random(seed)
    start = 1_800_000_000.0
    samples = [
        Sample(
            rng.choice(SERVICES), rng.choice(METRIC_TYPES), rng.uniform(0.0, 1.0), start + i / 2000
        )
        for i in range(count)
    ]
    return [samples[i : i + BATCH] for i in range(0, count, BATCH)]


def make_rules(kind: str, count: int) -> list[RuleSpec]:
    rules = []
    for i in range(count):
        aggregation, window = ("last", 60.0) if kind == "wildcard" else AGGREGATIONS[i % 4]
        specific = kind == "mixed" and i % 10 != 0
        rules.append(
            RuleSpec(
                rule_id=f"rule-{i:05d}",
                name=f"bench rule {i}",
                service_name=SERVICES[(i // 8) % len(SERVICES)] if specific else None,
                metric=METRIC_TYPES[i % len(METRIC_TYPES)],
                operator="gt" if i % 3 else "lt",
                threshold=1e15 if i % 3 else -1e15,  # never fires
                aggregation=aggregation,
                window=window,
            )
        )
    return rules


def run(batches: list[list[Sample]], rules: list[RuleSpec]) -> float:
    core = EvaluationCore()
    for spec in rules:
        core.upsert_rule(spec)
    started = time.perf_counter()
    fired = 0
    for batch in batches:
        fired += len(core.evaluate_batch(batch))
    elapsed = time.perf_counter() - started
    assert fired == 0, "bench rules must never fire"
    return sum(len(b) for b in batches) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    batches = make_samples(args.samples)
    print(f"{args.samples:,} samples, batches of {BATCH:,}, best of {args.repeats}")
    print(f"{'rules':>10} {'count':>6} {'samples/s':>12} {'vs 0 rules':>10}")
    for kind in ("wildcard", "mixed"):
        baseline = 0.0
        for count in (0, 100, 1000):
            rules = make_rules(kind, count)
            rate = max(run(batches, rules) for _ in range(args.repeats))
            baseline = baseline or rate
            print(f"{kind:>10} {count:>6} {rate:>12,.0f} {rate / baseline:>10.2f}")


if __name__ == "__main__":
    main()
