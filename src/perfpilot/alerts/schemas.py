from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from perfpilot.core.schemas import CamelModel

AlertStatus = Literal["active", "acknowledged", "resolved"]
Severity = Literal["low", "medium", "high", "critical"]


class AlertOut(CamelModel):
    id: uuid.UUID
    rule_id: uuid.UUID | None
    service_name: str
    fingerprint: str
    metric_type: str
    current_value: float
    threshold: float
    severity: str
    status: str
    triggered_at: datetime
    last_evaluated_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolve_reason: str | None
    message: str
    metadata: dict[str, Any]
    labels: dict[str, str] = Field(
        description="The label values of the rule's groupBy this alert is for: one alert per "
        "rule, service and group ({} when the rule does not group)"
    )
    source: str = Field(
        default="rule", description="rule (Perfpilot's engine) or alertmanager (received)"
    )
    silenced_by: list[str] = Field(
        default_factory=list,
        description="Ids of the silences muting this alert now ([]: not silenced): it is "
        "recorded but notifies nobody and runs no action",
    )


class AlertResolveIn(CamelModel):
    comment: str | None = Field(default=None, max_length=2000)


class AlertAcknowledgeIn(CamelModel):
    comment: str | None = Field(default=None, max_length=2000)
