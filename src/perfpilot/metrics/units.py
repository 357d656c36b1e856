"""The metric registry: every metric type, its canonical unit, accepted units and valid range.

Built-in types are one table (`METRIC_SPECS`); user types (POST /metric-types) are stored in
the database and joined to it in `REGISTRY`, which every code path consults: loaded when the
app starts and replaced whenever a user type is written, so a new type is known at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

Direction = Literal["lower", "higher", "none"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """How one metric type is measured: canonical unit, conversions into it, range, direction.

    `minimum` None: no lower bound (beyond the finite bound every value obeys).
    """

    canonical: str
    # unit -> factor that multiplies a value in that unit to give the canonical unit
    factors: dict[str, float] = field(default_factory=dict)
    minimum: float | None = 0.0
    maximum: float | None = None
    better: Direction = "lower"
    builtin: bool = True

    @property
    def accepted_units(self) -> list[str]:
        return [self.canonical, *self.factors]


_TIME_MS = {"s": 1000.0, "us": 0.001}
_RATIO = {"percent": 0.01}

# The built-in types: the seed's eight (DESIGN §4), then the LLM-serving ones (DESIGN §9).
METRIC_SPECS: dict[str, MetricSpec] = {
    "latency": MetricSpec("ms", _TIME_MS),
    "throughput": MetricSpec("rps", {"rpm": 1 / 60}, better="higher"),
    "accuracy": MetricSpec("ratio", _RATIO, maximum=1.0, better="higher"),
    "cost": MetricSpec("usd"),
    # binary multiples, as memory is reported by runtimes and cgroups
    "memory": MetricSpec("mb", {"b": 1 / 1024**2, "kb": 1 / 1024, "gb": 1024.0}),
    # percent of one core; a multi-core process may exceed 100
    "cpu": MetricSpec("percent", {"ratio": 100.0}),
    "error_rate": MetricSpec("ratio", _RATIO, maximum=1.0),
    "success_rate": MetricSpec("ratio", _RATIO, maximum=1.0, better="higher"),
    # time to first token, time per output token
    "ttft": MetricSpec("ms", _TIME_MS),
    "tpot": MetricSpec("ms", _TIME_MS),
    "tokens_per_second": MetricSpec("tokens/s", better="higher"),
    "queue_depth": MetricSpec("requests"),
    "kv_cache_usage": MetricSpec("ratio", _RATIO, maximum=1.0),
    "requests_running": MetricSpec("requests", better="none"),
    # tokens per interval
    "input_tokens": MetricSpec("tokens", better="none"),
    "output_tokens": MetricSpec("tokens", better="none"),
    "gpu_utilization": MetricSpec("ratio", _RATIO, maximum=1.0, better="none"),
}
# The seed's eight, whose fixed report and realtime fields they fill.
SEED_METRIC_TYPES: tuple[str, ...] = (
    "latency",
    "throughput",
    "accuracy",
    "cost",
    "memory",
    "cpu",
    "error_rate",
    "success_rate",
)
BUILTIN_METRIC_TYPES: tuple[str, ...] = tuple(METRIC_SPECS)


class MetricRegistry:
    """Built-in and user types by name. `version` changes on every replacement, so derived
    tables (canonical.py's fast path, SQL statements per type) know when to rebuild."""

    __slots__ = ("_names", "_specs", "histogram_types", "version")

    def __init__(self, builtins: dict[str, MetricSpec]) -> None:
        self._specs = dict(builtins)
        self._names = tuple(self._specs)
        self.version = 0
        # types that have histogram samples in the store: live views look for their newest
        # histogram too (kept from the start-up check and from each ingested histogram)
        self.histogram_types: tuple[str, ...] = ()

    def note_histogram_types(self, names: Iterable[str]) -> None:
        new = set(names).difference(self.histogram_types)
        if new:
            self.histogram_types = tuple(sorted({*self.histogram_types, *new}))

    def replace_user_types(self, user: Iterable[tuple[str, MetricSpec]]) -> None:
        """Built-ins plus exactly these user types (a built-in name is never overridden)."""
        specs = dict(METRIC_SPECS)
        for name, spec in sorted(user):
            specs.setdefault(name, spec)
        self._specs = specs
        self._names = tuple(specs)
        self.version += 1

    def get(self, name: str) -> MetricSpec | None:
        return self._specs.get(name)

    def __getitem__(self, name: str) -> MetricSpec:
        return self._specs[name]

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def names(self) -> tuple[str, ...]:
        """Every registered type: the built-ins in table order, then user types by name."""
        return self._names

    def items(self) -> list[tuple[str, MetricSpec]]:
        return list(self._specs.items())


REGISTRY = MetricRegistry(METRIC_SPECS)


def unknown_type_message(name: str) -> str:
    return f"unknown metric type {name!r}; registered: {', '.join(REGISTRY.names())}"


def _registered(name: str) -> str:
    if name not in REGISTRY:
        raise ValueError(unknown_type_message(name))
    return name


# A metric type name on the wire: any registered type (GET /metric-types lists them).
MetricType = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        description="A registered metric type (built-in or user-defined; GET /metric-types)",
        examples=["latency"],
    ),
    AfterValidator(_registered),
]


# DESIGN §9 "Finite bound": a canonical value (sample or threshold) satisfies |v| <= 1e15, so
# no admitted value can overflow an aggregate (1e15 x 100,000 window points is far from 1e308).
VALUE_BOUND = 1e15


class UnitError(ValueError):
    """A unit that the metric type does not accept."""


def conversion_factor(metric_type: str, unit: str | None) -> float:
    """Factor to the canonical unit; raises UnitError listing the accepted units."""
    spec = REGISTRY[metric_type]
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
    spec = REGISTRY[metric_type]
    if spec.minimum is not None and canonical_value < spec.minimum:
        if spec.maximum is None:
            return f"{metric_type} must be >= {spec.minimum:g} {spec.canonical}"
    elif spec.maximum is None or canonical_value <= spec.maximum:
        return None
    if spec.minimum is None:
        return f"{metric_type} must be <= {spec.maximum:g} {spec.canonical}"
    return (
        f"{metric_type} must be between {spec.minimum:g} and {spec.maximum:g} "
        f"{spec.canonical} (after unit conversion)"
    )


def improvement(metric_type: str, *, before: float, after: float) -> float | None:
    """Relative change in the good direction (positive = better); None when before is 0 or
    the type has no good direction (better = none)."""
    better = REGISTRY[metric_type].better
    if before == 0 or better == "none":
        return None
    change = (after - before) / abs(before)
    return -change if better == "lower" else change
