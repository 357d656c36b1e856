"""The alert lifecycle of one (rule, service) pair: inactive -> pending -> firing -> inactive.

Pure functions over a mutable ``RuleState``: an aggregate value and an explicit time go in,
at most one ``AlertTransition`` comes out. No clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Literal

from perfpilot.engine.selectors import NO_GROUP, PLAIN, Group, Selector
from perfpilot.engine.windows import AGGREGATIONS

Operator = Literal["gt", "lt", "eq", "gte", "lte"]
NoDataPolicy = Literal["keep", "resolve"]
OPERATORS: Final[tuple[Operator, ...]] = ("gt", "lt", "eq", "gte", "lte")
NO_DATA_POLICIES: Final[tuple[NoDataPolicy, ...]] = ("keep", "resolve")

EQ_REL_TOL: Final = 1e-9
# Relative tolerance alone would make ``eq 0`` demand an exact zero; this absolute floor only
# matters for thresholds near zero.
EQ_ABS_TOL: Final = 1e-12


class Phase(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


class TransitionKind(StrEnum):
    PENDING = "pending"
    PENDING_CLEARED = "pending_cleared"
    FIRED = "fired"
    UPDATED = "updated"
    RESOLVED = "resolved"
    NO_DATA = "no_data"


# Reasons carried by transitions; the I/O layer stores "recovered"/"no_data" as resolve_reason.
REASON_CONDITION_MET: Final = "condition_met"
REASON_DURATION_ELAPSED: Final = "duration_elapsed"
REASON_CONDITION_FALSE: Final = "condition_false"
REASON_VALUE_CHANGED: Final = "value_changed"
REASON_DATA_RESUMED: Final = "data_resumed"
REASON_RECOVERED: Final = "recovered"
REASON_NO_DATA: Final = "no_data"


def condition_holds(operator: str, value: float, threshold: float) -> bool:
    """Compare an aggregate with a threshold; ``eq`` allows a relative error of 1e-9."""
    if operator == "gt":
        return value > threshold
    if operator == "lt":
        return value < threshold
    if operator == "gte":
        return value >= threshold
    if operator == "lte":
        return value <= threshold
    if operator == "eq":
        return math.isclose(value, threshold, rel_tol=EQ_REL_TOL, abs_tol=EQ_ABS_TOL)
    raise ValueError(f"unknown operator {operator!r}")


def resolve_threshold_error(
    operator: str, threshold: float, resolve_threshold: float
) -> str | None:
    """Why a resolve threshold is unusable (None when fine), for 422 messages too.

    It must lie on the safe side of the threshold, or an alert would resolve as it fires and
    flap on every sample.
    """
    if operator in ("gt", "gte") and resolve_threshold > threshold:
        return "resolveThreshold must be <= threshold for gt/gte"
    if operator in ("lt", "lte") and resolve_threshold < threshold:
        return "resolveThreshold must be >= threshold for lt/lte"
    if operator == "eq" and not condition_holds("eq", resolve_threshold, threshold):
        return "resolveThreshold must equal threshold for eq"
    return None


Direction = Literal["up", "down", "both"]
SENSITIVITY_LEVELS: Final[dict[str, float]] = {"low": 0.99, "medium": 0.95, "high": 0.90}


@dataclass(frozen=True, slots=True)
class Anomaly:
    """An `anomalous` condition: the aggregate leaving the forecast interval of `level`.

    The engine evaluates such a rule on the aggregate's distance outside the interval
    (`excess`, > 0 outside), as operator gt against threshold 0, so the lifecycle (duration,
    keepFiringFor, hysteresis at the interval's edge) is the one every rule has.
    """

    sensitivity: str
    direction: Direction

    @property
    def level(self) -> float:
        return SENSITIVITY_LEVELS[self.sensitivity]


def excess(direction: str, value: float, low: float, high: float) -> float:
    """How far `value` lies outside [low, high] in `direction` (<= 0: inside)."""
    if direction == "up":
        return value - high
    if direction == "down":
        return low - value
    return max(value - high, low - value)


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What the engine needs of a rule: its condition, scope and lifecycle options."""

    rule_id: str
    name: str
    service_name: str | None  # None: every service
    metric: str
    operator: Operator
    threshold: float
    duration: float = 0.0
    aggregation: str = "last"
    window: float = 60.0
    resolve_threshold: float | None = None  # None: the threshold itself
    keep_firing_for: float = 0.0
    no_data: NoDataPolicy = "keep"
    severity: str = "medium"
    is_active: bool = True
    selector: Selector = PLAIN  # label matchers and groupBy (engine/selectors.py)
    anomaly: Anomaly | None = None  # operator gt, threshold 0: evaluated on the excess
    # The effective resolve threshold, computed once instead of on every evaluation.
    resolve_at: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise ValueError(f"unknown operator {self.operator!r}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}")
        if self.no_data not in NO_DATA_POLICIES:
            raise ValueError(f"unknown noData policy {self.no_data!r}")
        if not math.isfinite(self.threshold):
            raise ValueError("threshold must be finite")
        if not (math.isfinite(self.window) and self.window > 0):
            raise ValueError("window must be > 0")
        for name in ("duration", "keep_firing_for"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be >= 0")
        if self.anomaly is not None and (self.operator != "gt" or self.threshold != 0):
            raise ValueError("an anomalous rule is evaluated as gt 0 on its excess")
        resolve_at = self.threshold if self.resolve_threshold is None else self.resolve_threshold
        if not math.isfinite(resolve_at):
            raise ValueError("resolve_threshold must be finite")
        problem = resolve_threshold_error(self.operator, self.threshold, resolve_at)
        if problem is not None:
            raise ValueError(problem)
        object.__setattr__(self, "resolve_at", resolve_at)


@dataclass(frozen=True, slots=True)
class AlertTransition:
    """A lifecycle event for the I/O layer to persist.

    ``value`` is the aggregate evaluated (None when the transition comes from missing data);
    ``at`` the evaluation time; ``sample_ts`` the triggering sample's timestamp (None on ticks).
    """

    kind: TransitionKind
    rule_id: str
    service_name: str
    metric: str
    value: float | None
    threshold: float
    at: float
    reason: str
    sample_ts: float | None = None
    group: Group = NO_GROUP  # the groupBy label values of the pair (rule, service, group)

    @property
    def pair(self) -> tuple[str, str, Group]:
        return (self.rule_id, self.service_name, self.group)


class RuleState:
    """Mutable lifecycle state of one (rule, service) pair; a plain dict round-trips it."""

    __slots__ = (
        "acknowledged",
        "fired_at",
        "last_eval_at",
        "last_value",
        "no_data_marked",
        "pending_since",
        "phase",
        "recovering_since",
    )

    def __init__(
        self,
        phase: Phase = Phase.INACTIVE,
        *,
        pending_since: float | None = None,
        fired_at: float | None = None,
        recovering_since: float | None = None,
        last_value: float | None = None,
        last_eval_at: float | None = None,
        acknowledged: bool = False,
        no_data_marked: bool = False,
    ) -> None:
        self.phase = phase
        self.pending_since = pending_since  # start of the episode (kept while firing)
        self.fired_at = fired_at
        self.recovering_since = recovering_since  # firing, on the safe side since then
        self.last_value = last_value
        self.last_eval_at = last_eval_at
        self.acknowledged = acknowledged
        self.no_data_marked = no_data_marked

    def reset(self) -> None:
        """Back to inactive: an inactive state behaves exactly like no state at all."""
        self.phase = Phase.INACTIVE
        self.pending_since = None
        self.fired_at = None
        self.recovering_since = None
        self.acknowledged = False
        self.no_data_marked = False

    def to_dict(self) -> dict[str, str | float | bool | None]:
        """JSON-safe form for persistence."""
        return {
            "phase": self.phase.value,
            "pending_since": self.pending_since,
            "fired_at": self.fired_at,
            "recovering_since": self.recovering_since,
            "last_value": self.last_value,
            "last_eval_at": self.last_eval_at,
            "acknowledged": self.acknowledged,
            "no_data_marked": self.no_data_marked,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RuleState:
        """Rebuild from ``to_dict`` output; missing keys take their defaults."""
        phase = Phase(str(data.get("phase", Phase.INACTIVE.value)))
        state = cls(
            phase,
            pending_since=_opt_float(data, "pending_since"),
            fired_at=_opt_float(data, "fired_at"),
            recovering_since=_opt_float(data, "recovering_since"),
            last_value=_opt_float(data, "last_value"),
            last_eval_at=_opt_float(data, "last_eval_at"),
            acknowledged=_bool(data, "acknowledged"),
            no_data_marked=_bool(data, "no_data_marked"),
        )
        if phase is Phase.PENDING and state.pending_since is None:
            raise ValueError("a pending state needs pending_since")
        if phase is Phase.INACTIVE:
            state.reset()
        return state

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RuleState):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"RuleState({fields})"


def _opt_float(data: Mapping[str, object], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} must be a number or null")
    return float(value)


def _bool(data: Mapping[str, object], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise TypeError(f"{key} must be a boolean")
    return value


def _transition(
    kind: TransitionKind,
    spec: RuleSpec,
    service_name: str,
    value: float | None,
    at: float,
    reason: str,
    sample_ts: float | None,
) -> AlertTransition:
    return AlertTransition(
        kind, spec.rule_id, service_name, spec.metric, value, spec.threshold, at, reason, sample_ts
    )


def evaluate(
    spec: RuleSpec,
    state: RuleState,
    *,
    service_name: str,
    value: float | None,
    at: float,
    sample_ts: float | None = None,
) -> AlertTransition | None:
    """Advance ``state`` by one evaluation of the aggregate ``value`` at time ``at``.

    ``value`` None (an empty window that is not yet "no data") changes nothing: missing data
    is handled by ``mark_no_data`` only. Times earlier than a running timer's start never
    complete it, so a late evaluation cannot fire or resolve early.
    """
    if value is None:
        return None
    phase = state.phase
    if phase is Phase.FIRING:
        resumed = state.no_data_marked
        state.no_data_marked = False
        if condition_holds(spec.operator, value, spec.resolve_at):
            state.recovering_since = None  # unsafe side (hysteresis band included)
        else:
            since = state.recovering_since
            if since is None:
                since = state.recovering_since = at
            if at - since >= spec.keep_firing_for:
                state.reset()
                state.last_value = value
                state.last_eval_at = at
                return _transition(
                    TransitionKind.RESOLVED,
                    spec,
                    service_name,
                    value,
                    at,
                    REASON_RECOVERED,
                    sample_ts,
                )
        changed = value != state.last_value
        state.last_value = value
        state.last_eval_at = at
        if resumed or changed:
            reason = REASON_DATA_RESUMED if resumed else REASON_VALUE_CHANGED
            return _transition(
                TransitionKind.UPDATED, spec, service_name, value, at, reason, sample_ts
            )
        return None

    holds = condition_holds(spec.operator, value, spec.threshold)
    state.last_value = value
    state.last_eval_at = at
    if phase is Phase.PENDING:
        if not holds:
            state.reset()
            return _transition(
                TransitionKind.PENDING_CLEARED,
                spec,
                service_name,
                value,
                at,
                REASON_CONDITION_FALSE,
                sample_ts,
            )
        assert state.pending_since is not None  # guaranteed by every path into PENDING
        if at - state.pending_since >= spec.duration:
            state.phase = Phase.FIRING
            state.fired_at = at
            return _transition(
                TransitionKind.FIRED,
                spec,
                service_name,
                value,
                at,
                REASON_DURATION_ELAPSED,
                sample_ts,
            )
        return None

    if not holds:
        return None
    state.pending_since = at
    if spec.duration <= 0:
        state.phase = Phase.FIRING
        state.fired_at = at
        kind = TransitionKind.FIRED
    else:
        state.phase = Phase.PENDING
        kind = TransitionKind.PENDING
    return _transition(kind, spec, service_name, value, at, REASON_CONDITION_MET, sample_ts)


def mark_no_data(
    spec: RuleSpec, state: RuleState, *, service_name: str, at: float
) -> AlertTransition | None:
    """Apply "no sample for a while" at time ``at`` (the caller decides staleness)."""
    phase = state.phase
    if phase is Phase.PENDING:
        state.reset()
        return _transition(
            TransitionKind.PENDING_CLEARED, spec, service_name, None, at, REASON_NO_DATA, None
        )
    if phase is not Phase.FIRING:
        return None
    if spec.no_data == "resolve":
        state.reset()
        return _transition(
            TransitionKind.RESOLVED, spec, service_name, None, at, REASON_NO_DATA, None
        )
    if state.no_data_marked:
        return None  # marked once; repeated ticks stay quiet
    state.no_data_marked = True
    # Recovery must be observed continuously; a gap in the data breaks the streak.
    state.recovering_since = None
    return _transition(TransitionKind.NO_DATA, spec, service_name, None, at, REASON_NO_DATA, None)


def acknowledge(state: RuleState) -> bool:
    """Mark a firing alert acknowledged; resolution is unaffected. False if not firing."""
    if state.phase is not Phase.FIRING:
        return False
    state.acknowledged = True
    return True


def manual_resolve(state: RuleState) -> None:
    """Operator resolve: back to inactive, so firing again needs ``duration`` of pending."""
    state.reset()
