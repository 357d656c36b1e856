"""Rules: defaults, unit conversion, per-type validation, and the engine's view of a rule."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.core.errors import InvalidField, NotFound, validation_details
from perfpilot.engine.selectors import selector
from perfpilot.engine.state_machine import (
    Anomaly,
    Direction,
    RuleSpec,
    resolve_threshold_error,
)
from perfpilot.forecast.anomaly import AnomalyBands, Band
from perfpilot.metrics.units import REGISTRY, UnitError, bound_error, conversion_factor
from perfpilot.models import OptimizationRule
from perfpilot.rules import repository
from perfpilot.rules.parameters import normalise_parameters
from perfpilot.rules.schemas import (
    ActionIn,
    ActionOut,
    AnomalyPairOut,
    AnomalyStatusOut,
    ConditionIn,
    ConditionOut,
    RuleIn,
    RuleOut,
    RuleUpdate,
)

REVERT_BY_DEFAULT = frozenset({"fallback", "model_switch"})


def stored_condition(condition: ConditionIn) -> dict[str, Any]:
    """Every default filled in; thresholds converted to the metric's canonical unit."""
    if condition.operator == "anomalous":  # no threshold: judged on its excess over a band
        return ConditionOut(
            metric=condition.metric,
            operator="anomalous",
            threshold=0.0,
            sensitivity=condition.sensitivity,
            direction=condition.direction,
            unit=REGISTRY[condition.metric].canonical,
            duration=condition.duration,
            aggregation=condition.aggregation,
            window=condition.window,
            resolve_threshold=0.0,
            keep_firing_for=condition.keep_firing_for,
            no_data=condition.no_data,
        ).model_dump(by_alias=True)
    assert condition.threshold is not None  # ConditionIn requires it for other operators
    try:
        factor = conversion_factor(condition.metric, condition.unit)
    except UnitError as exc:
        raise InvalidField(
            str(exc),
            details=[{"field": "condition.unit", "message": str(exc), "type": "value_error"}],
        ) from None
    threshold = condition.threshold * factor
    resolve = condition.resolve_threshold
    resolve_threshold = threshold if resolve is None else resolve * factor
    _check_bounds(
        threshold=threshold, resolve_threshold=None if resolve is None else resolve_threshold
    )
    problem = resolve_threshold_error(condition.operator, threshold, resolve_threshold)
    if problem:
        raise InvalidField(
            problem,
            details=[
                {"field": "condition.resolveThreshold", "message": problem, "type": "value_error"}
            ],
        )
    return ConditionOut(
        metric=condition.metric,
        operator=condition.operator,
        threshold=threshold,
        unit=REGISTRY[condition.metric].canonical,
        duration=condition.duration,
        aggregation=condition.aggregation,
        window=condition.window,
        resolve_threshold=resolve_threshold,
        keep_firing_for=condition.keep_firing_for,
        no_data=condition.no_data,
        matchers=[m.model_dump() for m in condition.matchers],
        group_by=sorted(set(condition.group_by)),
    ).model_dump(by_alias=True)


def _check_bounds(*, threshold: float, resolve_threshold: float | None) -> None:
    """422 naming each threshold that is not finite or beyond the bound once canonical:
    such a rule would be stored but could never be evaluated."""
    details = [
        {"field": f"condition.{name}", "message": problem, "type": "value_error", "in": "body"}
        for name, value in (("threshold", threshold), ("resolveThreshold", resolve_threshold))
        if value is not None and (problem := bound_error(value)) is not None
    ]
    if details:
        fields = ", ".join(d["field"] for d in details)
        raise InvalidField(f"{fields}: {details[0]['message']}", details=details)


def stored_action(action: ActionIn) -> dict[str, Any]:
    revert = action.revert_on_resolve
    return ActionOut(
        type=action.type,
        parameters=normalise_parameters(action.type, action.parameters),
        priority=action.priority,
        cooldown=action.cooldown,
        revert_on_resolve=action.type in REVERT_BY_DEFAULT if revert is None else revert,
    ).model_dump(by_alias=True)


class InvalidStoredRule(ValueError):
    """A stored rule the engine cannot evaluate (e.g. written to the database by hand)."""


@dataclass(frozen=True, slots=True)
class StoredRule:
    """A stored rule as read back: its parts, the engine's view, or what makes it invalid."""

    condition: ConditionOut | None
    action: ActionOut | None
    spec: RuleSpec | None
    problem: str | None


def _stored_part(
    name: str, model: type[ConditionOut] | type[ActionOut], data: object
) -> tuple[Any, str | None]:
    if not isinstance(data, dict):
        return None, f"{name}: not a JSON object"
    try:
        return model.model_validate(data), None
    except ValidationError as exc:
        details = validation_details(exc.errors())
        return None, "; ".join(f"{name}.{d['field']}: {d['message']}" for d in details)


def read_rule(rule: OptimizationRule) -> StoredRule:
    """Validate a stored rule as the engine will use it; never raises."""
    condition, problem = _stored_part("condition", ConditionOut, rule.condition)
    action, action_problem = _stored_part("action", ActionOut, rule.action)
    problem = problem or action_problem
    spec = None
    if condition is not None and action is not None:
        try:
            anomaly = None
            operator = condition.operator
            if operator == "anomalous":
                anomaly = Anomaly(
                    sensitivity=condition.sensitivity or "medium",
                    direction=cast(Direction, condition.direction or "both"),
                )
                anomaly.level  # noqa: B018 - KeyError for an unknown stored sensitivity
                if anomaly.direction not in ("up", "down", "both"):
                    raise ValueError(f"unknown direction {anomaly.direction!r}")
                operator = "gt"
            spec = RuleSpec(
                rule_id=str(rule.id),
                name=rule.name,
                service_name=rule.service_name,
                metric=condition.metric,
                operator=operator,  # checked by RuleSpec
                threshold=condition.threshold,
                duration=condition.duration,
                aggregation=condition.aggregation,
                window=condition.window,
                resolve_threshold=condition.resolve_threshold,
                keep_firing_for=condition.keep_firing_for,
                no_data=condition.no_data,  # checked by RuleSpec
                severity=action.priority,
                is_active=rule.is_active,
                selector=selector(condition.matchers, condition.group_by),
                anomaly=anomaly,
            )
        except (ValueError, KeyError) as exc:
            problem = f"condition: {exc}"
    return StoredRule(condition, action, spec, problem)


def anomaly_status(bands: AnomalyBands | None, rule_id: str) -> AnomalyStatusOut:
    """Where an anomalous rule stands per service: learning (and why) or its band."""
    pairs = bands.status(rule_id) if bands is not None else {}
    services = []
    for service, pair in sorted(pairs.items()):
        if isinstance(pair, Band):
            services.append(
                AnomalyPairOut(
                    service_name=service,
                    state="ready",
                    message=f"{pair.level:.0%} interval of {pair.model} over {pair.history} "
                    f"windows of {pair.step:g} s",
                    history_windows=pair.history,
                    level=pair.level,
                    model=pair.model,
                    band_until=datetime.fromtimestamp(pair.until, UTC),
                    holdout_mape=pair.holdout_mape,
                    holdout_coverage95=pair.holdout_coverage95,
                )
            )
        else:
            services.append(
                AnomalyPairOut(
                    service_name=service,
                    state="learning",
                    message=pair.message,
                    history_windows=pair.history,
                    needed_windows=pair.needed,
                )
            )
    ready = bool(services) and all(p.state == "ready" for p in services)
    return AnomalyStatusOut(status="ready" if ready else "learning", services=services)


def rule_out(rule: OptimizationRule, bands: AnomalyBands | None = None) -> RuleOut:
    stored = read_rule(rule)
    anomaly = None
    if stored.condition is not None and stored.condition.operator == "anomalous":
        anomaly = anomaly_status(bands, str(rule.id))
    return RuleOut(
        id=rule.id,
        name=rule.name,
        description=rule.description,
        service_name=rule.service_name,
        condition=stored.condition,
        action=stored.action,
        is_active=rule.is_active,
        valid=stored.problem is None,
        invalid_reason=stored.problem,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
        anomaly=anomaly,
    )


def rule_spec(rule: OptimizationRule) -> RuleSpec:
    """What the evaluation engine needs to know of a rule; InvalidStoredRule if unusable."""
    stored = read_rule(rule)
    if stored.spec is None:
        raise InvalidStoredRule(stored.problem or "invalid rule")
    return stored.spec


def rule_from_body(body: RuleIn, *, is_active: bool) -> OptimizationRule:
    """The rule as POST /rules stores it: units converted, defaults filled."""
    now = datetime.now(UTC)
    return OptimizationRule(
        id=uuid.uuid4(),
        name=body.name,
        description=body.description,
        service_name=body.service_name,
        metric_type=body.condition.metric,
        action_type=body.action.type,
        condition=stored_condition(body.condition),
        action=stored_action(body.action),
        is_active=is_active,
        created_at=now,
        updated_at=now,
    )


async def create_rule(session: AsyncSession, body: RuleIn) -> OptimizationRule:
    rule = rule_from_body(body, is_active=body.is_active)
    return await repository.add_rule(session, rule)


async def get_rule(session: AsyncSession, rule_id: uuid.UUID) -> OptimizationRule:
    rule = await repository.get_rule(session, rule_id)
    if rule is None:
        raise NotFound(f"Rule {rule_id} not found")
    return rule


def _merged(prefix: str, model: type[ConditionIn] | type[ActionIn], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc.errors())
        for detail in details:
            detail["field"] = f"{prefix}.{detail['field']}"
        fields = ", ".join(sorted({d["field"] for d in details}))
        raise InvalidField(f"Invalid request: {fields}", details=details) from None


def _input_condition(stored: object) -> dict[str, Any]:
    # stored thresholds are canonical: re-validate them as such, without the old unit
    if not isinstance(stored, dict):
        return {}  # unreadable (hand-written) condition: the update must give it whole
    return {k: v for k, v in stored.items() if k != "unit"}


async def update_rule(
    session: AsyncSession, rule_id: uuid.UUID, body: RuleUpdate
) -> OptimizationRule:
    rule = await get_rule(session, rule_id)
    fields = body.model_fields_set
    if "name" in fields and body.name is not None:
        rule.name = body.name
    if "description" in fields and body.description is not None:
        rule.description = body.description
    if "service_name" in fields:
        rule.service_name = body.service_name
    if "is_active" in fields and body.is_active is not None:
        rule.is_active = body.is_active
    if body.condition is not None:
        base = _input_condition(rule.condition)
        if "threshold" in body.condition and "resolveThreshold" not in body.condition:
            base.pop("resolveThreshold", None)  # follows the new threshold unless given
        merged = base | body.condition
        # the operator decides which fields apply: an anomalous condition has no thresholds,
        # a threshold condition no sensitivity/direction (stored ones do not carry over)
        if merged.get("operator") == "anomalous":
            for key in ("threshold", "resolveThreshold"):
                if key not in body.condition:
                    merged.pop(key, None)
        else:
            for key in ("sensitivity", "direction"):
                if key not in body.condition:
                    merged.pop(key, None)
        condition = _merged("condition", ConditionIn, merged)
        rule.condition = stored_condition(condition)
        rule.metric_type = condition.metric
    if body.action is not None:
        base = dict(rule.action) if isinstance(rule.action, dict) else {}
        if "type" in body.action and body.action["type"] != base.get("type"):
            base.pop("parameters", None)
            base.pop("revertOnResolve", None)
        action = _merged("action", ActionIn, base | body.action)
        rule.action = stored_action(action)
        rule.action_type = action.type
    rule.updated_at = datetime.now(UTC)
    await session.flush()
    return rule


async def list_rules(
    session: AsyncSession,
    *,
    service_name: str | None,
    is_active: bool | None,
    action_type: str | None,
) -> Sequence[OptimizationRule]:
    return await repository.list_rules(
        session, service_name=service_name, is_active=is_active, action_type=action_type
    )
