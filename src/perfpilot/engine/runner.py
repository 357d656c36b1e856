"""The loop around the pure core: feeds it samples, ticks and commands, and persists what it
decides (alerts, their outbox events, per-pair states) in one transaction per step.

Everything that changes alert state from the engine's side goes through one task and one
queue, so samples, ticks, rule changes and operator actions apply in a single order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfpilot.actions.coordinator import ActionCoordinator, FiringPair
from perfpilot.actions.serialize import action_out
from perfpilot.alerts import repository as alert_repo
from perfpilot.alerts import service as alerts
from perfpilot.core.config import Settings
from perfpilot.engine.core import EvaluationCore, Pair
from perfpilot.engine.restore import restore_core
from perfpilot.engine.state_machine import (
    REASON_DATA_RESUMED,
    AlertTransition,
    Phase,
    RuleSpec,
    TransitionKind,
    condition_holds,
)
from perfpilot.engine.windows import Sample
from perfpilot.metrics.stream import SampleRow, SampleStream
from perfpilot.models import (
    OptimizationAction,
    OptimizationRule,
    PerformanceAlert,
)
from perfpilot.monitoring.events import EventHub
from perfpilot.monitoring.telemetry import Telemetry
from perfpilot.rules.service import InvalidStoredRule, rule_spec

log = structlog.get_logger("perfpilot.engine")

Clock = Callable[[], float]

# A pair that keeps failing is logged at most this often (every failure is counted).
_FAILURE_LOG_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class _Tick:
    now: float


@dataclass(frozen=True, slots=True)
class _RuleChanged:
    rule_id: str


@dataclass(frozen=True, slots=True)
class _AlertClosed:
    pair: Pair


@dataclass(frozen=True, slots=True)
class _AlertAcknowledged:
    pair: Pair


_Work = list[SampleRow] | _Tick | _RuleChanged | _AlertClosed | _AlertAcknowledged


@dataclass
class _Step:
    """What one pass changed, to persist in one transaction."""

    transitions: list[AlertTransition]
    dirty: set[Pair]
    dropped: list[tuple[Pair, str]]  # pairs whose rule no longer applies, with the reason
    now: float = 0.0  # engine time: newest sample time or tick time seen in the step
    ticked: bool = False


def _alert_data(alert: PerformanceAlert) -> dict[str, object]:
    """An alert as its API shape (camelCase JSON), for live events."""
    return alerts.alert_out(alert).model_dump(mode="json", by_alias=True)


class EngineRunner:
    """Drives the EvaluationCore; implements core.context.EngineControl."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        samples: SampleStream,
        telemetry: Telemetry,
        settings: Settings,
        clock: Clock = time.time,
        on_alert_changes: Callable[[], None] | None = None,
    ) -> None:
        self.core = EvaluationCore(no_data_after=settings.no_data_after_seconds)
        self._sessionmaker = sessionmaker
        self._samples = samples
        self._telemetry = telemetry
        self._settings = settings
        self._clock = clock
        self._queue: asyncio.Queue[_Work] = asyncio.Queue()
        self._open: dict[Pair, uuid.UUID] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._on_alert_changes = on_alert_changes
        self.actions: ActionCoordinator | None = None
        self.events: EventHub | None = None  # live views (SSE); set by create_app
        self._idle = asyncio.Event()
        self._idle.set()
        self._failure_logged: dict[Pair, float] = {}

    # -- EngineControl -------------------------------------------------------------------
    def rule_changed(self, rule_id: str) -> None:
        self._put(_RuleChanged(rule_id))

    def alert_closed(self, rule_id: str, service_name: str) -> None:
        self._put(_AlertClosed((rule_id, service_name)))

    def alert_acknowledged(self, rule_id: str, service_name: str) -> None:
        self._put(_AlertAcknowledged((rule_id, service_name)))

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return bool(self._tasks) and all(not t.done() for t in self._tasks)

    async def start(self) -> None:
        await self._restore()
        self._samples.add_listener(self._put)
        self._tasks = [
            asyncio.create_task(self._process_loop(), name="perfpilot-engine"),
            asyncio.create_task(self._tick_loop(), name="perfpilot-engine-tick"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def drain(self) -> None:
        """Wait until every queued sample and command has been processed (tests, shutdown)."""
        while not (self._queue.empty() and self._idle.is_set()):
            await self._idle.wait()

    def tick_now(self, now: float | None = None) -> None:
        """Queue an evaluation tick at `now` (default: the clock)."""
        self._put(_Tick(self._clock() if now is None else now))

    def latest_sample_ts(self, service_name: str, metric_type: str) -> float | None:
        latest = self.core.latest(service_name, metric_type)
        return latest[0] if latest is not None else None

    def _put(self, work: _Work) -> None:
        self._idle.clear()
        self._queue.put_nowait(work)
        self._telemetry.engine_queue.set(self._queue.qsize())

    # -- restore ------------------------------------------------------------------------
    async def _restore(self) -> None:
        """Rules, open alerts, pending timers and recent windows, from the database."""
        async with self._sessionmaker() as session:
            self._open = await restore_core(
                self.core,
                session,
                now=self._clock(),
                no_data_after=self._settings.no_data_after_seconds,
                max_samples=self._settings.engine_restore_max_samples,
            )
            if self.actions is not None:
                await self.actions.load(session)
        log.info("engine_restored", rules=len(self.core.rules()), open_alerts=len(self._open))

    # -- loops ---------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.engine_tick_seconds)
            self.tick_now()

    async def _process_loop(self) -> None:
        while True:
            work = [await self._queue.get()]
            while not self._queue.empty():
                work.append(self._queue.get_nowait())
            self._telemetry.engine_queue.set(0)
            try:
                step = await self._apply(work)
                await self._persist(step)
            except Exception:  # keep evaluating; the failure is logged with its cause
                log.exception("engine_step_failed", items=len(work))
            finally:
                if self._queue.empty():
                    self._idle.set()

    async def _apply(self, work: Sequence[_Work]) -> _Step:
        step = _Step(transitions=[], dirty=set(), dropped=[])
        core = self.core
        for item in work:
            if isinstance(item, list):
                samples = [
                    Sample(
                        r["service_name"], r["metric_type"], r["value"], r["timestamp"].timestamp()
                    )
                    for r in item
                ]
                if samples:
                    step.now = max(step.now, max(sample.ts for sample in samples))
                step.transitions.extend(core.evaluate_batch(samples))
                self._report_failures()
                self._telemetry.samples_evaluated.inc(len(samples))
            elif isinstance(item, _Tick):
                step.now = max(step.now, item.now)
                step.ticked = True
                step.transitions.extend(core.tick(item.now))
                self._report_failures()
            elif isinstance(item, _AlertClosed):
                core.manual_resolve(*item.pair)
                self._open.pop(item.pair, None)
                step.dirty.add(item.pair)
            elif isinstance(item, _AlertAcknowledged):
                core.acknowledge(*item.pair)
                step.dirty.add(item.pair)
            else:
                await self._reload_rule(item.rule_id, step)
        return step

    def _report_failures(self) -> None:
        """Log (throttled per pair) and count the pair evaluations the core isolated."""
        failures = self.core.take_failures()
        if not failures:
            return
        self._telemetry.engine_failures.labels(stage="evaluate").inc(len(failures))
        now = time.monotonic()
        if len(self._failure_logged) > 10_000:
            self._failure_logged.clear()
        for failure in failures:
            pair = (failure.rule_id, failure.service_name)
            last = self._failure_logged.get(pair)
            if last is not None and now - last < _FAILURE_LOG_INTERVAL:
                continue
            self._failure_logged[pair] = now
            log.error(
                "engine_pair_evaluation_failed",
                rule_id=failure.rule_id,
                service=failure.service_name,
                error=repr(failure.error),
                exc_info=failure.error,
            )

    async def _reload_rule(self, rule_id: str, step: _Step) -> None:
        if self.actions is not None:
            self.actions.forget_rule(rule_id)  # its action may have changed too
        async with self._sessionmaker() as session:
            rule = await session.get(OptimizationRule, uuid.UUID(rule_id))
        spec: RuleSpec | None = None
        if rule is None:
            reason = "rule_deleted"
        else:
            try:
                spec = rule_spec(rule)
            except InvalidStoredRule as exc:
                log.warning("rule_invalid_skipped", rule_id=rule_id, reason=str(exc))
                reason = "rule_invalid"
        if spec is None:
            dropped = self.core.remove_rule(rule_id)
        else:
            dropped = self.core.upsert_rule(spec)
            reason = "rule_disabled" if not spec.is_active else "rule_changed"
        for pair in dropped:
            step.dropped.append((pair, reason))
            step.dirty.add(pair)
        # open alerts of pairs without state (none pending) still close when the rule stops
        if spec is None or not spec.is_active:
            for pair in [p for p in self._open if p[0] == rule_id and p not in step.dirty]:
                step.dropped.append((pair, reason))
                step.dirty.add(pair)

    async def _persist(self, step: _Step) -> None:
        actions = self.actions
        busy = actions is not None and (
            step.ticked or bool(self._open) or actions.pending_measurements > 0
        )
        if not step.transitions and not step.dirty and not busy:
            return
        opened: dict[Pair, uuid.UUID] = {}
        closed: set[Pair] = set()
        done_actions: list[OptimizationAction] = []
        fired: list[tuple[RuleSpec, PerformanceAlert, AlertTransition]] = []
        resolved: list[tuple[PerformanceAlert, float]] = []
        now = self._clock()
        step.now = step.now or now
        async with self._sessionmaker() as session, session.begin():
            latest_value: dict[Pair, AlertTransition] = {}
            for t in step.transitions:
                pair = (t.rule_id, t.service_name)
                step.dirty.add(pair)
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
            stamp = datetime.fromtimestamp(now, UTC)
            for pair in step.dirty:
                state = self.core.state_of(*pair)
                rule_uuid = uuid.UUID(pair[0])
                if (
                    state is None
                    or state.phase is Phase.INACTIVE
                    or self.core.rule(pair[0]) is None
                ):
                    await alert_repo.delete_state(session, rule_id=rule_uuid, service_name=pair[1])
                else:
                    await alert_repo.save_state(
                        session,
                        rule_id=rule_uuid,
                        service_name=pair[1],
                        state=state.to_dict(),
                        at=stamp,
                    )
            if actions is not None:
                done_actions = await actions.on_step(
                    session,
                    now=step.now,
                    ticked=step.ticked,
                    fired=[(spec, a, t.at) for spec, a, t in fired],
                    firing=self._firing_pairs(opened, closed, step.now),
                    resolved=resolved,
                )
        # committed: only now does memory follow
        for pair in closed:
            self._open.pop(pair, None)
        self._open.update(opened)
        committed_at = time.time()
        for _, _, t in fired:
            if t.sample_ts is not None:
                self._telemetry.alert_commit_latency.observe(max(0.0, committed_at - t.sample_ts))
        if self._on_alert_changes is not None:
            self._on_alert_changes()  # the outbox may have new rows: deliver them now
        # live views (monitoring/events.py), after commit: subscribers see committed changes only
        if self.events is not None:
            for _, alert, _ in fired:
                self.events.publish("alert.fired", _alert_data(alert))
            for alert, _ in resolved:
                self.events.publish("alert.resolved", _alert_data(alert))
            for action in done_actions:
                data = action_out(action).model_dump(mode="json", by_alias=True)
                self.events.publish(f"action.{action.status}", data)

    async def _fire(
        self, session: AsyncSession, spec: RuleSpec, t: AlertTransition
    ) -> PerformanceAlert | None:
        existing = await alert_repo.open_alert_by_fingerprint(
            session, alerts.fingerprint(t.rule_id, t.service_name)
        )
        if existing is not None:  # never two open alerts per fingerprint, even after a crash
            if t.value is not None:
                await alerts.record_value(session, existing.id, value=t.value, at=t.at)
            self._open[(t.rule_id, t.service_name)] = existing.id
            return None
        return await alerts.fire(session, spec, t)

    def _firing_pairs(
        self, opened: dict[Pair, uuid.UUID], closed: set[Pair], now: float
    ) -> list[FiringPair]:
        """Open, unacknowledged alerts whose condition still holds: their action may repeat."""
        out = []
        for pair, alert_id in (self._open | opened).items():
            if pair in closed:
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
