"""Shapes of /realtime and /stats, the seed's, key for key."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from perfpilot.core.schemas import CamelModel

ServiceStatus = Literal["healthy", "degraded", "critical", "unknown"]


class RealtimeMetrics(CamelModel):
    """Latest value per type in its canonical unit; null when none in the last 300 s."""

    latency: float | None = None
    throughput: float | None = None
    accuracy: float | None = None
    cost: float | None = None
    memory: float | None = None
    cpu: float | None = None
    error_rate: float | None = None
    success_rate: float | None = None


class RealtimeOut(CamelModel):
    timestamp: datetime = Field(description="When this view was taken")
    service_name: str
    metrics: RealtimeMetrics
    status: ServiceStatus = Field(
        description="critical: an open high/critical alert; degraded: an open low/medium "
        "alert; unknown: no fresh sample; healthy otherwise"
    )
    last_sample_at: datetime | None = Field(description="Newest sample of any type")
    open_alerts: int


class MetricStats(CamelModel):
    total: int
    by_type: dict[str, int]


class RuleStats(CamelModel):
    total: int
    active: int
    by_type: dict[str, int]


class AlertStats(CamelModel):
    total: int
    active: int = Field(description="Open: active or acknowledged (total = active + resolved)")
    resolved: int
    by_severity: dict[str, int]


class OptimizationStats(CamelModel):
    total: int = Field(description="Executed actions")
    successful: int = Field(
        description="Executed and measured as improved, or as capacity_saved (a capacity "
        "reduction whose guard held). Overlapping actions count once per group"
    )
    failed: int = Field(
        description="Failed to execute, or measured as worsened (a capacity reduction: its "
        "guard breached). Overlapping actions count once per group"
    )
    average_improvement: float | None = Field(
        description="Mean directional measured impact (positive = better) of executed actions,"
        " one per overlap group; capacity reductions are judged by their guard, not averaged"
    )


class StatsOut(CamelModel):
    metrics: MetricStats
    rules: RuleStats
    alerts: AlertStats
    optimizations: OptimizationStats
