"""Shapes of /metric-types: the registry's built-in and user-defined metric types."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from perfpilot.core.schemas import CamelModel
from perfpilot.metrics.units import VALUE_BOUND

Better = Literal["lower", "higher", "none"]
# lower case words joined by single underscores, each starting with a letter: the camelCase
# key of a type (GET /realtime) is then unique to it
TYPE_NAME_PATTERN = r"^[a-z][a-z0-9]*(_[a-z][a-z0-9]*)*$"
TypeName = Annotated[
    str,
    Field(min_length=1, max_length=32, pattern=TYPE_NAME_PATTERN, examples=["cache_hit_ratio"]),
]
UnitName = Annotated[
    str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z%][A-Za-z0-9_/%.-]*$")
]
Factor = Annotated[float, Field(gt=0, le=VALUE_BOUND, allow_inf_nan=False)]
Bound = Annotated[float, Field(ge=-VALUE_BOUND, le=VALUE_BOUND, allow_inf_nan=False)]
MAX_UNITS = 16


class MetricTypeIn(CamelModel):
    """A user type: values are stored in `unit`; `units` lists further accepted units with
    the factor that converts a value in each to `unit`."""

    name: TypeName
    unit: UnitName
    units: dict[UnitName, Factor] = Field(
        default_factory=dict,
        max_length=MAX_UNITS,
        description='Accepted unit -> factor to the canonical unit, e.g. {"s": 1000} for ms',
    )
    better: Better = Field(description="Which direction is an improvement (impact, trends)")
    minimum: Bound | None = Field(default=None, alias="min", description="null: no lower bound")
    maximum: Bound | None = Field(default=None, alias="max", description="null: no upper bound")

    @field_validator("units")
    @classmethod
    def _units_convert(cls, units: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        if info.data.get("unit") in units:
            raise ValueError(f"units must not list the canonical unit {info.data['unit']!r}")
        for unit, factor in units.items():
            if factor < 1 / VALUE_BOUND:
                raise ValueError(f"factor of {unit!r} must be >= 1e-15")
        return units

    @field_validator("maximum")
    @classmethod
    def _max_not_below_min(cls, maximum: float | None, info: ValidationInfo) -> float | None:
        minimum = info.data.get("minimum")
        if maximum is not None and minimum is not None and minimum > maximum:
            raise ValueError("max must not be less than min")
        return maximum


class MetricTypeOut(CamelModel):
    name: str
    unit: str = Field(description="Canonical unit: values are stored in it")
    units: dict[str, float] = Field(description="Other accepted units -> factor to `unit`")
    better: str
    minimum: float | None = Field(serialization_alias="min", validation_alias="min")
    maximum: float | None = Field(serialization_alias="max", validation_alias="max")
    builtin: bool
    created_at: datetime | None = Field(description="null for built-in types")
