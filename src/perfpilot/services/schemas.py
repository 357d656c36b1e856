from __future__ import annotations

from datetime import datetime

from pydantic import Field

from perfpilot.actions.schemas import ActionOut, ServiceStateOut
from perfpilot.alerts.schemas import AlertOut
from perfpilot.core.schemas import CamelModel
from perfpilot.cost.schemas import ModelCost
from perfpilot.services.status import ServiceStatus


class LatestValue(CamelModel):
    value: float
    unit: str
    timestamp: datetime
    fresh: bool


class ServiceSummary(CamelModel):
    service_name: str
    status: ServiceStatus
    instances: int | None
    model: str | None
    open_alerts: int
    latest: dict[str, LatestValue]


class ServiceDetail(CamelModel):
    service_name: str
    status: ServiceStatus
    state: ServiceStateOut
    latest: dict[str, LatestValue]
    open_alerts: list[AlertOut]
    recent_actions: list[ActionOut]
    cost_by_model: list[ModelCost] = Field(
        default_factory=list,
        exclude_if=lambda costs: not costs,  # present when samples carry a `model` label
        description="The last 24 hours per `model` label: requests, tokens, cost (reported, "
        "else tokens x the price table), cost per request and per 1k tokens",
    )
