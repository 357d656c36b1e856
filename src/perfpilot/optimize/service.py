"""/optimize: record a sample, let the service's rules act on it at once, and say what was done
(or, in a dry run, what would be done) with predicted impact and its basis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.actions import repository as actions_repo
from perfpilot.actions.effects import Bounds, DesiredState, plan_action
from perfpilot.actions.predict import Prediction, predict
from perfpilot.actions.serialize import state_of_row
from perfpilot.autoscaling.service import effective_config
from perfpilot.core.context import AppContext
from perfpilot.engine.runner import EngineRunner
from perfpilot.engine.state_machine import AlertTransition, RuleSpec, TransitionKind
from perfpilot.engine.windows import Sample
from perfpilot.metrics.service import record_samples
from perfpilot.metrics.units import REGISTRY
from perfpilot.models import OptimizationAction, OptimizationRule
from perfpilot.optimize.recommendations import recommend
from perfpilot.optimize.schemas import OptimizeIn, OptimizeMetrics, OptimizeOut, PlannedAction
from perfpilot.sizing.service import resolve_auto

OPS = {"gt": ">", "lt": "<", "eq": "=", "gte": ">=", "lte": "<="}


def _why_not(spec: RuleSpec, value: float | None, t: AlertTransition | None) -> str:
    if value is None:
        return f"{spec.name}: no data in its {spec.window:g}s window"
    shown = f"{spec.aggregation} {spec.metric} {value:g}"
    if t is not None and t.kind is TransitionKind.PENDING:
        return (
            f"{spec.name}: {shown} {OPS[spec.operator]} {spec.threshold:g}, pending for "
            f"{spec.duration:g}s before it fires"
        )
    if t is not None and t.kind is TransitionKind.UPDATED:
        return f"{spec.name}: already firing ({shown}); the action repeats after its cooldown"
    return f"{spec.name}: {shown} is not {OPS[spec.operator]} {spec.threshold:g}"


async def _prediction(
    session: AsyncSession,
    service: str,
    action_type: str,
    metric: str,
    before: DesiredState,
    after: DesiredState,
) -> Prediction:
    config = await effective_config(session, service)
    now = datetime.now(UTC)
    cpu = await actions_repo.sample_values(
        session,
        service_name=service,
        metric_type="cpu",
        start=now - timedelta(seconds=60),
        end=now,
    )
    saturated = bool(cpu) and sum(cpu) / len(cpu) >= config.target_utilization
    return await predict(
        session,
        service_name=service,
        action_type=action_type,
        metric_type=metric,
        instances_before=before.instances,
        instances_after=after.instances,
        saturated=saturated,
    )


async def _dry_run_plan(
    session: AsyncSession,
    spec: RuleSpec,
    rule: OptimizationRule,
    service: str,
) -> PlannedAction:
    row = await actions_repo.get_state(session, service)
    config = await effective_config(session, service)
    state = state_of_row(row) if row is not None else DesiredState(instances=config.min_instances)
    parameters = dict(rule.action["parameters"])
    if parameters.get("instances") == "auto":  # sized as the executor would size it
        auto = await resolve_auto(
            session,
            service_name=service,
            action_type=rule.action["type"],
            parameters=parameters,
            rule_id=spec.rule_id,
            at=datetime.now(UTC).timestamp(),
            window=spec.window,
            current=state.instances,
            min_instances=config.min_instances,
            max_instances=config.max_instances,
        )
        parameters = auto.parameters or {"instances": f"auto ({auto.reason})"}
    plan = plan_action(
        state,
        rule.action["type"],
        parameters,
        Bounds(config.min_instances, config.max_instances),
    )
    prediction = await _prediction(
        session, service, rule.action["type"], spec.metric, plan.before, plan.after
    )
    would = plan.status == "executed"
    return PlannedAction(
        type=rule.action["type"],
        parameters=rule.action["parameters"],
        impact=prediction.impact if would else None,
        basis=prediction.basis if would else None,
        basis_samples=prediction.n,
        status="dry_run" if would else "skipped",
        description=(
            f"{spec.name} would fire: {prediction.explanation}"
            if would
            else f"{spec.name} would fire but skip: {plan.reason}"
        ),
        rule_id=spec.rule_id,
    )


async def _executed(session: AsyncSession, spec: RuleSpec, service: str) -> PlannedAction | None:
    query = (
        select(OptimizationAction)
        .where(
            OptimizationAction.rule_id == uuid.UUID(spec.rule_id),
            OptimizationAction.service_name == service,
        )
        .order_by(OptimizationAction.executed_at.desc())
        .limit(1)
    )
    action = (await session.execute(query)).scalars().first()
    if action is None:
        return None
    basis = action.prediction_basis if action.prediction_basis in ("history", "model") else None
    return PlannedAction(
        type=action.action_type,
        parameters=action.parameters,
        impact=action.predicted_impact,
        basis=basis,
        basis_samples=0,
        status=action.status,
        description=f"{spec.name} fired: {action.reason or action.status}",
        rule_id=spec.rule_id,
        action_id=str(action.id),
    )


async def optimize(session: AsyncSession, ctx: AppContext, body: OptimizeIn) -> OptimizeOut:
    runner = ctx.loops["engine"]
    assert isinstance(runner, EngineRunner)
    ts = (body.timestamp or datetime.now(UTC)).timestamp()
    sample = Sample(body.service_name, body.metric_type, body.value, ts)
    await runner.drain()  # rule changes and samples committed before this request apply first
    previews = runner.core.preview(sample)
    if not body.dry_run:
        await record_samples(ctx.ingest, [body])
        await runner.drain()
    actions: list[PlannedAction] = []
    for spec, value, transition in previews:
        rule = await session.get(OptimizationRule, uuid.UUID(spec.rule_id))
        if rule is None:
            continue
        fires = transition is not None and transition.kind is TransitionKind.FIRED
        if fires and body.dry_run:
            actions.append(await _dry_run_plan(session, spec, rule, body.service_name))
            continue
        if fires:
            done = await _executed(session, spec, body.service_name)
            if done is not None:
                actions.append(done)
                continue
        actions.append(
            PlannedAction(
                type=rule.action["type"],
                parameters=rule.action["parameters"],
                impact=None,
                basis=None,
                basis_samples=0,
                status="not_triggered",
                description=_why_not(spec, value, transition),
                rule_id=spec.rule_id,
            )
        )
    primary = next(
        (a for a in actions if a.status in ("executed", "dry_run") and a.impact is not None), None
    )
    after = improvement = None
    if primary is not None and primary.impact is not None:
        improvement = primary.impact
        better = REGISTRY[body.metric_type].better  # impacts exist only with a direction
        after = body.value * (1 - improvement if better == "lower" else 1 + improvement)
    details = await recommend(session, body.service_name, body.metric_type)
    return OptimizeOut(
        optimized=any(a.status == "executed" for a in actions),
        actions=actions,
        recommendations=[r.message for r in details],
        recommendation_details=details,
        metrics=OptimizeMetrics(before=body.value, after=after, improvement=improvement),
    )
