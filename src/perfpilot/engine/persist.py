"""Writing one engine step: alerts, their outbox events and per-pair states in one transaction,
then the actions the step decides in a second one; memory (open alerts) follows each commit.

Two transactions so that an alert is committed, and its webhook on its way, as soon as the
alert itself is written: executing an action reads and writes a dozen rows (desired state,
cooldown, baseline, prediction, overlaps), several times the alert's own work, and on SQLite
the whole transaction holds the one writer. Nothing is lost between the two: after a crash,
the open alerts that have no action row at all (every executed, skipped or dry-run action
leaves one) get theirs on the first step after the restart (`unactioned`, loaded by the
runner's restore). Actions that fail are tried again one by one at once; one that fails alone
is logged, counted and dropped, as a pair's writes are (StepWriter._persist).
The actions run once the engine has nothing queued (engine/deferred.py)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfpilot.actions.coordinator import ActionCoordinator, FiringPair
from perfpilot.actions.serialize import action_out
from perfpilot.alertmanager.intake import resume_bound_action
from perfpilot.alerts import repository as alert_repo
from perfpilot.alerts import service as alerts
from perfpilot.engine.core import EvaluationCore, Pair
from perfpilot.engine.deferred import ActJob, DeferredActs, Fired
from perfpilot.engine.histograms import percentile_basis
from perfpilot.engine.state_machine import (
    REASON_DATA_RESUMED,
    AlertTransition,
    Phase,
    RuleSpec,
    TransitionKind,
    condition_holds,
)
from perfpilot.engine.step import Step
from perfpilot.metrics.labels import group_json
from perfpilot.models import OptimizationAction, PerformanceAlert
from perfpilot.monitoring.events import EventHub
from perfpilot.monitoring.telemetry import Telemetry
from perfpilot.rules import repository as rules_repo
from perfpilot.silences.review import is_silenced, review_silences

log = structlog.get_logger("perfpilot.engine")


def _alert_data(alert: PerformanceAlert) -> dict[str, object]:
    """An alert as its API shape (camelCase JSON), for live events."""
    return alerts.alert_out(alert).model_dump(mode="json", by_alias=True)


class StepWriter(DeferredActs):
    """The runner's persistence half (EngineRunner supplies these attributes)."""

    core: EvaluationCore
    actions: ActionCoordinator | None
    events: EventHub | None
    _sessionmaker: async_sessionmaker[AsyncSession]
    _readers: async_sessionmaker[AsyncSession]
    _horizon: float  # the newest engine time (sample or tick) of any step so far
    _telemetry: Telemetry
    _clock: Callable[[], float]
    _open: dict[Pair, uuid.UUID]
    # open alerts a silence covers: no action, no repeat (silences/review.py)
    _silenced: set[uuid.UUID]
    _on_alert_changes: Callable[[], None] | None
    # firings whose actions are still to run (found at restore: module docstring)
    unactioned: list[Fired]

    def owns_service(self, service_name: str) -> bool:
        """Whether this engine evaluates the service (all of them, unless sharded)."""
        return True

    async def _reload_rule(self, rule_id: str, step: Step) -> None:
        """Take the rule's stored version (EngineRunner)."""
        raise NotImplementedError

    async def _save_position(self, session: AsyncSession, step: Step) -> None:
        """Where the engine stands in its input, in the step's transaction (sharded engine)."""

    async def _commit(self, step: Step, *, scope: set[Pair] | None = None) -> None:
        """Persist one step: its alerts, then its actions (module docstring); memory follows
        only once committed. Raises only if the alerts' transaction fails.

        ``scope`` limits the firing pairs whose actions may repeat (None: every open pair).
        """
        opened: dict[Pair, uuid.UUID] = {}
        closed: set[Pair] = set()
        fired: list[tuple[RuleSpec, PerformanceAlert, AlertTransition]] = []
        resolved: list[tuple[PerformanceAlert, float]] = []
        resumed: list[PerformanceAlert] = []
        now = self._clock()
        dirty = set(step.dirty)
        began = time.time()
        async with self._sessionmaker() as session, session.begin():
            latest_value: dict[Pair, AlertTransition] = {}
            for t in step.transitions:
                pair = t.pair
                dirty.add(pair)
                alert_id = opened.get(pair) or (None if pair in closed else self._open.get(pair))
                if t.kind is TransitionKind.FIRED:
                    spec = self.core.rule(t.rule_id)
                    alert = await self._fire(session, spec, t) if spec is not None else None
                    if alert is not None and spec is not None:
                        opened[pair] = alert.id
                        closed.discard(pair)
                        fired.append((spec, alert, t))
                elif t.kind is TransitionKind.UPDATED and alert_id is not None:
                    latest_value[pair] = t
                    if t.reason == REASON_DATA_RESUMED:
                        await alerts.clear_no_data(session, alert_id)
                elif t.kind is TransitionKind.RESOLVED and alert_id is not None:
                    closed_alert = await alerts.resolve_by_engine(
                        session, alert_id, reason=t.reason, at=t.at, value=t.value
                    )
                    if closed_alert is not None:
                        resolved.append((closed_alert, t.at))
                    opened.pop(pair, None)
                    closed.add(pair)
                elif t.kind is TransitionKind.NO_DATA and alert_id is not None:
                    await alerts.mark_no_data(session, alert_id, at=t.at)
            for pair, t in latest_value.items():
                alert_id = opened.get(pair) or self._open.get(pair)
                if alert_id is not None and t.value is not None:
                    await alerts.record_value(session, alert_id, value=t.value, at=t.at)
            for pair, reason in step.dropped:
                alert_id = opened.pop(pair, None) or self._open.get(pair)
                if alert_id is not None:
                    closed_alert = await alerts.resolve_by_engine(
                        session, alert_id, reason=reason, at=step.now, value=None
                    )
                    if closed_alert is not None:
                        resolved.append((closed_alert, step.now))
                    closed.add(pair)
            await self._save_position(session, step)
            stamp = datetime.fromtimestamp(now, UTC)
            if step.ticked:  # silences that began or ended since the last tick
                resumed = await review_silences(
                    session, now=datetime.now(UTC), muted=self._silenced, owns=self.owns_service
                )
            for pair in dirty:
                state = self.core.state_of(*pair)
                rule_uuid = uuid.UUID(pair[0])
                if (
                    state is None
                    or state.phase is Phase.INACTIVE
                    or self.core.rule(pair[0]) is None
                ):
                    await alert_repo.delete_state(
                        session, rule_id=rule_uuid, service_name=pair[1], labels=group_json(pair[2])
                    )
                else:
                    await alert_repo.save_state(
                        session,
                        rule_id=rule_uuid,
                        service_name=pair[1],
                        labels=group_json(pair[2]),
                        state=state.to_dict(),
                        at=stamp,
                    )
        # committed: only now does memory follow
        for pair in closed:
            self._open.pop(pair, None)
        self._open.update(opened)
        committed_at = time.time()
        for _, _, t in fired:
            if t.sample_ts is not None:
                self._telemetry.alert_commit_latency.observe(max(0.0, committed_at - t.sample_ts))
            self._observe_path(step, t, began, committed_at)
        if self._on_alert_changes is not None:
            self._on_alert_changes()  # the outbox may have new rows: deliver them now
        # live views (monitoring/events.py), after commit: subscribers see committed changes only
        if self.events is not None and self.events.heard:
            for _, alert, _ in fired:
                self.events.publish("alert.fired", _alert_data(alert))
            for alert, _ in resolved:
                self.events.publish("alert.resolved", _alert_data(alert))
        for _, alert, _ in fired:
            if is_silenced(alert):
                self._silenced.add(alert.id)
        for alert, _ in resolved:
            self._silenced.discard(alert.id)
        if self.actions is not None:
            to_act: list[Fired] = [(spec, a, t.at) for spec, a, t in fired if not is_silenced(a)]
            for alert in resumed:  # a silence ended: the action it held back runs now
                resumed_spec = self.core.rule(str(alert.rule_id)) if alert.rule_id else None
                if resumed_spec is not None:
                    to_act.append((resumed_spec, alert, now))
            self.defer(ActJob(step, to_act, resolved, scope, resumed, time.monotonic()))

    async def _resume_received(self, alert_id: uuid.UUID) -> None:
        actions = self.actions
        assert actions is not None
        try:
            async with self._sessionmaker() as session, session.begin():
                done = await resume_bound_action(session, alert_id, coordinator=actions)
        except Exception as exc:  # logged and counted, as any action that fails alone
            self._telemetry.engine_failures.labels(stage="actions").inc()
            log.error("engine_actions_dropped", alert_id=str(alert_id), error=repr(exc))
            return
        if done is not None:
            actions.track(done)

    async def _act(
        self,
        step: Step,
        fired: list[Fired],
        resolved: list[tuple[PerformanceAlert, float]],
        scope: set[Pair] | None,
    ) -> None:
        """The step's actions in their own transaction. If it fails, each firing, each
        resolution and the rest (repeats, the tick's autoscaler) are tried alone, so one that
        keeps failing (logged, counted, dropped) does not hold back the others."""
        fired = [*self.unactioned, *fired]
        self.unactioned = []
        firing = self._firing_pairs({}, set(), step.now, scope)
        try:
            done = await self._act_once(
                step, fired, firing, resolved, ticked=step.ticked, continued=step.continued
            )
        except Exception as exc:
            self._telemetry.engine_failures.labels(stage="actions").inc()
            log.warning("engine_actions_retrying", error=repr(exc), fired=len(fired))
            done = []
            parts: list[tuple[list[Fired], list[FiringPair], list[tuple[PerformanceAlert, float]]]]
            parts = [([f], [], []) for f in fired] + [([], [], [r]) for r in resolved]
            parts.append(([], firing, []))
            for one, repeats, reverts in parts:
                ticked = step.ticked and not (one or reverts)
                continued = step.continued and not (one or reverts)
                try:
                    done += await self._act_once(
                        step, one, repeats, reverts, ticked=ticked, continued=continued
                    )
                except Exception as part_exc:
                    self._telemetry.engine_failures.labels(stage="actions").inc()
                    alert = one[0][1] if one else reverts[0][0] if reverts else None
                    log.error(
                        "engine_actions_dropped",
                        alert_id=str(alert.id) if alert is not None else None,
                        error=repr(part_exc),
                    )
        if self.events is not None and self.events.heard:
            for action in done:
                data = action_out(action).model_dump(mode="json", by_alias=True)
                self.events.publish(f"action.{action.status}", data)

    async def _act_once(
        self,
        step: Step,
        fired: list[Fired],
        firing: list[FiringPair],
        resolved: list[tuple[PerformanceAlert, float]],
        *,
        ticked: bool,
        continued: bool = False,
    ) -> list[OptimizationAction]:
        actions = self.actions
        assert actions is not None
        async with self._sessionmaker() as session, session.begin():
            return await actions.on_step(
                session,
                now=step.now,
                ticked=ticked,
                continued=continued,
                fired=fired,
                firing=firing,
                resolved=resolved,
            )

    def _observe_path(self, step: Step, t: AlertTransition, began: float, committed: float) -> None:
        """The engine's stages of a fired alert's path (telemetry.ALERT_PATH_STAGES)."""
        origin = step.origins.get(t.pair)
        stage = self._telemetry.alert_path.labels
        if origin is not None:
            timing = origin.timing
            if timing is not None:
                if t.sample_ts is not None:
                    stage("received").observe(max(0.0, timing.started - t.sample_ts))
                stage("group_commit").observe(max(0.0, timing.committed - timing.started))
            stage("engine_queue").observe(max(0.0, step.taken - origin.queued))
        if step.taken:
            stage("evaluate").observe(max(0.0, began - step.taken))
        stage("step_commit").observe(max(0.0, committed - began))

    async def _fire(
        self, session: AsyncSession, spec: RuleSpec, t: AlertTransition
    ) -> PerformanceAlert | None:
        existing = await alert_repo.open_alert_by_fingerprint(
            session, alerts.fingerprint(t.rule_id, t.service_name, t.group)
        )
        if existing is not None:  # never two open alerts per fingerprint, even after a crash
            if t.value is not None:
                await alerts.record_value(session, existing.id, value=t.value, at=t.at)
            self._open[t.pair] = existing.id
            return None
        series = self.core.series(t.service_name, spec.metric)
        histograms = series.histograms if series is not None else None
        basis = percentile_basis(histograms, spec.aggregation, span=spec.window, now=t.at)
        return await alerts.fire(session, spec, t, percentile_basis=basis)

    def _firing_pairs(
        self,
        opened: dict[Pair, uuid.UUID],
        closed: set[Pair],
        now: float,
        scope: set[Pair] | None,
    ) -> list[FiringPair]:
        """Open, unacknowledged alerts whose condition still holds: their action may repeat.
        (Those the coordinator would skip for certain, by cooldown, are left out first: a
        pair's evaluation time is at most the newest engine time yet, `_horizon`.)"""
        out = []
        actions = self.actions
        horizon = max(now, self._horizon)
        for pair, alert_id in (self._open | opened).items():
            if pair in closed or (scope is not None and pair not in scope):
                continue
            if alert_id in self._silenced:
                continue
            if actions is not None and not actions.may_repeat(pair[0], pair[1], horizon):
                continue
            spec = self.core.rule(pair[0])
            state = self.core.state_of(*pair)
            if spec is None or state is None or state.phase is not Phase.FIRING:
                continue
            if state.acknowledged or state.last_value is None:
                continue
            if condition_holds(spec.operator, state.last_value, spec.threshold):
                # the pair's own evaluation time: sample time, not the wall clock
                at = state.last_eval_at if state.last_eval_at is not None else now
                out.append(FiringPair(spec, pair[1], alert_id, at))
        return out

    async def _persist(self, step: Step) -> None:
        """Commit the step; if that fails, retry it, then isolate its pairs from each other.

        A failed commit leaves the core ahead of the database, so nothing is given up lightly:
        rules deleted meanwhile (their state rows are gone, the foreign key refuses new ones)
        are forgotten and the step retried whole; if it still fails, each pair commits on its
        own and only a pair that fails again is dropped (logged, counted, and reset so that it
        fires again once it can be written).
        """
        self._horizon = max(self._horizon, step.now)
        actions = self.actions
        busy = actions is not None and (
            step.ticked
            or bool(self._open or self.unactioned)
            or actions.pending_measurements > 0
            or actions.deferred_proposals > 0
        )
        if not step.transitions and not step.dirty and not busy and step.position is None:
            return
        step.now = step.now or self._clock()
        try:
            await self._commit(step)
            return
        except Exception as exc:
            self._step_failed(exc, step)
        async with self._readers() as session:
            vanished = await rules_repo.missing_rule_ids(session, step.rule_ids())
        if vanished:
            for rule_id in sorted(vanished):
                await self._reload_rule(rule_id, step)  # as its RuleChanged would
            step.without_transitions_of(vanished)
            try:
                await self._commit(step)
                return
            except Exception as exc:
                self._step_failed(exc, step)
        pairs = step.pairs()
        for pair in sorted(pairs):
            try:
                await self._commit(step.only(pair), scope={pair})
            except Exception as exc:
                self._telemetry.engine_failures.labels(stage="persist").inc()
                log.error(
                    "engine_pair_persist_failed",
                    rule_id=pair[0],
                    service=pair[1],
                    error=repr(exc),
                )
                self.core.manual_resolve(*pair)  # back to inactive: re-evaluated from scratch
        if actions is not None:
            await self._commit(step.rest(), scope=set(self._open) - pairs)

    def _step_failed(self, exc: Exception, step: Step) -> None:
        self._telemetry.engine_failures.labels(stage="step").inc()
        log.warning(
            "engine_step_retrying",
            error=repr(exc),
            transitions=len(step.transitions),
            pairs=len(step.pairs()),
        )
