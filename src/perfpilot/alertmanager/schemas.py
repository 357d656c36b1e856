"""Shapes of the Alertmanager intake: its webhook payload (version 4) and bindings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from perfpilot.core.schemas import CamelModel
from perfpilot.metrics.labels import LabelName
from perfpilot.metrics.schemas import ServiceName
from perfpilot.metrics.units import MetricType
from perfpilot.rules.schemas import ActionIn, ActionOut, Aggregation, MatcherIn

MAX_ALERTS = 1000


class AmAlert(BaseModel):
    """One alert of an Alertmanager webhook notification (fields Alertmanager sends)."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(max_length=64)
    annotations: dict[str, str] = Field(default_factory=dict, max_length=64)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL", max_length=4000)
    fingerprint: str = Field(min_length=1, max_length=64)


class AmWebhook(BaseModel):
    """Alertmanager's webhook_config body; only version 4 exists and is accepted."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_key: str = Field(default="", alias="groupKey")
    alerts: list[AmAlert] = Field(max_length=MAX_ALERTS)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        if value != "4":
            raise ValueError("only Alertmanager webhook payload version 4 is supported")
        return value


class IntakeOut(CamelModel):
    received: int
    opened: int = Field(description="Alerts opened (source alertmanager)")
    duplicates: int = Field(description="Firing alerts already open or already seen: no action")
    resolved: int
    unbound: int = Field(description="Alerts no active binding matches: ignored")
    actions: list[uuid.UUID] = Field(description="Ids of the action rows written")


class BindingIn(CamelModel):
    name: str = Field(min_length=1, max_length=100, examples=["HighLatency → fallback"])
    matchers: list[MatcherIn] = Field(
        min_length=1,
        max_length=16,
        description="Label matchers on the incoming alert's labels; all must match",
        examples=[[{"label": "alertname", "op": "=", "value": "HighLatency"}]],
    )
    service_name: ServiceName | None = Field(
        default=None, description="The service acted on; default: read from `serviceLabel`"
    )
    service_label: LabelName = Field(
        default="service", description="The alert label naming the service (no serviceName)"
    )
    action: ActionIn
    metric: MetricType | None = Field(
        default=None,
        description="The metric type whose change measures the action's impact (none: unmeasured)",
    )
    aggregation: Aggregation = "avg"
    window: float = Field(default=60.0, gt=0, le=24 * 3600)
    is_active: bool = True


class BindingOut(CamelModel):
    id: uuid.UUID
    name: str
    matchers: list[dict[str, str]]
    service_name: str | None
    service_label: str
    action: ActionOut
    metric: str | None
    aggregation: str
    window: float
    is_active: bool
    created_at: datetime
    updated_at: datetime
