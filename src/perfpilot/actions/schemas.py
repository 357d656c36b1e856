from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from perfpilot.core.schemas import CamelModel

ActionSource = Literal["rule", "autoscaler", "optimize", "manual"]
ActionStatus = Literal["executed", "skipped", "failed", "dry_run"]
ActionOutcome = Literal["improved", "worsened", "no_change", "unmeasured"]


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
    measured_impact: float | None = Field(description="Relative change, positive = better")
    outcome: str | None = Field(description="null until measured")
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
