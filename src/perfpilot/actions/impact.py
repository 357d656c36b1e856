"""Impact verification arithmetic: relative change in the good direction, and its outcome."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from perfpilot.metrics.units import improvement

Outcome = Literal["improved", "worsened", "no_change", "unmeasured"]
IMPROVED_AT = 0.02
MIN_SAMPLES = 3
# float error of (after - before) / before: an exact 2 % change (5 -> 4.9) must count as 2 %
_ROUNDING = 1e-9


@dataclass(frozen=True, slots=True)
class Measurement:
    measured_value: float | None
    measured_impact: float | None
    outcome: Outcome


def judge(
    metric_type: str,
    *,
    baseline: float | None,
    baseline_samples: int,
    after: float | None,
    after_samples: int,
) -> Measurement:
    """Compare the aggregate after an action with its baseline.

    Fewer than 3 samples on either side is `unmeasured`: said, not guessed.
    """
    if baseline is None or after is None or min(baseline_samples, after_samples) < MIN_SAMPLES:
        return Measurement(after, None, "unmeasured")
    impact = improvement(metric_type, before=baseline, after=after)
    if impact is None:  # baseline 0: a relative change is undefined
        return Measurement(after, None, "unmeasured")
    if impact >= IMPROVED_AT - _ROUNDING:
        outcome: Outcome = "improved"
    elif impact <= -IMPROVED_AT + _ROUNDING:
        outcome = "worsened"
    else:
        outcome = "no_change"
    return Measurement(after, impact, outcome)
