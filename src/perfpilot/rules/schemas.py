"""Rule request/response shapes. Action parameters are validated per type in actions_params."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from perfpilot.core.schemas import CamelModel
from perfpilot.engine.selectors import MAX_REGEX_LENGTH, compile_regex
from perfpilot.metrics.labels import MAX_LABELS, LabelName
from perfpilot.metrics.schemas import ServiceName
from perfpilot.metrics.units import MetricType

Operator = Literal["gt", "lt", "eq", "gte", "lte", "anomalous"]
Sensitivity = Literal["low", "medium", "high"]
Direction = Literal["up", "down", "both"]
Aggregation = Literal["last", "avg", "min", "max", "p50", "p90", "p95", "p99", "sum", "count"]
ActionType = Literal["scale_up", "scale_down", "cache_clear", "model_switch", "retry", "fallback"]
Priority = Literal["low", "medium", "high", "critical"]
NoData = Literal["keep", "resolve"]
MatchOp = Literal["=", "!=", "=~", "!~"]

MAX_WINDOW_SECONDS = 24 * 3600


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class MatcherIn(CamelModel):
    """One label matcher, as in Prometheus: a missing label reads as ""."""

    label: LabelName
    op: MatchOp = Field(description="= and != compare; =~ and !~ match an RE2 regex")
    value: str = Field(
        max_length=MAX_REGEX_LENGTH,
        description="The value, or for =~/!~ an RE2 regex that must match the whole label "
        f"value (anchored); at most {MAX_REGEX_LENGTH} characters",
    )

    @field_validator("value")
    @classmethod
    def _regex_compiles(cls, value: str, info: ValidationInfo) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL")
        if info.data.get("op") in ("=~", "!~"):
            compile_regex(value)  # ValueError: a 422 naming condition.matchers.<i>.value
        return value


class ConditionIn(CamelModel):
    """When the rule holds. Only metric, operator and threshold are required."""

    metric: MetricType
    operator: Operator = Field(
        description="gt, lt, eq, gte, lte compare the aggregate with `threshold`; `anomalous` "
        "holds while it lies outside the forecast interval of its own history (DESIGN §14)"
    )
    threshold: float | None = Field(
        default=None,
        validate_default=True,
        description="Required for every operator but `anomalous` (which takes none)",
    )
    sensitivity: Sensitivity | None = Field(
        default=None,
        validate_default=True,
        description="anomalous only: the forecast interval left, low 99 %, medium 95 % "
        "(default), high 90 %",
    )
    direction: Direction | None = Field(
        default=None,
        validate_default=True,
        description="anomalous only: up (above the interval), down (below), both (default)",
    )
    unit: str | None = Field(default=None, description="Unit of threshold/resolveThreshold")
    duration: float = Field(default=0, ge=0, le=MAX_WINDOW_SECONDS)
    aggregation: Aggregation = "last"
    window: float = Field(default=60, gt=0, le=MAX_WINDOW_SECONDS)
    resolve_threshold: float | None = None
    keep_firing_for: float = Field(default=0, ge=0, le=MAX_WINDOW_SECONDS)
    no_data: NoData = "keep"
    matchers: list[MatcherIn] = Field(
        default_factory=list,
        max_length=MAX_LABELS,
        description="Only samples whose labels match every matcher count (default: all)",
    )
    group_by: list[LabelName] = Field(
        default_factory=list,
        max_length=MAX_LABELS,
        description="Labels to group by: the rule keeps one window and one alert per service "
        "and distinct value set of these labels (a label a sample lacks is left out), as "
        "Prometheus' `by`",
    )

    _check_threshold = field_validator("resolve_threshold")(_finite)

    @field_validator("threshold")
    @classmethod
    def _threshold_per_operator(cls, value: float | None, info: ValidationInfo) -> float | None:
        anomalous = info.data.get("operator") == "anomalous"
        if value is None and not anomalous and "operator" in info.data:
            raise ValueError("Field required")
        if value is not None and anomalous:
            raise ValueError("an anomalous condition takes no threshold: its limit is learned")
        return _finite(value)

    @field_validator("sensitivity", "direction")
    @classmethod
    def _anomalous_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        operator = info.data.get("operator")
        if value is not None and operator is not None and operator != "anomalous":
            raise ValueError("only for operator anomalous")
        if value is None and operator == "anomalous":
            return "medium" if info.field_name == "sensitivity" else "both"
        return value

    @model_validator(mode="after")
    def _anomalous_scope(self) -> ConditionIn:
        if self.operator == "anomalous" and (self.group_by or self.matchers):
            raise ValueError(
                "an anomalous condition learns one series per service: no matchers or groupBy"
            )
        if self.operator == "anomalous" and self.resolve_threshold is not None:
            raise ValueError(
                "an anomalous condition resolves inside its interval: no resolveThreshold"
            )
        return self


class ConditionOut(CamelModel):
    """A stored condition: every default filled in, thresholds in the canonical unit."""

    model_config = ConfigDict(allow_inf_nan=False)  # a stored infinity makes the rule invalid

    metric: str
    operator: str
    threshold: float = Field(description="0 for anomalous: it is judged on its excess")
    sensitivity: str | None = Field(default=None, exclude_if=lambda v: v is None)
    direction: str | None = Field(default=None, exclude_if=lambda v: v is None)
    unit: str
    duration: float
    aggregation: str
    window: float
    resolve_threshold: float
    keep_firing_for: float
    no_data: str
    matchers: list[dict[str, str]] = Field(default_factory=list)
    group_by: list[str] = Field(default_factory=list)


class ActionIn(CamelModel):
    type: ActionType
    parameters: dict[str, Any] = Field(default_factory=dict)
    priority: Priority = "medium"
    cooldown: float = Field(default=300, ge=0, le=7 * 24 * 3600)
    revert_on_resolve: bool | None = Field(
        default=None, description="Default: true for fallback and model_switch, else false"
    )


class ActionOut(CamelModel):
    model_config = ConfigDict(allow_inf_nan=False)

    type: str
    parameters: dict[str, Any]
    priority: str
    cooldown: float
    revert_on_resolve: bool


class RuleIn(CamelModel):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    service_name: ServiceName | None = None
    condition: ConditionIn
    action: ActionIn
    is_active: bool = True


class RuleUpdate(CamelModel):
    """Partial update: absent fields keep their value; condition/action merge key by key."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    service_name: ServiceName | None = None
    condition: dict[str, Any] | None = None
    action: dict[str, Any] | None = None
    is_active: bool | None = None


class AnomalyPairOut(CamelModel):
    service_name: str
    state: Literal["learning", "ready"]
    message: str
    history_windows: int = Field(description="Windows of history the fit used (or has)")
    needed_windows: int | None = Field(default=None, description="learning: windows needed")
    level: float | None = Field(default=None, description="The interval's level (0.95...)")
    model: str | None = Field(default=None, description="The fitted model (GET /trends')")
    band_until: datetime | None = Field(
        default=None, description="Sample time up to which the current interval reaches"
    )
    holdout_mape: float | None = Field(default=None, description="The fit's held-out error")
    holdout_coverage95: float | None = None


class AnomalyStatusOut(CamelModel):
    status: Literal["learning", "ready"] = Field(
        description="learning until every service the rule watches has a trusted interval: "
        "meanwhile the rule does not fire for that service"
    )
    services: list[AnomalyPairOut]


class RuleOut(CamelModel):
    id: uuid.UUID
    name: str
    description: str
    service_name: str | None
    condition: ConditionOut | None = Field(
        description="null only when the stored condition cannot be read (valid is false)"
    )
    action: ActionOut | None = Field(
        description="null only when the stored action cannot be read (valid is false)"
    )
    is_active: bool
    valid: bool = Field(
        default=True,
        description="false when the stored rule cannot be evaluated (e.g. written to the "
        "database by hand): the engine skips it until a PUT makes it valid again",
    )
    invalid_reason: str | None = Field(
        default=None, description="What is wrong with the stored rule when valid is false"
    )
    created_at: datetime
    updated_at: datetime
    anomaly: AnomalyStatusOut | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="anomalous rules: whether each service's forecast interval is learned",
    )
