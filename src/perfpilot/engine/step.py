"""What the runner queues for the engine, and what one engine step changed (to persist)."""

from __future__ import annotations

from dataclasses import dataclass, field

from perfpilot.engine.core import Pair
from perfpilot.engine.state_machine import AlertTransition
from perfpilot.metrics.stream import GroupTiming, SampleRow


@dataclass(frozen=True, slots=True)
class Samples:
    """A committed group of samples, with its commit's timing and when the engine got it
    (wall clock), for the alert path's stages."""

    rows: list[SampleRow]
    timing: GroupTiming | None
    queued: float


@dataclass(frozen=True, slots=True)
class Tick:
    now: float


@dataclass(frozen=True, slots=True)
class Continue:
    """A step at a tick's time that only runs more of the tick's autoscaler proposals
    (actions/coordinator.py spreads them over steps); it evaluates nothing."""

    now: float


@dataclass(frozen=True, slots=True)
class RuleChanged:
    rule_id: str


@dataclass(frozen=True, slots=True)
class AlertClosed:
    pair: Pair


@dataclass(frozen=True, slots=True)
class AlertAcknowledged:
    pair: Pair


@dataclass(frozen=True, slots=True)
class FeedPull:
    """Read the owned shards' newly committed samples from the store (engine/sharded.py)."""


# How far a sharded engine has evaluated: every sample of these shards inserted by a
# transaction below `watermark` (cluster/repository.py).
@dataclass(frozen=True, slots=True)
class Position:
    watermark: int
    shards: tuple[int, ...]


Work = Samples | Tick | Continue | RuleChanged | AlertClosed | AlertAcknowledged | FeedPull


@dataclass
class Step:
    """What one pass changed, to persist in one transaction."""

    transitions: list[AlertTransition] = field(default_factory=list)
    dirty: set[Pair] = field(default_factory=set)
    dropped: list[tuple[Pair, str]] = field(default_factory=list)  # rule gone, with reason
    now: float = 0.0  # engine time: newest sample time or tick time seen in the step
    ticked: bool = False
    continued: bool = False  # a Continue: the tick's deferred autoscaler proposals
    taken: float = 0.0  # wall clock: when the step took its work off the queue
    origins: dict[Pair, Samples] = field(default_factory=dict)  # the group a firing came from
    position: Position | None = None  # sharded engine: saved with the step's alerts

    def pairs(self) -> set[Pair]:
        """Every (rule, service, group) pair the step writes something for."""
        touched = set(self.dirty)
        touched.update(t.pair for t in self.transitions)
        touched.update(pair for pair, _ in self.dropped)
        return touched

    def rule_ids(self) -> set[str]:
        return {pair[0] for pair in self.pairs()}

    def without_transitions_of(self, rule_ids: set[str]) -> None:
        """Forget what rules that no longer exist decided (their pairs stay dirty)."""
        self.transitions = [t for t in self.transitions if t.rule_id not in rule_ids]

    def only(self, pair: Pair) -> Step:
        """The part of this step that concerns one pair (no tick: that is not per pair)."""
        return Step(
            transitions=[t for t in self.transitions if t.pair == pair],
            dirty={pair} & self.pairs(),
            dropped=[(p, reason) for p, reason in self.dropped if p == pair],
            now=self.now,
        )

    def rest(self) -> Step:
        """The part of this step that concerns no pair: the tick (autoscaler, measurements)."""
        return Step(
            now=self.now, ticked=self.ticked, continued=self.continued, position=self.position
        )
