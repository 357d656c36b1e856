"""A committed step's actions, kept until the engine has nothing queued.

An engine step writes its alerts in one transaction and the actions they call for in a second
one (engine/persist.py), which takes twice as long (a dozen reads and writes per action). Under
load the next alert's step would wait for the previous alert's action; so a step's actions are
kept here (`ActJob`) and run, oldest first, once the engine's queue is empty or the oldest has
waited ACT_DEFER_MAX_S (EngineRunner._process_loop). drain() waits for them too, and a shard
hand-over runs them before the engine lets its services go (engine/sharded.py). A step that
only repeats actions and takes due measurements ("plain") is covered by any later step's
actions, so such steps waiting in a row are run once.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from perfpilot.alertmanager.intake import is_received
from perfpilot.engine.core import Pair
from perfpilot.engine.state_machine import RuleSpec
from perfpilot.engine.step import Step
from perfpilot.models import PerformanceAlert

Fired = tuple[RuleSpec, PerformanceAlert, float]  # a firing whose action is to run, and when

# a committed step's actions wait for queued samples at most this long (module docstring)
ACT_DEFER_MAX_S = 0.25


@dataclass(frozen=True, slots=True)
class ActJob:
    """One committed step's actions, still to run."""

    step: Step
    fired: list[Fired]
    resolved: list[tuple[PerformanceAlert, float]]
    scope: set[Pair] | None  # the firing pairs whose actions may repeat (None: all)
    resumed: list[PerformanceAlert]  # alerts whose silence ended
    queued: float  # monotonic

    @property
    def plain(self) -> bool:
        """Only repeats and due measurements, which a later step's actions cover as well
        (repeats are decided once per step, from the pairs firing when it runs)."""
        step = self.step
        return not (self.fired or self.resolved or self.resumed or step.ticked or step.continued)


class DeferredActs:
    """The queue of committed steps' actions (the engine's StepWriter supplies `_act` and
    `_resume_received`)."""

    _acts_pending: list[ActJob]

    def defer(self, job: ActJob) -> None:
        if job.scope is None:  # a plain job's work is redone by any later one (ActJob)
            self._acts_pending = [j for j in self._acts_pending if not j.plain]
        self._acts_pending.append(job)

    @property
    def acts_overdue(self) -> bool:
        """Whether the oldest deferred step's actions have waited ACT_DEFER_MAX_S."""
        pending = self._acts_pending
        return bool(pending) and time.monotonic() - pending[0].queued >= ACT_DEFER_MAX_S

    async def run_deferred_acts(self) -> float:
        """Run the kept actions, oldest first; returns the engine time of the last one's
        step."""
        now = 0.0
        while self._acts_pending:
            job = self._acts_pending.pop(0)
            now = job.step.now
            await self._act(job.step, job.fired, job.resolved, job.scope)
            for alert in job.resumed:
                if is_received(alert):  # from Alertmanager: its binding's action
                    await self._resume_received(alert.id)
        return now

    async def _act(
        self,
        step: Step,
        fired: list[Fired],
        resolved: list[tuple[PerformanceAlert, float]],
        scope: set[Pair] | None,
    ) -> None:
        raise NotImplementedError

    async def _resume_received(self, alert_id: uuid.UUID) -> None:
        raise NotImplementedError
