"""Executes actions against a service's desired state, records every attempt, and emits
`state.changed` / `action.executed` through the outbox in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.actions import repository
from perfpilot.actions.aggregate import aggregate_window, impact_aggregation
from perfpilot.actions.effects import ActionPlan, Bounds, DesiredState, plan_action, plan_revert
from perfpilot.actions.impact import Guard, rule_guard
from perfpilot.actions.overlaps import link_overlaps
from perfpilot.actions.predict import predict
from perfpilot.actions.serialize import action_out, state_of_row
from perfpilot.autoscaling.service import effective_config
from perfpilot.core.config import Settings
from perfpilot.metrics import histogram_repository
from perfpilot.models import OptimizationAction, ServiceState
from perfpilot.rules.service import rule_spec
from perfpilot.sizing.service import resolve_auto
from perfpilot.webhooks.service import enqueue_event

# why an action that changed nothing has no measurement
NOT_MEASURED = {
    "skipped": "skipped actions are not measured",
    "dry_run": "dry run: nothing changed, nothing to measure",
    "failed": "failed: nothing changed, nothing to measure",
}


@dataclass(frozen=True, slots=True)
class Proposal:
    """An action some part of Perfpilot wants to take on a service."""

    service_name: str
    action_type: str
    parameters: dict[str, Any]
    source: str  # rule | autoscaler | optimize | manual
    at: float  # engine time: the evaluation that asked for it
    rule_id: str | None = None
    alert_id: uuid.UUID | None = None
    metric_type: str | None = None
    aggregation: str | None = None
    window: float = 60.0
    cooldown: float = 0.0
    revert_on_resolve: bool = False
    note: str | None = None
    # what a capacity reduction must keep (checked instead of the metric's direction)
    guard: Guard | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # the autoscaler's: the instance count it sized from (its parameters are a change to it)
    from_instances: int | None = None


def initial_state(service_name: str, *, min_instances: int) -> ServiceState:
    """A service's desired state before any action: min instances, nothing else set."""
    return ServiceState(
        service_name=service_name,
        instances=min_instances,
        model=None,
        fallback_models=[],
        fallback_active=False,
        retry_policy={},
        cache_epoch=0,
        version=1,
        updated_at=datetime.now(UTC),
    )


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class ActionExecutor:
    def __init__(self, settings: Settings) -> None:
        self.settle = settings.impact_settle_seconds
        self.window = settings.impact_window_seconds
        self.dry_run = settings.actions_dry_run

    async def load_state(
        self, session: AsyncSession, service_name: str
    ) -> tuple[ServiceState, Bounds]:
        config = await effective_config(session, service_name)
        bounds = Bounds(config.min_instances, config.max_instances)
        row = await repository.get_state(session, service_name)
        if row is None:
            row = initial_state(service_name, min_instances=bounds.min_instances)
            await repository.add(session, row)
        return row, bounds

    async def execute(
        self, session: AsyncSession, proposals: Sequence[Proposal]
    ) -> list[OptimizationAction]:
        """Run proposals in order; a scale-up for a service beats its scale-downs."""
        growing = {p.service_name for p in proposals if p.action_type == "scale_up"}
        done: list[OptimizationAction] = []
        for proposal in proposals:
            if proposal.action_type == "scale_down" and proposal.service_name in growing:
                done.append(
                    await self._record_skip(
                        session, proposal, "scale_up_wins: another rule asks to grow this service"
                    )
                )
                continue
            done.append(await self._execute_one(session, proposal))
        return done

    async def _cooldown_left(self, session: AsyncSession, proposal: Proposal) -> float:
        if proposal.rule_id is None or proposal.cooldown <= 0:
            return 0.0
        last = await repository.last_executed_at(
            session, rule_id=uuid.UUID(proposal.rule_id), service_name=proposal.service_name
        )
        if last is None:
            return 0.0
        return max(0.0, last.timestamp() + proposal.cooldown - proposal.at)

    async def record_skip(
        self, session: AsyncSession, proposal: Proposal, reason: str
    ) -> OptimizationAction:
        """Record `proposal` as skipped for `reason` (its state before = after)."""
        return await self._record_skip(session, proposal, reason)

    async def _record_skip(
        self, session: AsyncSession, proposal: Proposal, reason: str
    ) -> OptimizationAction:
        row, _ = await self.load_state(session, proposal.service_name)
        state = state_of_row(row).as_dict()
        return await self._insert(
            session, proposal, status="skipped", reason=reason, before=state, after=state
        )

    async def _execute_one(self, session: AsyncSession, proposal: Proposal) -> OptimizationAction:
        left = await self._cooldown_left(session, proposal)
        if left > 0:
            return await self._record_skip(session, proposal, f"cooldown: {left:.0f}s left")
        row, bounds = await self.load_state(session, proposal.service_name)
        parameters = proposal.parameters
        if parameters.get("instances") == "auto":
            auto = await resolve_auto(
                session,
                service_name=proposal.service_name,
                action_type=proposal.action_type,
                parameters=parameters,
                rule_id=proposal.rule_id,
                at=proposal.at,
                window=proposal.window,
                current=row.instances,
                min_instances=bounds.min_instances,
                max_instances=bounds.max_instances,
            )
            extra = {**proposal.extra, "sizing": auto.record}
            proposal = replace(proposal, extra=extra, note=proposal.note or auto.reason)
            if auto.parameters is None:
                return await self._record_skip(session, proposal, auto.reason)
            parameters = auto.parameters
        plan = plan_action(state_of_row(row), proposal.action_type, parameters, bounds)
        return await self._apply(session, proposal, row, plan)

    async def _apply(
        self, session: AsyncSession, proposal: Proposal, row: ServiceState, plan: ActionPlan
    ) -> OptimizationAction:
        before, after = plan.before.as_dict(), plan.after.as_dict()
        if plan.status == "skipped":
            return await self._insert(
                session, proposal, status="skipped", reason=plan.reason, before=before, after=before
            )
        status = "dry_run" if self.dry_run else "executed"
        action = await self._insert(
            session,
            proposal,
            status=status,
            reason=proposal.note,
            before=before,
            after=after,
            plan=plan,
        )
        if status == "executed":
            await self._save_state(session, row, plan.after, action)
        return action

    async def _save_state(
        self,
        session: AsyncSession,
        row: ServiceState,
        state: DesiredState,
        action: OptimizationAction,
    ) -> None:
        row.instances = state.instances
        row.model = state.model
        row.fallback_models = list(state.fallback_models)
        row.fallback_active = state.fallback_active
        row.retry_policy = dict(state.retry_policy)
        row.cache_epoch = state.cache_epoch
        row.version += 1
        row.updated_at = datetime.now(UTC)
        await session.flush()
        payload = {
            "event": "state.changed",
            "serviceName": row.service_name,
            "version": row.version,
            "state": state.as_dict(),
            "previous": action.state_before,
            "actionId": str(action.id),
            "actionType": action.action_type,
            "source": action.source,
            "changedAt": row.updated_at.isoformat(),
        }
        await enqueue_event(
            session,
            event="state.changed",
            payload=payload,
            service_name=row.service_name,
            event_at=action.executed_at,
            idempotency_key=f"{row.service_name}:state:{row.version}",
        )
        await enqueue_event(
            session,
            event="action.executed",
            payload={
                "event": "action.executed",
                "action": action_out(action).model_dump(mode="json", by_alias=True),
            },
            service_name=row.service_name,
            event_at=action.executed_at,
            idempotency_key=f"{action.id}:action.executed",
        )

    async def _baseline(
        self, session: AsyncSession, proposal: Proposal
    ) -> tuple[float | None, int]:
        if proposal.metric_type is None:
            return None, 0
        values = await repository.sample_values(
            session,
            service_name=proposal.service_name,
            metric_type=proposal.metric_type,
            start=_ts(proposal.at - proposal.window),
            end=_ts(proposal.at),
        )
        histograms = await histogram_repository.window_histograms(
            session,
            service_name=proposal.service_name,
            metric_type=proposal.metric_type,
            start=_ts(proposal.at - proposal.window),
            end=_ts(proposal.at),
        )
        return aggregate_window(impact_aggregation(proposal.aggregation), values, histograms)

    async def _saturated(self, session: AsyncSession, proposal: Proposal) -> bool:
        """cpu over the last minute at or above the autoscaling target: the model's premise."""
        config = await effective_config(session, proposal.service_name)
        cpu = await repository.sample_values(
            session,
            service_name=proposal.service_name,
            metric_type="cpu",
            start=_ts(proposal.at - 60),
            end=_ts(proposal.at),
        )
        return bool(cpu) and sum(cpu) / len(cpu) >= config.target_utilization

    async def _insert(
        self,
        session: AsyncSession,
        proposal: Proposal,
        *,
        status: str,
        reason: str | None,
        before: dict[str, Any],
        after: dict[str, Any],
        plan: ActionPlan | None = None,
    ) -> OptimizationAction:
        baseline, baseline_n = (None, 0)
        predicted, basis = None, None
        due, guard = None, None
        if plan is not None:
            baseline, baseline_n = await self._baseline(session, proposal)
            # the premise of predict's scaling model, read only when that model can apply
            modelled = (
                proposal.action_type in ("scale_up", "scale_down")
                and proposal.metric_type == "latency"
                and plan.before.instances != plan.after.instances
            )
            prediction = await predict(
                session,
                service_name=proposal.service_name,
                action_type=proposal.action_type,
                metric_type=proposal.metric_type,
                instances_before=plan.before.instances,
                instances_after=plan.after.instances,
                saturated=modelled and await self._saturated(session, proposal),
            )
            predicted, basis = prediction.impact, prediction.basis
            if status == "executed" and proposal.metric_type is not None:
                due = _ts(proposal.at + self.settle + self.window)
                if proposal.guard is not None and plan.after.instances < plan.before.instances:
                    guard = proposal.guard.as_dict()
        outcome, note = None, None
        if status != "executed":
            outcome, note = "unmeasured", NOT_MEASURED.get(status, f"{status}: not measured")
        elif due is None:
            outcome, note = "unmeasured", "no metric to measure the action by"
        action = OptimizationAction(
            id=uuid.uuid4(),
            service_name=proposal.service_name,
            action_type=proposal.action_type,
            parameters=dict(proposal.parameters),
            source=proposal.source,
            rule_id=uuid.UUID(proposal.rule_id) if proposal.rule_id else None,
            alert_id=proposal.alert_id,
            status=status,
            reason=reason,
            state_before=before,
            state_after=after,
            metric_type=proposal.metric_type,
            aggregation=impact_aggregation(proposal.aggregation) if proposal.metric_type else None,
            baseline=baseline,
            baseline_samples=baseline_n if plan is not None else None,
            predicted_impact=predicted,
            prediction_basis=basis,
            revert_on_resolve=proposal.revert_on_resolve,
            executed_at=_ts(proposal.at),
            measure_due_at=due,
            guard=guard,
            outcome=outcome,
            measurement_note=note,
            sizing=proposal.extra.get("sizing"),
        )
        await repository.add(session, action)
        await link_overlaps(session, action)
        return action

    async def revert_for_alert(
        self, session: AsyncSession, alert_id: uuid.UUID, *, at: float
    ) -> list[OptimizationAction]:
        """Undo the alert's executed actions that asked for it, newest first."""
        actions = [
            a
            for a in await repository.executed_for_alert(session, alert_id)
            if a.revert_on_resolve and a.state_before and a.state_after
        ]
        done = []
        for original in reversed(actions):
            row, _ = await self.load_state(session, original.service_name)
            before = DesiredState.from_dict(original.state_before or {})
            after = DesiredState.from_dict(original.state_after or {})
            changed = tuple(k for k, v in after.as_dict().items() if before.as_dict()[k] != v)
            plan = plan_revert(state_of_row(row), before, after, changed)
            proposal = await self._revert_proposal(session, original, alert_id=alert_id, at=at)
            done.append(await self._apply(session, proposal, row, plan))
        return done

    async def _revert_proposal(
        self, session: AsyncSession, original: OptimizationAction, *, alert_id: uuid.UUID, at: float
    ) -> Proposal:
        """A revert is measured like any action: on the original's metric, over its rule's
        window, and a capacity reduction against the rule's threshold (it must not refire)."""
        rule = await repository.get_rule(session, original.rule_id) if original.rule_id else None
        window, guard = 60.0, None
        if rule is not None:
            try:
                spec = rule_spec(rule)
            except (KeyError, TypeError, ValueError):
                spec = None  # a stored rule the engine cannot read: measured without a guard
            if spec is not None:
                window = spec.window
                guard = rule_guard(
                    spec.metric,
                    operator=spec.operator,
                    threshold=spec.threshold,
                    resolve_at=spec.resolve_at,
                    reverting=True,
                )
        return Proposal(
            service_name=original.service_name,
            action_type=original.action_type,
            parameters={"revertOf": str(original.id)},
            source=original.source,
            at=at,
            rule_id=str(original.rule_id) if original.rule_id else None,
            alert_id=alert_id,
            metric_type=original.metric_type,
            aggregation=original.aggregation,
            window=window,
            note="revert on resolve",
            guard=guard,
        )

    def measurement_window(self, action: OptimizationAction) -> tuple[datetime, datetime]:
        start = action.executed_at + timedelta(seconds=self.settle)
        return start, start + timedelta(seconds=self.window)
