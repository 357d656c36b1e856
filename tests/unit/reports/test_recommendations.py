"""Each recommendation appears exactly when its evidence says so, at its thresholds."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from perfpilot.reports.optimizations import optimizations
from perfpilot.reports.recommendations import (
    CapacityFacts,
    ReportFacts,
    TypeFigures,
    idle_capacity,
    ineffective_actions,
    noisy_rules,
    recommend,
    trends,
)
from perfpilot.reports.repository import ActionGroup, RuleFirings

END = datetime(2026, 3, 8, tzinfo=UTC)
WEEK = timedelta(days=7)


def stats(count: int, mean: float, maximum: float | None = None) -> TypeFigures:
    return TypeFigures(count, mean, maximum if maximum is not None else mean)


def facts(**changes: object) -> ReportFacts:
    base = ReportFacts(
        service_name="svc",
        period_seconds=WEEK.total_seconds(),
        previous_start=END - 2 * WEEK,
        previous_end=END - WEEK,
        current={"latency": stats(10, 1000)},
        previous={},
        firings=[],
        actions=[],
        capacity=None,
        alerts=0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_trend_in_the_good_direction_of_each_metric() -> None:
    worse = facts(
        current={"latency": stats(10, 1100), "throughput": stats(10, 90), "cpu": stats(10, 50)},
        previous={"latency": stats(10, 1000), "throughput": stats(10, 100), "cpu": stats(10, 50)},
    )
    found = trends(worse)
    assert [r.evidence["metricType"] for r in found] == ["latency", "throughput"]
    assert found[0].evidence["change"] == -0.1
    assert "10.0% worse than in the previous 7 days" in found[0].message
    better = facts(current={"latency": stats(10, 800)}, previous={"latency": stats(10, 1000)})
    assert trends(better) == []
    slight = facts(current={"latency": stats(10, 1099)}, previous={"latency": stats(10, 1000)})
    assert trends(slight) == []
    thin = facts(current={"latency": stats(9, 5000)}, previous={"latency": stats(10, 1000)})
    assert trends(thin) == []


def firing(firings: int, short: int) -> RuleFirings:
    return RuleFirings(
        rule_id=uuid.UUID(int=1),
        name="<b>Flappy</b>",
        condition={"duration": 0, "keepFiringFor": 15},
        firings=firings,
        short_lived=short,
        resolved=short,
        mean_duration_seconds=12.5,
    )


def test_noisy_rules_need_five_firings_and_half_short_lived() -> None:
    assert noisy_rules(facts(firings=[firing(4, 4)])) == []
    assert noisy_rules(facts(firings=[firing(6, 2)])) == []
    [rec] = noisy_rules(facts(firings=[firing(6, 3)]))
    assert rec.evidence["firingsPerDay"] == 6 / 7
    assert rec.evidence["keepFiringFor"] == 15.0
    assert "keepFiringFor (now 15s)" in rec.message


def group(kind: str, metric: str, outcome: str | None, n: int, impact: float) -> ActionGroup:
    measured = n if outcome in ("improved", "worsened", "no_change") else 0
    return ActionGroup(kind, metric, "executed", outcome, n, impact * measured, measured)


def test_ineffective_needs_two_measured_below_two_percent() -> None:
    one = [group("scale_up", "latency", "no_change", 1, 0.0)]
    assert ineffective_actions(facts(actions=one)) == []
    two = [
        group("scale_up", "latency", "no_change", 1, 0.0),
        group("scale_up", "latency", "improved", 1, 0.039),
    ]
    [rec] = ineffective_actions(facts(actions=two))
    assert rec.evidence["meanImpact"] == 0.0195 and rec.evidence["measured"] == 2
    helped = [group("scale_up", "latency", "improved", 2, 0.02)]
    assert ineffective_actions(facts(actions=helped)) == []
    # per metric: the same type helping another metric is judged apart
    mixed = [*two, group("scale_up", "cpu", "improved", 3, 0.5)]
    assert [r.evidence["metricType"] for r in ineffective_actions(facts(actions=mixed))] == [
        "latency"
    ]


def capacity(instances: int | None) -> CapacityFacts:
    return CapacityFacts("cpu", 30.0, 70.0, 2, instances)


def test_idle_capacity() -> None:
    idle = facts(current={"cpu": stats(10, 20, maximum=60)}, capacity=capacity(8))
    [rec] = idle_capacity(idle)
    assert rec.evidence["suggestedInstances"] == 3  # ceil(8 x 20 / 70)
    assert idle_capacity(replace(idle, capacity=capacity(2))) == []  # already at the floor
    assert idle_capacity(replace(idle, current={"cpu": stats(10, 20, maximum=70)})) == []
    assert idle_capacity(replace(idle, current={"cpu": stats(10, 30)})) == []
    assert idle_capacity(replace(idle, current={"cpu": stats(9, 5)})) == []
    [unknown] = idle_capacity(replace(idle, capacity=capacity(None)))
    assert unknown.evidence["suggestedInstances"] is None


def test_no_samples_means_one_no_data_entry() -> None:
    empty = facts(
        current={"latency": TypeFigures(0, None, None)},
        previous={"latency": stats(12, 1)},
        firings=[firing(9, 9)],
        alerts=3,
    )
    [rec] = recommend(empty)
    assert rec.kind == "no_data"
    assert rec.evidence == {"samples": 0, "previousPeriodSamples": 12, "alerts": 3}


def test_optimizations_per_type() -> None:
    groups = [
        group("scale_up", "latency", "improved", 2, 0.3),
        group("scale_up", "latency", "worsened", 1, -0.3),
        ActionGroup("scale_up", "latency", "executed", None, 1, 0.0, 0),
        ActionGroup("scale_up", "latency", "skipped", None, 4, 0.0, 0),
        ActionGroup("retry", None, "failed", None, 1, 0.0, 0),
    ]
    up, retry = optimizations(groups)
    assert (up.type, up.executed, up.skipped, up.pending, up.measured) == ("scale_up", 4, 4, 1, 3)
    assert up.impact == (0.6 - 0.3) / 3
    assert up.recommendation is not None and up.recommendation.startswith("scale_up helps")
    assert (retry.type, retry.failed, retry.impact, retry.recommendation) == (
        "retry",
        1,
        None,
        None,
    )
