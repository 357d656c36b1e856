"""Decides which actions run in an engine step: fired alerts, repeats while an alert stays
active, the autoscaler on ticks, reverts on resolve; then checks due impact measurements."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.actions import repository as actions_repo
from perfpilot.actions.executor import ActionExecutor, Proposal
from perfpilot.actions.impact import rule_guard
from perfpilot.actions.impact_check import LatestSample, measure_due
from perfpilot.autoscaling.autoscaler import Autoscaler
from perfpilot.core.config import Settings
from perfpilot.engine.state_machine import RuleSpec
from perfpilot.models import OptimizationAction, OptimizationRule, PerformanceAlert


@dataclass(frozen=True, slots=True)
class FiringPair:
    """An open, unacknowledged alert whose condition still holds at `at`."""

    spec: RuleSpec
    service_name: str
    alert_id: uuid.UUID
    at: float


class ActionCoordinator:
    def __init__(self, settings: Settings, *, latest_sample_ts: LatestSample) -> None:
        self.executor = ActionExecutor(settings)
        self.autoscaler = Autoscaler(settings)
        self._latest = latest_sample_ts
        self._grace = settings.no_data_after_seconds
        self._last_attempt: dict[tuple[str, str], float] = {}
        self._rule_actions: dict[str, dict[str, object]] = {}
        # executed actions waiting for their measurement: id -> (service, metric, due), so a
        # step asks the database for due measurements only when one can be taken
        self._pending: dict[uuid.UUID, tuple[str, str | None, float]] = {}
        self._min_due: float | None = None  # the earliest due of _pending (None: to compute)
        # scale-out (engine/sharded.py): the services this replica's engine owns; None: all
        self.owns: Callable[[str], bool] | None = None
        # a tick's autoscaler proposals not yet run, by service (_autoscaling)
        self._deferred: dict[str, Proposal] = {}
        self._deferred_since = 0.0  # monotonic time the oldest of them was deferred

    @property
    def deferred_proposals(self) -> int:
        return len(self._deferred)

    @property
    def pending_measurements(self) -> int:
        return len(self._pending)

    async def load(self, session: AsyncSession) -> None:
        a = OptimizationAction
        query = select(a.id, a.service_name, a.metric_type, a.measure_due_at).where(
            a.status == "executed", a.outcome.is_(None), a.measure_due_at.is_not(None)
        )
        self._pending = {
            row.id: (row.service_name, row.metric_type, row.measure_due_at.timestamp())
            for row in await session.execute(query)
            if self.owns is None or self.owns(row.service_name)
        }
        self._min_due = None

    def track(self, action: OptimizationAction) -> None:
        """An action executed outside an engine step (Alertmanager intake), once committed:
        measured like the engine's own."""
        self._track(action)

    def forget_services(self, keep: Callable[[str], bool]) -> None:
        """Drop pending measurements and cooldowns of services handed to another replica."""
        self._pending = {k: v for k, v in self._pending.items() if keep(v[0])}
        self._min_due = None
        self._last_attempt = {k: v for k, v in self._last_attempt.items() if keep(k[1])}

    def _track(self, action: OptimizationAction) -> None:
        if action.status == "executed" and action.outcome is None and action.measure_due_at:
            due = action.measure_due_at.timestamp()
            self._pending[action.id] = (action.service_name, action.metric_type, due)
            self._min_due = None

    def may_repeat(self, rule_id: str, service_name: str, at_most: float) -> bool:
        """Whether the pair's action may repeat at an evaluation time up to `at_most`: False
        when on_step would skip it for certain (never attempted here, or in its cooldown), so
        the engine need not look at the pair's state (a step looks at every open alert)."""
        last = self._last_attempt.get((rule_id, service_name))
        if last is None:
            return False
        action = self._rule_actions.get(rule_id)
        if action is None:  # not looked up yet: on_step decides
            return True
        return at_most - last >= float(action.get("cooldown", 300))  # type: ignore[arg-type]

    def _measurement_ready(self, now: float) -> bool:
        """Some pending measurement can be taken: the same test as impact_check.measure_due
        (samples seen past its end, or the clock past its end plus the grace).

        None can before `now` (a step's newest sample or tick time) reaches the earliest end:
        the sample that makes one ready arrives in a step whose `now` is at least its time."""
        if self._min_due is None:
            self._min_due = min((due for _, _, due in self._pending.values()), default=math.inf)
        if now < self._min_due:
            return False
        for service, metric, due in self._pending.values():
            if metric is None or now >= due + self._grace:
                return True
            latest = self._latest(service, metric)
            if latest is not None and latest >= due:
                return True
        return False

    def forget_rule(self, rule_id: str) -> None:
        self._rule_actions.pop(rule_id, None)

    async def _autoscaling(
        self, session: AsyncSession, *, now: float, ticked: bool, continued: bool
    ) -> list[Proposal]:
        """The autoscaler's proposals this step runs: one, on a tick or a Continue step.

        Executing a proposal holds the write turn and the engine for ~10-15 ms (its baseline,
        prediction and state); a tick that scaled twenty services in its one step stalled every
        alert behind it for ~300 ms (BENCHMARKS.md). So a tick's proposals wait here (a newer
        tick's replacing an older one for the same service) and run one per step: the tick's
        own, then Continue steps that the engine queues when it has nothing else to do
        (EngineRunner._continue_later), so samples wait for at most one proposal. One sized
        from an instance count that has changed since (another action scaled the service
        meanwhile) is dropped: its change no longer applies; the next tick sizes it again.
        """
        if ticked:
            for proposal in await self.autoscaler.proposals(session, now=now, owns=self.owns):
                self._deferred.pop(proposal.service_name, None)
                self._deferred[proposal.service_name] = proposal
            if self._deferred and not self._deferred_since:
                self._deferred_since = time.monotonic()
        if not (ticked or continued):
            return []
        while self._deferred:
            service = next(iter(self._deferred))
            proposal = self._deferred.pop(service)
            if not self._deferred:
                self._deferred_since = 0.0
            state = await actions_repo.get_state(session, service)
            instances = state.instances if state is not None else proposal.from_instances
            if instances == proposal.from_instances:
                return [proposal]
        return []

    @property
    def deferred_waited(self) -> float:
        """Seconds the oldest deferred proposal has waited (0 when none waits)."""
        return time.monotonic() - self._deferred_since if self._deferred_since else 0.0

    async def _rule_action(self, session: AsyncSession, rule_id: str) -> dict[str, object] | None:
        action = self._rule_actions.get(rule_id)
        if action is None:
            rule = await session.get(OptimizationRule, uuid.UUID(rule_id))
            if rule is None:
                return None
            action = dict(rule.action)
            self._rule_actions[rule_id] = action
        return action

    async def _proposal(
        self, session: AsyncSession, spec: RuleSpec, service: str, alert_id: uuid.UUID, at: float
    ) -> Proposal | None:
        action = await self._rule_action(session, spec.rule_id)
        if action is None:
            return None
        parameters = action.get("parameters")
        action_type = str(action["type"])
        guard = None
        if action_type == "scale_down":
            guard = rule_guard(
                spec.metric,
                operator=spec.operator,
                threshold=spec.threshold,
                resolve_at=spec.resolve_at,
                reverting=False,
            )
        return Proposal(
            service_name=service,
            action_type=action_type,
            parameters=dict(parameters) if isinstance(parameters, dict) else {},
            source="rule",
            at=at,
            rule_id=spec.rule_id,
            alert_id=alert_id,
            metric_type=spec.metric,
            aggregation=spec.aggregation,
            window=spec.window,
            cooldown=float(action.get("cooldown", 300)),  # type: ignore[arg-type]
            revert_on_resolve=bool(action.get("revertOnResolve", False)),
            guard=guard,
        )

    async def on_step(
        self,
        session: AsyncSession,
        *,
        now: float,
        ticked: bool,
        continued: bool = False,
        fired: Sequence[tuple[RuleSpec, PerformanceAlert, float]],
        firing: Sequence[FiringPair],
        resolved: Sequence[tuple[PerformanceAlert, float]],
    ) -> list[OptimizationAction]:
        """Everything one engine step does to services, in the step's transaction."""
        proposals: list[Proposal] = []
        for spec, alert, at in fired:
            proposal = await self._proposal(session, spec, alert.service_name, alert.id, at)
            if proposal is not None:
                proposals.append(proposal)
        fired_pairs = {(spec.rule_id, alert.service_name) for spec, alert, _ in fired}
        for pair in firing:
            key = (pair.spec.rule_id, pair.service_name)
            if key in fired_pairs:
                continue
            action = await self._rule_action(session, pair.spec.rule_id)
            cooldown = float(action.get("cooldown", 300)) if action else 0.0  # type: ignore[arg-type]
            last = self._last_attempt.get(key)
            if action is None or last is None or pair.at - last < cooldown:
                continue
            proposal = await self._proposal(
                session, pair.spec, pair.service_name, pair.alert_id, pair.at
            )
            if proposal is not None:
                proposals.append(proposal)
        proposals.extend(
            await self._autoscaling(session, now=now, ticked=ticked, continued=continued)
        )
        done = await self.executor.execute(session, proposals) if proposals else []
        for proposal, executed in zip(proposals, done, strict=True):
            if proposal.rule_id is not None:
                self._last_attempt[(proposal.rule_id, proposal.service_name)] = proposal.at
            self._track(executed)
        for alert, at in resolved:
            reverted = await self.executor.revert_for_alert(session, alert.id, at=at)
            done.extend(reverted)
            for revert in reverted:
                self._track(revert)
        if self._pending and self._measurement_ready(now):
            measured = await measure_due(
                session,
                self.executor,
                now=now,
                latest_sample_ts=self._latest,
                grace=self._grace,
                owns=self.owns,
            )
            for taken in measured:
                self._pending.pop(taken.id, None)
            self._min_due = None
        return done
