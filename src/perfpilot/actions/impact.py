"""Impact verification arithmetic: relative change in the good direction, and its outcome.

Two ways to judge an executed action:
- by direction (every action but a capacity reduction): `measured_impact` = relative change
  of the metric in its good direction; improved (>= +2 %), worsened (<= -2 %), no_change;
- by guard (a capacity reduction: fewer instances): the metric is expected to move the bad
  way (the same load on fewer instances), so the question is whether it stayed within a
  limit. Held -> `capacity_saved` (a success, not an improvement of the metric); breached ->
  `worsened`. No directional `measured_impact` is recorded for these: the guard holds the
  figures (limit, measured value) and the row keeps baseline and measured value.
Fewer than 3 samples on either side is `unmeasured`, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from perfpilot.engine.state_machine import condition_holds
from perfpilot.metrics.units import REGISTRY, improvement

Outcome = Literal["improved", "worsened", "no_change", "capacity_saved", "unmeasured"]
OUTCOMES: tuple[Outcome, ...] = (
    "improved",
    "worsened",
    "no_change",
    "capacity_saved",
    "unmeasured",
)
# outcomes /stats and reports count as a success
SUCCESSES: frozenset[str] = frozenset({"improved", "capacity_saved"})
IMPROVED_AT = 0.02
MIN_SAMPLES = 3
# float error of (after - before) / before: an exact 2 % change (5 -> 4.9) must count as 2 %
_ROUNDING = 1e-9
_NEGATED = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}
_SYMBOL = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass(frozen=True, slots=True)
class Guard:
    """What a capacity reduction must keep: `operator(measured, limit)` on `metric`."""

    metric: str
    operator: str  # gt | gte | lt | lte
    limit: float
    basis: str  # where the limit comes from, e.g. "autoscaler scaleUpThreshold"
    target: float | None = None  # the autoscaler's targetUtilization, for the record

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "operator": self.operator,
            "limit": self.limit,
            "basis": self.basis,
            "target": self.target,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Guard:
        target = data.get("target")
        return cls(
            metric=str(data["metric"]),
            operator=str(data["operator"]),
            limit=float(data["limit"]),
            basis=str(data["basis"]),
            target=None if target is None else float(target),
        )

    def describe(self) -> str:
        target = f", target {self.target:g}" if self.target is not None else ""
        return f"{self.metric} {_SYMBOL[self.operator]} {self.limit:g} ({self.basis}{target})"


def autoscaler_guard(metric: str, *, scale_up_threshold: float, target: float) -> Guard:
    """An autoscaler scale-down holds while utilisation stays at or under scaleUpThreshold:
    above it the autoscaler itself would scale back up, so the scale-down would be wrong."""
    return Guard(metric, "lte", scale_up_threshold, "autoscaler scaleUpThreshold", target)


def rule_guard(
    metric: str, *, operator: str, threshold: float, resolve_at: float, reverting: bool
) -> Guard | None:
    """The guard a rule gives a capacity reduction, or None (eq has no side to keep).

    A rule's own scale-down (fired on slack, e.g. cpu < 30) holds while its condition still
    holds against resolveThreshold: the capacity came out of the slack the rule declared.
    A revert of a rule's scale-up holds while the rule would not fire again: the metric
    stays on the safe side of its threshold.
    """
    if operator not in _NEGATED:
        return None
    if reverting:
        return Guard(metric, _NEGATED[operator], threshold, "rule threshold (revert)")
    basis = "rule resolveThreshold" if resolve_at != threshold else "rule threshold"
    return Guard(metric, operator, resolve_at, basis)


@dataclass(frozen=True, slots=True)
class Measurement:
    measured_value: float | None
    measured_impact: float | None
    outcome: Outcome
    note: str
    guard_held: bool | None = None


def _too_few(after: float | None, baseline_samples: int, after_samples: int) -> Measurement:
    return Measurement(
        after,
        None,
        "unmeasured",
        f"fewer than {MIN_SAMPLES} samples on a side (baseline {baseline_samples}, "
        f"after {after_samples})",
    )


def judge(
    metric_type: str,
    *,
    baseline: float | None,
    baseline_samples: int,
    after: float | None,
    after_samples: int,
) -> Measurement:
    """Compare the aggregate after an action with its baseline, in the metric's direction."""
    if baseline is None or after is None or min(baseline_samples, after_samples) < MIN_SAMPLES:
        return _too_few(after, baseline_samples, after_samples)
    impact = improvement(metric_type, before=baseline, after=after)
    if impact is None:
        reason = (
            f"{metric_type} has no better direction (better: none)"
            if REGISTRY.get(metric_type) is not None and REGISTRY[metric_type].better == "none"
            else "baseline 0: a relative change is undefined"
        )
        return Measurement(after, None, "unmeasured", reason)
    if impact >= IMPROVED_AT - _ROUNDING:
        outcome: Outcome = "improved"
    elif impact <= -IMPROVED_AT + _ROUNDING:
        outcome = "worsened"
    else:
        outcome = "no_change"
    note = (
        f"{metric_type} {baseline:g} -> {after:g} ({baseline_samples} -> {after_samples} "
        f"samples): {impact:+.1%} in its good direction, {outcome.replace('_', ' ')}"
    )
    return Measurement(after, impact, outcome, note)


def judge_guarded(
    guard: Guard,
    *,
    baseline: float | None,
    baseline_samples: int,
    after: float | None,
    after_samples: int,
    instances: tuple[int, int],
) -> Measurement:
    """A capacity reduction: `capacity_saved` while the guard holds, else `worsened`."""
    if baseline is None or after is None or min(baseline_samples, after_samples) < MIN_SAMPLES:
        return _too_few(after, baseline_samples, after_samples)
    held = condition_holds(guard.operator, after, guard.limit)
    before_n, after_n = instances
    figures = (
        f"{guard.metric} {baseline:g} -> {after:g} ({baseline_samples} -> {after_samples} "
        f"samples) with {before_n} -> {after_n} instances"
    )
    if held:
        note = f"{figures}: within guard {guard.describe()}, capacity saved"
        return Measurement(after, None, "capacity_saved", note, True)
    note = f"{figures}: breached guard {guard.describe()}"
    return Measurement(after, None, "worsened", note, False)
