"""Model-based sizing against stored data: `instances: "auto"` on scale actions, the
autoscaler's `mode: model`, and the check of a sizing's prediction once the action is measured."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.actions import repository as actions_repo
from perfpilot.autoscaling.service import effective_config
from perfpilot.models import AutoscalingConfig, OptimizationAction
from perfpilot.rules.service import rule_spec
from perfpilot.sizing.erlang import QUANTILE_OF, QueueModel, Statistic, fewest_instances
from perfpilot.sizing.estimate import CannotSize, Observed, estimate

HISTORY_SECONDS = 3600.0  # where the unqueued latency is read when the service is saturated


@dataclass(frozen=True, slots=True)
class Target:
    latency_ms: float
    statistic: Statistic
    basis: str


@dataclass(frozen=True, slots=True)
class SizingDecision:
    """The right size, or why there is none (`desired` None, `reason` says what is missing)."""

    desired: int | None
    record: dict[str, Any]
    reason: str
    measured: QueueModel | None = None  # λ, μ and S as this window's samples give them
    model: QueueModel | None = None  # what was sized with (μ and S maybe from `steady`)


def statistic_of(aggregation: str | None) -> Statistic:
    """The response-time statistic a rule's aggregation judges: a percentile is that quantile;
    avg and last judge a mean (a latency sample is usually an interval's mean); else p95."""
    if aggregation in QUANTILE_OF:
        return aggregation  # type: ignore[return-value]
    if aggregation in ("avg", "last"):
        return "mean"
    return "p95"


async def target_for(
    session: AsyncSession, *, service_name: str, rule_id: str | None
) -> Target | None:
    """The rule's latency threshold when the rule watches latency, else the autoscaling
    configuration's targetLatency; None when neither exists."""
    if rule_id is not None:
        rule = await actions_repo.get_rule(session, uuid.UUID(rule_id))
        if rule is not None:
            try:
                spec = rule_spec(rule)
            except (KeyError, TypeError, ValueError):
                spec = None
            if spec is not None and spec.metric == "latency" and spec.operator in ("gt", "gte"):
                return Target(
                    spec.threshold, statistic_of(spec.aggregation), "rule latency threshold"
                )
    return config_target(await effective_config(session, service_name))


def config_target(config: AutoscalingConfig) -> Target | None:
    """The autoscaling configuration's targetLatency, if it sets one."""
    if config.target_latency is None:
        return None
    statistic: Statistic = config.latency_statistic  # type: ignore[assignment]
    return Target(config.target_latency, statistic, "autoscaling targetLatency")


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


async def _values(
    session: AsyncSession, service: str, metric: str, start: float, end: float
) -> list[float]:
    return await actions_repo.sample_values(
        session, service_name=service, metric_type=metric, start=_ts(start), end=_ts(end)
    )


async def observe(
    session: AsyncSession, *, service_name: str, at: float, window: float, instances: int
) -> Observed:
    """The service's samples the model reads: the last `window` seconds, and an hour of
    latency for the unqueued service time."""
    start = at - window
    return Observed(
        throughput=await _values(session, service_name, "throughput", start, at),
        latency=await _values(session, service_name, "latency", start, at),
        cpu=await _values(session, service_name, "cpu", start, at),
        error_rate=await _values(session, service_name, "error_rate", start, at),
        history_latency=await _values(session, service_name, "latency", at - HISTORY_SECONDS, at),
        instances=instances,
        window_s=window,
    )


async def size_service(
    session: AsyncSession,
    *,
    service_name: str,
    at: float,
    window: float,
    current: int,
    min_instances: int,
    max_instances: int,
    target: Target | None,
    steady: tuple[QueueModel, str] | None = None,
) -> SizingDecision:
    """Fewest instances meeting the target, from the service's measured λ, μ and S; with
    `steady` (a model and its basis), μ and S are that model's: the window spans a change of
    instances, so its own μ would mix two capacities (autoscaling/calibration.py)."""
    if target is None:
        reason = "no target latency (a latency rule's threshold or autoscaling targetLatency)"
        return SizingDecision(None, {"reason": reason}, reason)
    observed = await observe(
        session, service_name=service_name, at=at, window=window, instances=current
    )
    try:
        fitted = estimate(observed)
    except CannotSize as exc:
        return SizingDecision(None, {"reason": str(exc)}, f"cannot size: {exc}")
    model, inputs = fitted.model, dict(fitted.inputs)
    if steady is not None:
        rates, basis = steady
        model = replace(
            model, service_rate=rates.service_rate, service=rates.service, service_s=rates.service_s
        )
        inputs |= {
            "serviceRatePerInstance": rates.service_rate,
            "serviceRateBasis": basis,
            "serviceTimeMs": (rates.service_s or 1.0 / rates.service_rate) * 1000.0,
            "serviceTimeBasis": basis,
        }
    sizing = fewest_instances(
        model,
        target_s=target.latency_ms / 1000.0,
        statistic=target.statistic,
        min_instances=min_instances,
        max_instances=max_instances,
    )
    at_current = model.latency(current, target.statistic)
    record = {
        "inputs": {
            **inputs,
            "targetLatencyMs": target.latency_ms,
            "targetBasis": target.basis,
            "statistic": target.statistic,
            "minInstances": min_instances,
            "maxInstances": max_instances,
        },
        "prediction": {
            "instances": sizing.instances,
            "latencyMs": _ms(sizing.predicted_s),
            "latencyAtCurrentMs": _ms(at_current),
            "utilization": sizing.utilization,
            "meetsTarget": sizing.meets_target,
            "reason": sizing.reason,
        },
    }
    reason = (
        f"M/M/c: lambda {model.arrival:.2f} rps, mu {model.service_rate:.3f} "
        f"rps/instance -> {sizing.instances} instances, predicted {target.statistic} "
        f"{_fmt(sizing.predicted_s)} vs target {target.latency_ms:g} ms ({sizing.reason})"
    )
    return SizingDecision(sizing.instances, record, reason, fitted.model, model)


def _ms(seconds: float) -> float | None:
    return seconds * 1000.0 if math.isfinite(seconds) else None


def _fmt(seconds: float) -> str:
    return f"{seconds * 1000.0:.0f} ms" if math.isfinite(seconds) else "unbounded"


def _statistic_value(values: list[float], statistic: str) -> float:
    if statistic == "mean":
        return math.fsum(values) / len(values)
    ordered = sorted(values)
    rank = QUANTILE_OF[statistic] * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


async def verify_prediction(
    session: AsyncSession, action: OptimizationAction, *, start: datetime, end: datetime
) -> None:
    """Store the measured latency statistic beside the sizing's prediction (the impact check
    calls this with the action's measurement window)."""
    sizing = dict(action.sizing or {})
    prediction = sizing.get("prediction") or {}
    statistic = str((sizing.get("inputs") or {}).get("statistic", "mean"))
    if not prediction:
        return
    values = await actions_repo.sample_values(
        session,
        service_name=action.service_name,
        metric_type="latency",
        start=start,
        end=end,
    )
    predicted = prediction.get("latencyMs")
    check: dict[str, Any] = {
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "samples": len(values),
    }
    if len(values) < 3:
        check |= {"measuredLatencyMs": None, "note": "fewer than 3 latency samples"}
    else:
        measured = _statistic_value(values, statistic)
        target = (sizing.get("inputs") or {}).get("targetLatencyMs")
        check |= {
            "measuredLatencyMs": measured,
            "predictedLatencyMs": predicted,
            "relativeError": (measured - predicted) / predicted if predicted else None,
            "metTarget": measured <= target if target is not None else None,
        }
    action.sizing = {**sizing, "verification": check}


@dataclass(frozen=True, slots=True)
class AutoStep:
    """`instances: "auto"` resolved: the step to take (None: skip, `reason` says why)."""

    parameters: dict[str, Any] | None
    record: dict[str, Any]
    reason: str


async def resolve_auto(
    session: AsyncSession,
    *,
    service_name: str,
    action_type: str,
    parameters: dict[str, Any],
    rule_id: str | None,
    at: float,
    window: float,
    current: int,
    min_instances: int,
    max_instances: int,
) -> AutoStep:
    """The step of a scale action with `instances: "auto"`: to the model's size, in one step,
    only in the action's direction."""
    target = await target_for(session, service_name=service_name, rule_id=rule_id)
    decision = await size_service(
        session,
        service_name=service_name,
        at=at,
        window=window,
        current=current,
        min_instances=min_instances,
        max_instances=max_instances,
        target=target,
    )
    desired = decision.desired
    if desired is None:
        return AutoStep(None, decision.record, decision.reason)
    growing = action_type == "scale_up"
    if (growing and desired <= current) or (not growing and desired >= current):
        reason = f"model: {desired} instances meet the target, the service has {current}"
        return AutoStep(None, decision.record, reason)
    return AutoStep(
        {**parameters, "instances": abs(desired - current)}, decision.record, decision.reason
    )
