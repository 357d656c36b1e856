from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from perfpilot.core.schemas import CamelModel

ActionSource = Literal["rule", "autoscaler", "optimize", "manual", "alertmanager"]
ActionStatus = Literal["executed", "skipped", "failed", "dry_run"]
ActionOutcome = Literal["improved", "worsened", "no_change", "capacity_saved", "unmeasured"]


class GuardOut(CamelModel):
    """What a capacity reduction (fewer instances) was checked against, and what was found."""

    metric: str
    operator: Literal["gt", "gte", "lt", "lte"] = Field(
        description="The guard holds while `measured <operator> limit`"
    )
    limit: float
    basis: str = Field(
        description="Where the limit comes from: autoscaler scaleUpThreshold, rule "
        "resolveThreshold / threshold (a rule's scale-down), rule threshold (revert)"
    )
    target: float | None = Field(
        default=None, description="The autoscaler's targetUtilization, for the record"
    )
    measured: float | None = Field(default=None, description="The measured aggregate")
    held: bool | None = Field(default=None, description="null until measured")


class ActionOut(CamelModel):
    id: uuid.UUID
    service_name: str
    type: str
    parameters: dict[str, Any]
    source: str
    rule_id: uuid.UUID | None
    alert_id: uuid.UUID | None
    status: str
    reason: str | None
    state_before: dict[str, Any] | None
    state_after: dict[str, Any] | None
    metric_type: str | None
    aggregation: str | None
    baseline: float | None
    baseline_samples: int | None
    predicted_impact: float | None
    prediction_basis: str | None
    measured_value: float | None
    measured_samples: int | None
    measured_impact: float | None = Field(
        description="Relative change in the metric's good direction, positive = better; "
        "null for a capacity reduction (judged by its guard) and when unmeasured"
    )
    outcome: ActionOutcome | None = Field(
        description="null while the measurement is pending. improved / worsened / no_change: "
        "judged by the metric's direction (+-2 %). capacity_saved: a capacity reduction whose "
        "guard held (a success; the metric is not claimed to improve); a breached guard is "
        "worsened. unmeasured: see measurementNote (too few samples, skipped, dry run)"
    )
    measurement_note: str | None = Field(
        description="Why the action has its outcome, or why it is not measured"
    )
    guard: GuardOut | None = Field(
        description="Set on capacity reductions: the limit the metric had to keep"
    )
    overlaps_with: list[uuid.UUID] = Field(
        description="Other executed actions on the service whose measurement windows overlap "
        "this one's: their effects are mixed in each other's measurements"
    )
    credited: bool = Field(
        description="false when an earlier overlapping action carries the group's measurement:"
        " reports and /stats count this one as overlapped, not by its outcome"
    )
    sizing: dict[str, Any] | None = Field(
        default=None,
        description='Set when the action was model-sized (instances "auto", autoscaler mode '
        "model): the M/M/c inputs (arrival and service rates with their basis, target), the "
        "prediction, and once measured `verification` (measured vs predicted latency)",
    )
    revert_on_resolve: bool
    executed_at: datetime
    measure_due_at: datetime | None
    measured_at: datetime | None


class ServiceStateOut(CamelModel):
    service_name: str
    instances: int
    model: str | None
    fallback_models: list[str]
    fallback_active: bool
    retry_policy: dict[str, Any]
    cache_epoch: int
    version: int
    updated_at: datetime
