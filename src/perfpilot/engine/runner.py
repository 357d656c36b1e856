"""The loop around the pure core: feeds it samples, ticks and commands, and persists what it
decides (alerts, their outbox events, per-pair states) in one transaction per step, then the
step's actions in a second one (written by engine/persist.py; a step whose alerts fail to
commit is retried, then split pair by pair; its actions likewise, one by one).

Everything that changes alert state from the engine's side goes through one task and one
queue, so samples, ticks, rule changes and operator actions apply in a single order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfpilot.actions import repository as actions_repo
from perfpilot.actions.coordinator import ActionCoordinator
from perfpilot.alerts import repository as alerts_repo
from perfpilot.core.config import Settings
from perfpilot.core.db import set_writer_role
from perfpilot.core.sqlite_driver import run_statements_inline
from perfpilot.engine.core import EvaluationCore, Pair
from perfpilot.engine.persist import StepWriter
from perfpilot.engine.restore import restore_core
from perfpilot.engine.selectors import NO_GROUP, Group
from perfpilot.engine.state_machine import RuleSpec, TransitionKind
from perfpilot.engine.step import (
    AlertAcknowledged,
    AlertClosed,
    Continue,
    RuleChanged,
    Samples,
    Step,
    Tick,
    Work,
)
from perfpilot.engine.windows import Sample
from perfpilot.metrics.stream import GroupTiming, SampleRow, SampleStream
from perfpilot.models import OptimizationRule
from perfpilot.monitoring.events import EventHub
from perfpilot.monitoring.telemetry import Telemetry
from perfpilot.rules.service import InvalidStoredRule, rule_spec
from perfpilot.silences.review import is_silenced

# a deferred autoscaler proposal runs after at most this long even when the engine never idles
DEFERRED_MAX_S = 1.0

log = structlog.get_logger("perfpilot.engine")

Clock = Callable[[], float]

# A pair that keeps failing is logged at most this often (every failure is counted).
_FAILURE_LOG_INTERVAL = 60.0
# samples evaluated between two turns of the event loop (EngineRunner._apply): ~5 ms of work
# with 100 rules
EVALUATE_SLICE = 1000


class EngineRunner(StepWriter):
    """Drives the EvaluationCore; implements core.context.EngineControl."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        readers: async_sessionmaker[AsyncSession] | None = None,
        samples: SampleStream,
        telemetry: Telemetry,
        settings: Settings,
        clock: Clock = time.time,
        on_alert_changes: Callable[[], None] | None = None,
    ) -> None:
        self.core = EvaluationCore(no_data_after=settings.no_data_after_seconds)
        self._sessionmaker = sessionmaker  # the write side: one step, one transaction
        self._readers = readers or sessionmaker  # reads that write nothing
        self._continue_queued = False  # a Continue is in the queue (_continue_later)
        self._samples = samples
        self._telemetry = telemetry
        self._settings = settings
        self._clock = clock
        self._queue: asyncio.Queue[Work] = asyncio.Queue()
        self._open: dict[Pair, uuid.UUID] = {}
        self._silenced: set[uuid.UUID] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._on_alert_changes = on_alert_changes
        self.actions: ActionCoordinator | None = None
        self.events: EventHub | None = None  # live views (SSE); set by create_app
        self._idle = asyncio.Event()
        self._idle.set()
        # held for each step from apply to commit: shard hand-overs (engine/sharded.py) happen
        # between steps, never inside one
        self._step_lock = asyncio.Lock()
        self._failure_logged: dict[tuple[str, str], float] = {}
        self.unactioned = []
        self._acts_pending = []
        self._horizon = 0.0

    # -- EngineControl -------------------------------------------------------------------
    def rule_changed(self, rule_id: str) -> None:
        self._put(RuleChanged(rule_id))

    def alert_closed(self, rule_id: str, service_name: str, group: Group = NO_GROUP) -> None:
        self._put(AlertClosed((rule_id, service_name, group)))

    def alert_acknowledged(self, rule_id: str, service_name: str, group: Group = NO_GROUP) -> None:
        self._put(AlertAcknowledged((rule_id, service_name, group)))

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return bool(self._tasks) and all(not t.done() for t in self._tasks)

    async def start(self) -> None:
        await self._restore()
        self._samples.add_listener(self._samples_committed)
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
        """Wait until every queued sample and command has been processed and every action
        decided has run (tests, shutdown)."""
        while not (self._queue.empty() and self._idle.is_set()):
            await self._idle.wait()

    def tick_now(self, now: float | None = None) -> None:
        """Queue an evaluation tick at `now` (default: the clock)."""
        self._put(Tick(self._clock() if now is None else now))

    def latest_sample_ts(self, service_name: str, metric_type: str) -> float | None:
        latest = self.core.latest(service_name, metric_type)
        return latest[0] if latest is not None else None

    def _samples_committed(self, rows: list[SampleRow], timing: GroupTiming | None) -> None:
        self._put(Samples(rows, timing, time.time()))

    def _put(self, work: Work) -> None:
        self._idle.clear()
        self._queue.put_nowait(work)
        self._telemetry.engine_queue.set(self._queue.qsize())

    # -- restore ------------------------------------------------------------------------
    async def _restore(self) -> None:
        """Rules, open alerts, pending timers and recent windows, from the database."""
        async with self._readers() as session:
            self._open = await restore_core(
                self.core,
                session,
                now=self._clock(),
                no_data_after=self._settings.no_data_after_seconds,
                max_samples=self._settings.engine_restore_max_samples,
            )
            await self._restore_actions(session)
        log.info(
            "engine_restored",
            rules=len(self.core.rules()),
            open_alerts=len(self._open),
            unactioned_alerts=len(self.unactioned),
        )

    async def _restore_actions(
        self, session: AsyncSession, owns: Callable[[str], bool] | None = None
    ) -> None:
        """Cooldowns and pending measurements, and the open alerts whose action never ran
        (of the services `owns` accepts, default all); which open alerts are silenced."""
        self._silenced |= {
            a.id
            for a in await alerts_repo.open_alerts(session)
            if is_silenced(a) and (owns is None or owns(a.service_name))
        }
        if self.actions is None:
            return
        await self.actions.load(session)
        for alert in await actions_repo.unactioned_open_alerts(session):
            if is_silenced(alert):
                continue  # its action waits for the silence to end
            spec = self.core.rule(str(alert.rule_id))
            if spec is not None and (owns is None or owns(alert.service_name)):
                self.unactioned.append((spec, alert, alert.triggered_at.timestamp()))

    # -- loops ---------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.engine_tick_seconds)
            self.tick_now()

    async def _process_loop(self) -> None:
        """Steps, each committing its alerts; the actions they decide run once nothing is
        queued, or once the oldest has waited ACT_DEFER_MAX_S (engine/deferred.py)."""
        set_writer_role("engine")
        # SQLite: the engine's transactions hold the write turn only for their own work
        # (core/sqlite_driver.run_statements_inline)
        run_statements_inline()
        while True:
            try:
                if self._acts_pending and (self._queue.empty() or self.acts_overdue):
                    async with self._step_lock:
                        self._continue_later(await self.run_deferred_acts())
                    continue
                work = [await self._queue.get()]
                while not self._queue.empty():
                    work.append(self._queue.get_nowait())
                self._telemetry.engine_queue.set(0)
                async with self._step_lock:
                    step = await self._apply(work, taken=time.time())
                    await self._persist(step)
            except Exception:  # keep evaluating; the failure is logged with its cause
                log.exception("engine_step_failed")
            finally:
                if self._queue.empty() and not self._acts_pending:
                    self._idle.set()

    async def _apply(self, work: Sequence[Work], *, taken: float = 0.0) -> Step:
        step = Step(taken=taken)
        core = self.core
        for item in work:
            if isinstance(item, Samples):
                # a big group (a 10,000-sample batch takes tens of ms) in slices, letting the
                # event loop run between them: requests, and the writer thread's hop back
                rows = item.rows
                for start in range(0, len(rows), EVALUATE_SLICE):
                    if start:
                        await asyncio.sleep(0)
                    self._evaluate_rows(item, step, rows=rows[start : start + EVALUATE_SLICE])
            elif isinstance(item, Tick):
                step.now = max(step.now, item.now)
                step.ticked = True
                step.transitions.extend(core.tick(item.now))
                self._report_failures()
            elif isinstance(item, Continue):
                step.now = max(step.now, item.now)
                step.continued = True
                self._continue_queued = False
            elif isinstance(item, AlertClosed):
                core.manual_resolve(*item.pair)
                self._open.pop(item.pair, None)
                step.dirty.add(item.pair)
            elif isinstance(item, AlertAcknowledged):
                core.acknowledge(*item.pair)
                step.dirty.add(item.pair)
            elif isinstance(item, RuleChanged):
                await self._reload_rule(item.rule_id, step)
            else:
                await self._apply_other(item, step)
        return step

    def _continue_later(self, now: float) -> None:
        """A tick's autoscaler proposals run one per step (actions/coordinator.py): while some
        wait, queue a step for the next one when nothing else is queued (samples never wait
        for more than one proposal), or at once if the oldest has waited DEFERRED_MAX_S."""
        actions = self.actions
        if actions is None or not actions.deferred_proposals or self._continue_queued:
            return
        if self._queue.empty() or actions.deferred_waited > DEFERRED_MAX_S:
            self._continue_queued = True
            self._put(Continue(now or self._clock()))

    async def _apply_other(self, item: Work, step: Step) -> None:
        raise TypeError(f"unexpected engine work: {item!r}")  # subclasses add kinds

    def _evaluate_rows(
        self, item: Samples, step: Step, *, rows: Sequence[SampleRow] | None = None
    ) -> None:
        """Evaluate `rows` of `item` (all of them by default)."""
        rows = item.rows if rows is None else rows
        samples = [
            Sample(
                r["service_name"],
                r["metric_type"],
                r["value"],
                r["timestamp"].timestamp(),
                r["labels"] or None,
                r.get("histogram"),
            )
            for r in rows
        ]
        if samples:
            step.now = max(step.now, max(sample.ts for sample in samples))
        transitions = self.core.evaluate_batch(samples)
        for t in transitions:
            if t.kind is TransitionKind.FIRED:
                step.origins.setdefault(t.pair, item)
        step.transitions.extend(transitions)
        self._report_failures()
        self._telemetry.samples_evaluated.inc(len(samples))

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

    async def _reload_rule(self, rule_id: str, step: Step) -> None:
        if self.actions is not None:
            self.actions.forget_rule(rule_id)  # its action may have changed too
        async with self._readers() as session:
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
