"""Replay stored samples through the real engine core and record what it would have done.

Pure: samples and times in, intervals and actions out. The engine core decides every
transition (perfpilot.engine.core.EvaluationCore, the same object the live loop drives); this
module only turns its transitions into intervals and applies the action repeat rule of
perfpilot.actions.coordinator (fire, then every cooldown while firing, unacknowledged, and
the condition holds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from perfpilot.engine.core import EvaluationCore
from perfpilot.engine.state_machine import (
    AlertTransition,
    Phase,
    RuleSpec,
    TransitionKind,
    condition_holds,
)
from perfpilot.engine.windows import Sample


@dataclass
class Interval:
    service_name: str
    state: str  # pending | firing
    start: float
    end: float | None = None
    ended_by: str | None = None
    peak: float | None = None


@dataclass(frozen=True, slots=True)
class PlannedAction:
    at: float
    service_name: str
    repeat: bool


class ReplayTooLong(Exception):
    """`over_budget` said stop (the caller's time limit)."""


def _never() -> bool:
    return False


@dataclass
class Replay:
    """Feed samples in time order (`add`), then `finish(until)`."""

    spec: RuleSpec
    cooldown: float
    tick_seconds: float
    no_data_after: float
    # asked every 1,024 ticks: a long quiet period is many ticks and no samples
    over_budget: Callable[[], bool] = _never
    core: EvaluationCore = field(init=False)
    intervals: list[Interval] = field(default_factory=list)
    actions: list[PlannedAction] = field(default_factory=list)
    samples: int = 0
    services: set[str] = field(default_factory=set)
    _open: dict[tuple[str, str], Interval] = field(default_factory=dict)
    _last_action: dict[str, float] = field(default_factory=dict)
    _next_tick: float | None = None

    def __post_init__(self) -> None:
        self.core = EvaluationCore(no_data_after=self.no_data_after)
        self.core.upsert_rule(self.spec)

    def add(self, samples: list[Sample]) -> None:
        for sample in samples:
            self._tick_until(sample.ts)
            self.samples += 1
            self.services.add(sample.service_name)
            self._record(self.core.evaluate_sample(sample))
            self._repeat(sample.service_name, sample.ts)

    def finish(self, until: float) -> None:
        """Run the periodic ticks up to `until`; what is still open stays open (end None)."""
        self._tick_until(until)

    def _tick_until(self, t: float) -> None:
        # The live engine ticks every `tick_seconds`: durations and keepFiringFor complete,
        # and missing data is noticed, between samples too.
        if self._next_tick is None:
            self._next_tick = t + self.tick_seconds
            return
        ticks = 0
        while self._next_tick <= t:
            ticks += 1
            if ticks % 1024 == 0 and self.over_budget():
                raise ReplayTooLong
            now = self._next_tick
            self._record(self.core.tick(now))
            for service in sorted(self.services):
                self._repeat(service, now)
            self._next_tick = now + self.tick_seconds

    def _record(self, transitions: list[AlertTransition]) -> None:
        for t in transitions:
            service = t.service_name
            pending = self._open.get((service, "pending"))
            firing = self._open.get((service, "firing"))
            if t.kind is TransitionKind.PENDING:
                self._start(service, "pending", t)
            elif t.kind is TransitionKind.PENDING_CLEARED and pending is not None:
                self._end(pending, t.at, "no_data" if t.value is None else "cleared")
            elif t.kind is TransitionKind.FIRED:
                if pending is not None:
                    self._end(pending, t.at, "fired")
                self._start(service, "firing", t)
                self.actions.append(PlannedAction(t.at, service, repeat=False))
                self._last_action[service] = t.at
            elif t.kind is TransitionKind.RESOLVED and firing is not None:
                self._end(firing, t.at, t.reason)
            elif t.value is not None:
                for interval in (pending, firing):
                    if interval is not None:
                        interval.peak = _worse(self.spec, interval.peak, t.value)

    def _start(self, service: str, state: str, t: AlertTransition) -> None:
        interval = Interval(service, state, t.at, peak=t.value)
        self._open[(service, state)] = interval
        self.intervals.append(interval)

    def _end(self, interval: Interval, at: float, reason: str) -> None:
        interval.end = at
        interval.ended_by = reason
        del self._open[(interval.service_name, interval.state)]

    def _repeat(self, service: str, now: float) -> None:
        if (service, "firing") not in self._open:
            return
        state = self.core.state_of(self.spec.rule_id, service)
        if state is None or state.phase is not Phase.FIRING or state.last_value is None:
            return
        interval = self._open[(service, "firing")]
        interval.peak = _worse(self.spec, interval.peak, state.last_value)
        if not condition_holds(self.spec.operator, state.last_value, self.spec.threshold):
            return
        at = state.last_eval_at if state.last_eval_at is not None else now
        last = self._last_action.get(service)
        if last is not None and at - last >= self.cooldown:
            self.actions.append(PlannedAction(at, service, repeat=True))
            self._last_action[service] = at


def _worse(spec: RuleSpec, current: float | None, value: float) -> float:
    """The value furthest on the alerting side: the peak of an interval."""
    if current is None:
        return value
    if spec.operator in ("lt", "lte"):
        return min(current, value)
    return max(current, value)


def summary(replay: Replay) -> dict[str, Any]:
    """Counts for the response."""
    fired = sum(1 for i in replay.intervals if i.state == "firing")
    resolved = sum(1 for i in replay.intervals if i.state == "firing" and i.end is not None)
    return {"fired": fired, "resolved": resolved}
