"""The eight metric types, their canonical units, accepted units and valid ranges."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MetricType = Literal[
    "latency", "throughput", "accuracy", "cost", "memory", "cpu", "error_rate", "success_rate"
]
Direction = Literal["lower", "higher"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """How one metric type is measured: canonical unit, conversions into it, range, direction."""

    canonical: str
    # unit -> factor that multiplies a value in that unit to give the canonical unit
    factors: dict[str, float] = field(default_factory=dict)
    minimum: float = 0.0
    maximum: float | None = None
    better: Direction = "lower"

    @property
    def accepted_units(self) -> list[str]:
        return [self.canonical, *self.factors]


METRIC_SPECS: dict[str, MetricSpec] = {
    "latency": MetricSpec("ms", {"s": 1000.0, "us": 0.001}),
    "throughput": MetricSpec("rps", {"rpm": 1 / 60}, better="higher"),
    "accuracy": MetricSpec("ratio", {"percent": 0.01}, maximum=1.0, better="higher"),
    "cost": MetricSpec("usd"),
    # binary multiples, as memory is reported by runtimes and cgroups
    "memory": MetricSpec("mb", {"b": 1 / 1024**2, "kb": 1 / 1024, "gb": 1024.0}),
    # percent of one core; a multi-core process may exceed 100
    "cpu": MetricSpec("percent", {"ratio": 100.0}),
    "error_rate": MetricSpec("ratio", {"percent": 0.01}, maximum=1.0),
    "success_rate": MetricSpec("ratio", {"percent": 0.01}, maximum=1.0, better="higher"),
}
METRIC_TYPES: tuple[str, ...] = tuple(METRIC_SPECS)

# DESIGN §9 "Finite bound": a canonical value (sample or threshold) satisfies |v| <= 1e15, so
# no admitted value can overflow an aggregate (1e15 x 100,000 window points is far from 1e308).
VALUE_BOUND = 1e15


class UnitError(ValueError):
    """A unit that the metric type does not accept."""


def conversion_factor(metric_type: str, unit: str | None) -> float:
    """Factor to the canonical unit; raises UnitError listing the accepted units."""
    spec = METRIC_SPECS[metric_type]
    if unit is None or unit == spec.canonical:
        return 1.0
    factor = spec.factors.get(unit)
    if factor is None:
        factor = spec.factors.get(unit.lower()) if unit.lower() != spec.canonical else 1.0
    if factor is None:
        accepted = ", ".join(spec.accepted_units)
        raise UnitError(f"unit {unit!r} is not accepted for {metric_type}; use one of: {accepted}")
    return factor


def to_canonical(metric_type: str, value: float, unit: str | None) -> float:
    return value * conversion_factor(metric_type, unit)


def bound_error(canonical_value: float) -> str | None:
    """Why a canonical value is not finite or is beyond VALUE_BOUND, or None when it is fine."""
    if not abs(canonical_value) <= VALUE_BOUND:  # also catches NaN and infinities
        return f"must be a finite number with |value| <= {VALUE_BOUND:g} after unit conversion"
    return None


def range_error(metric_type: str, canonical_value: float) -> str | None:
    """Why a canonical value is out of range for its type, or None when it is valid."""
    spec = METRIC_SPECS[metric_type]
    if canonical_value < spec.minimum:
        return f"{metric_type} must be >= {spec.minimum:g} {spec.canonical}"
    if spec.maximum is not None and canonical_value > spec.maximum:
        return (
            f"{metric_type} must be between {spec.minimum:g} and {spec.maximum:g} "
            f"{spec.canonical} (after unit conversion)"
        )
    return None


def improvement(metric_type: str, *, before: float, after: float) -> float | None:
    """Relative change in the good direction (positive = better); None when before is 0."""
    if before == 0:
        return None
    change = (after - before) / abs(before)
    return -change if METRIC_SPECS[metric_type].better == "lower" else change
