from __future__ import annotations

from datetime import datetime
from typing import Literal

from perfpilot.core.schemas import CamelModel


class HealthServices(CamelModel):
    database: bool
    monitoring: bool
    alerts: bool


class HealthOut(CamelModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    services: HealthServices
    last_check: datetime
    version: str
    uptime: float
