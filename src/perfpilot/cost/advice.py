"""A cheaper model that the service's rules allow: its measured latency and accuracy (samples
labelled with it in the last 30 days, else a past model_switch's measured value) must not make
the service's latency/accuracy rules fire; the saving is the current model's token volume
priced at both prices, scaled from the period to a 30-day month."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.cost import repository
from perfpilot.cost.prices import price_table
from perfpilot.cost.schemas import ModelCost
from perfpilot.cost.service import priced
from perfpilot.engine.state_machine import RuleSpec
from perfpilot.engine.windows import percentile_cont
from perfpilot.rules import repository as rules_repo
from perfpilot.rules.service import rule_spec

HISTORY = timedelta(days=30)
MONTH_SECONDS = 30 * 86400.0
MIN_SAMPLES = 3
QUALITY_METRICS = ("latency", "accuracy")
FIRES: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": lambda a, b: abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0),
}
PERCENTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


def _aggregate(values: list[float], aggregation: str) -> tuple[float, str]:
    """The rule's aggregate over a model's samples; sum/count/last read as the mean."""
    ordered = sorted(values)
    if aggregation in PERCENTILES:
        return percentile_cont(ordered, PERCENTILES[aggregation]), aggregation
    if aggregation == "min":
        return ordered[0], "min"
    if aggregation == "max":
        return ordered[-1], "max"
    return sum(values) / len(values), "avg"


async def _quality_rules(session: AsyncSession, service_name: str) -> list[RuleSpec]:
    specs = []
    for metric in QUALITY_METRICS:
        for rule in await rules_repo.list_rules(session, is_active=True, metric_type=metric):
            if rule.service_name not in (None, service_name):
                continue
            try:
                specs.append(rule_spec(rule))
            except (KeyError, TypeError, ValueError):
                continue  # a stored rule the engine cannot read constrains nothing
    return specs


async def _evidence(
    session: AsyncSession,
    spec: RuleSpec,
    series: dict[str, list[int]],
    switches: list[Any],
    *,
    start: datetime,
    end: datetime,
) -> dict[str, Any] | None:
    """What is known of the candidate against one rule, or None when nothing is."""
    values = await repository.values(session, series.get(spec.metric, []), start, end)
    if len(values) >= MIN_SAMPLES:
        value, aggregation = _aggregate(values, spec.aggregation)
        source: dict[str, Any] = {"basis": "history", "samples": len(values)}
    else:
        switch = next((a for a in switches if a.metric_type == spec.metric), None)
        if switch is None or switch.measured_value is None:
            return None
        value, aggregation = float(switch.measured_value), switch.aggregation or "avg"
        source = {"basis": "model_switch", "actionId": str(switch.id)}
    return {
        "rule": spec.name,
        "ruleId": spec.rule_id,
        "metric": spec.metric,
        "aggregation": aggregation,
        "value": value,
        "operator": spec.operator,
        "threshold": spec.threshold,
        "meets": not FIRES[spec.operator](value, spec.threshold),
        **source,
    }


async def cheaper_model(
    session: AsyncSession,
    service_name: str,
    costs: list[ModelCost],
    *,
    current_model: str | None,
    start: datetime,
    end: datetime,
) -> dict[str, Any] | None:
    """A `cheaper_model` recommendation (kind, message, evidence), or None."""
    current = next((c for c in costs if c.model == current_model and c.cost), None)
    if current is None:
        current = max((c for c in costs if c.cost), key=lambda c: c.cost or 0.0, default=None)
    if current is None or current.cost is None:
        return None
    specs = await _quality_rules(session, service_name)
    if not specs:
        return None  # nothing says what quality the service needs: no advice to cut it
    series = await repository.model_series(session, service_name)
    all_switches = await repository.measured_model_switches(session, service_name)
    period_seconds = (end - start).total_seconds()
    best: dict[str, Any] | None = None
    for model, price in (await price_table(session)).items():
        if model == current.model:
            continue
        would_cost = priced(price, current.input_tokens, current.output_tokens)
        saving = current.cost - would_cost
        if saving <= 0 or (best is not None and saving <= best["periodSaving"]):
            continue
        switches = [a for a in all_switches if (a.parameters or {}).get("model") == model]
        checks = []
        for spec in specs:
            found = await _evidence(
                session, spec, series.get(model, {}), switches, start=end - HISTORY, end=end
            )
            if found is None or not found["meets"]:
                break
            checks.append(found)
        else:
            best = {
                "model": model,
                "price": price.model_dump(mode="json", by_alias=True),
                "wouldCost": would_cost,
                "periodSaving": saving,
                "checks": checks,
            }
    if best is None:
        return None
    monthly = best["periodSaving"] * MONTH_SECONDS / period_seconds
    return {
        "kind": "cheaper_model",
        "message": (
            f"Switch {service_name} from {current.model} to {best['model']}: its measured "
            f"latency and accuracy meet the service's rules, and the period's "
            f"{current.input_tokens:.0f} input + {current.output_tokens:.0f} output tokens "
            f"would have cost {best['wouldCost']:.4f} USD instead of {current.cost:.4f} USD: "
            f"about {monthly:.2f} USD saved per 30-day month"
        ),
        "evidence": {
            "currentModel": current.model,
            "currentCost": current.cost,
            "currentCostBasis": current.cost_basis,
            "inputTokens": current.input_tokens,
            "outputTokens": current.output_tokens,
            "candidate": best["model"],
            "candidatePrice": best["price"],
            "candidateCost": best["wouldCost"],
            "periodSeconds": period_seconds,
            "periodSaving": best["periodSaving"],
            "expectedMonthlySaving": monthly,
            "ruleChecks": best["checks"],
        },
    }
