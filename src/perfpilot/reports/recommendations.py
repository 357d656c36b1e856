"""Recommendations derived from a report's data; each one carries the figures it rests on.

Four kinds, each emitted only when the data shows it:
- trend: a metric's mean got worse by >= 10 % against the previous period of equal length
  (both periods with >= 10 samples), in the metric's good direction;
- noisy_rule: a rule fired >= 5 times and at least half of those alerts resolved within 5 min
  (flapping: it needs a duration, keepFiringFor or a resolveThreshold);
- ineffective_action: an action type measured >= 2 times on a metric with a mean impact below
  +2 % (DESIGN's "improved" threshold);
- idle_capacity: the autoscaling metric averaged below scaleDownThreshold and never reached
  targetUtilization, while the service runs more than minInstances.
With no sample in the period there is one `no_data` entry with the counts, nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from perfpilot.metrics.units import REGISTRY, improvement
from perfpilot.reports.optimizations import IMPROVED_AT, MIN_MEASURED, tally
from perfpilot.reports.repository import ActionGroup, RuleFirings
from perfpilot.reports.schemas import RecommendationOut

TREND_MIN_SAMPLES = 10
TREND_WORSE = 0.10
NOISY_MIN_FIRINGS = 5
SHORT_ALERT_SECONDS = 300.0
NOISY_SHORT_SHARE = 0.5
IDLE_MIN_SAMPLES = 10

_TREND_HINTS = {
    "latency": "check saturation and recent model or traffic changes; scaling up or a "
    "fallback model are the usual levers",
    "throughput": "check for lost traffic or upstream failures",
    "accuracy": "review recent model switches and fallbacks",
    "cost": "review the model mix and cache hit rate",
    "memory": "look for leaks or larger models; consider a cache clear",
    "cpu": "check load growth; scale up before it saturates",
    "error_rate": "inspect failing requests; a retry policy or fallback may help",
    "success_rate": "inspect failing requests; a retry policy or fallback may help",
    "ttft": "check queueing and prefill load (queue_depth, kv_cache_usage); scale up or "
    "route long prompts elsewhere",
    "tpot": "check batch size and GPU saturation; scale up or switch to a smaller model",
    "tokens_per_second": "check GPU saturation and batch settings",
    "queue_depth": "capacity is short of demand: scale up",
    "kv_cache_usage": "long contexts or too many concurrent requests: scale up or cap them",
}
_DEFAULT_HINT = "look at what changed in the service since the previous period"


@dataclass(frozen=True, slots=True)
class TypeFigures:
    """A metric type over a period: sample count, mean (throughput: time-weighted), max."""

    count: int
    mean: float | None
    maximum: float | None


@dataclass(frozen=True, slots=True)
class CapacityFacts:
    metric: str
    scale_down_threshold: float
    target_utilization: float
    min_instances: int
    instances: int | None


@dataclass(frozen=True, slots=True)
class ReportFacts:
    service_name: str
    period_seconds: float
    previous_start: datetime
    previous_end: datetime
    current: Mapping[str, TypeFigures]
    previous: Mapping[str, TypeFigures]
    firings: Sequence[RuleFirings]
    actions: Sequence[ActionGroup]
    capacity: CapacityFacts | None
    alerts: int


def _rec(kind: str, message: str, evidence: dict[str, object]) -> RecommendationOut:
    return RecommendationOut(kind=kind, message=message, evidence=evidence)


def trends(facts: ReportFacts) -> list[RecommendationOut]:
    out = []
    days = facts.period_seconds / 86400
    for metric in REGISTRY.names():
        now, before = facts.current.get(metric), facts.previous.get(metric)
        if now is None or before is None:
            continue
        if min(now.count, before.count) < TREND_MIN_SAMPLES:
            continue
        if now.mean is None or before.mean is None:
            continue
        change = improvement(metric, before=before.mean, after=now.mean)
        if change is None or change > -TREND_WORSE:
            continue
        unit = REGISTRY[metric].canonical
        out.append(
            _rec(
                "trend",
                f"{metric} of {facts.service_name} got {-change:.1%} worse than in the previous "
                f"{days:g} days (mean {before.mean:.6g} -> {now.mean:.6g} {unit}): "
                f"{_TREND_HINTS.get(metric, _DEFAULT_HINT)}",
                {
                    "metricType": metric,
                    "unit": unit,
                    "current": now.mean,
                    "previous": before.mean,
                    "change": change,
                    "currentSamples": now.count,
                    "previousSamples": before.count,
                    "previousPeriod": {
                        "start": facts.previous_start.isoformat(),
                        "end": facts.previous_end.isoformat(),
                    },
                },
            )
        )
    return out


def noisy_rules(facts: ReportFacts) -> list[RecommendationOut]:
    out = []
    days = facts.period_seconds / 86400
    for f in facts.firings:
        if f.firings < NOISY_MIN_FIRINGS or f.short_lived < NOISY_SHORT_SHARE * f.firings:
            continue
        duration = float(f.condition.get("duration", 0) or 0)
        keep = float(f.condition.get("keepFiringFor", 0) or 0)
        out.append(
            _rec(
                "noisy_rule",
                f"Rule {f.name!r} fired {f.firings} times ({f.firings / days:.1f} a day) and "
                f"{f.short_lived} of those alerts resolved within {SHORT_ALERT_SECONDS:g}s: "
                f"it flaps. Raise its duration (now {duration:g}s) or keepFiringFor (now "
                f"{keep:g}s), or set a resolveThreshold for hysteresis",
                {
                    "ruleId": str(f.rule_id),
                    "ruleName": f.name,
                    "firings": f.firings,
                    "firingsPerDay": f.firings / days,
                    "shortLived": f.short_lived,
                    "shortLivedSeconds": SHORT_ALERT_SECONDS,
                    "resolved": f.resolved,
                    "meanDurationSeconds": f.mean_duration_seconds,
                    "duration": duration,
                    "keepFiringFor": keep,
                },
            )
        )
    return out


def ineffective_actions(facts: ReportFacts) -> list[RecommendationOut]:
    out = []
    tallies = tally(facts.actions, by_metric=True)
    for key, t in sorted(tallies.items()):
        action_type, metric = key.split(":", 1)
        impact = t.impact
        if impact is None or t.measured < MIN_MEASURED or impact >= IMPROVED_AT:
            continue
        # another action type that measurably improved the same metric in the period
        helped = [
            (other.split(":", 1)[0], o)
            for other, o in tallies.items()
            if other.endswith(f":{metric}") and o.impact is not None and o.impact >= IMPROVED_AT
        ]
        better = max(helped, key=lambda kv: kv[1].impact or 0.0) if helped else None
        advice = "Review the rules that trigger it or choose another action"
        if better is not None:
            advice = (
                f"{better[0]} improved it by {better[1].impact or 0.0:+.1%} over "
                f"{better[1].measured} measured ({better[1].improved} improved): prefer it"
            )
            if action_type == "scale_up" and better[0] in ("model_switch", "fallback"):
                advice += ", change the model rather than add instances"
        out.append(
            _rec(
                "ineffective_action",
                f"{action_type} did not measurably improve {metric} of {facts.service_name}: "
                f"mean impact {impact:+.1%} over {t.measured} measured executions "
                f"({t.improved} improved, {t.no_change} no change, {t.worsened} worsened). "
                f"{advice}",
                {
                    "actionType": action_type,
                    "metricType": metric,
                    "measured": t.measured,
                    "improved": t.improved,
                    "noChange": t.no_change,
                    "worsened": t.worsened,
                    "meanImpact": impact,
                }
                | (
                    {}
                    if better is None
                    else {
                        "better": {
                            "actionType": better[0],
                            "meanImpact": better[1].impact,
                            "measured": better[1].measured,
                            "improved": better[1].improved,
                        }
                    }
                ),
            )
        )
    return out


def idle_capacity(facts: ReportFacts) -> list[RecommendationOut]:
    cap = facts.capacity
    if cap is None:
        return []
    stats = facts.current.get(cap.metric)
    if stats is None or stats.count < IDLE_MIN_SAMPLES or stats.maximum is None:
        return []
    mean = stats.mean
    if mean is None or mean >= cap.scale_down_threshold or stats.maximum >= cap.target_utilization:
        return []
    if cap.instances is not None and cap.instances <= cap.min_instances:
        return []
    suggested = None
    if cap.instances is not None:  # the HPA formula the autoscaler uses
        wanted = math.ceil(cap.instances * mean / cap.target_utilization)
        suggested = max(cap.min_instances, wanted)
    unit = REGISTRY[cap.metric].canonical if cap.metric in REGISTRY else ""
    running = f" on {cap.instances} instances" if cap.instances is not None else ""
    fewer = f"; {suggested} would do" if suggested is not None else ""
    return [
        _rec(
            "idle_capacity",
            f"{facts.service_name} is over-provisioned{running}: {cap.metric} averaged "
            f"{mean:.3g} {unit} (max {stats.maximum:.3g}), below the scale-down threshold "
            f"{cap.scale_down_threshold:g} and never near the target "
            f"{cap.target_utilization:g}{fewer}",
            {
                "metric": cap.metric,
                "average": mean,
                "maximum": stats.maximum,
                "samples": stats.count,
                "scaleDownThreshold": cap.scale_down_threshold,
                "targetUtilization": cap.target_utilization,
                "instances": cap.instances,
                "minInstances": cap.min_instances,
                "suggestedInstances": suggested,
            },
        )
    ]


def recommend(facts: ReportFacts) -> list[RecommendationOut]:
    samples = sum(s.count for s in facts.current.values())
    if samples == 0:
        previous = sum(s.count for s in facts.previous.values())
        return [
            _rec(
                "no_data",
                f"No samples from {facts.service_name} in this period "
                f"({previous} in the previous one): nothing to recommend",
                {"samples": 0, "previousPeriodSamples": previous, "alerts": facts.alerts},
            )
        ]
    return [
        *trends(facts),
        *noisy_rules(facts),
        *ineffective_actions(facts),
        *idle_capacity(facts),
    ]
