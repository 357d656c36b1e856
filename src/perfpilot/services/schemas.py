from __future__ import annotations

from datetime import datetime

from perfpilot.actions.schemas import ActionOut, ServiceStateOut
from perfpilot.alerts.schemas import AlertOut
from perfpilot.core.schemas import CamelModel
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
