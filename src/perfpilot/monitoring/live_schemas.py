"""Shapes of /realtime and /stats, the seed's, key for key."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from perfpilot.core.schemas import CamelModel

ServiceStatus = Literal["healthy", "degraded", "critical", "unknown"]


class RealtimeMetrics(CamelModel):
    """Latest value per registered type in its canonical unit (camelCase key); null when none
    in the last 300 s. User-defined types appear as further keys, camelCased the same way."""

    model_config = ConfigDict(extra="allow")

    latency: float | None = None
    throughput: float | None = None
    accuracy: float | None = None
    cost: float | None = None
    memory: float | None = None
    cpu: float | None = None
    error_rate: float | None = None
    success_rate: float | None = None
    ttft: float | None = None
    tpot: float | None = None
    tokens_per_second: float | None = None
    queue_depth: float | None = None
    kv_cache_usage: float | None = None
    requests_running: float | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None
    gpu_utilization: float | None = None


class RealtimeGroup(CamelModel):
    """The latest values of the samples whose label (the `groupBy` one) has one value."""

    labels: dict[str, str] = Field(description="The groupBy label and its value")
    metrics: RealtimeMetrics
    last_sample_at: datetime | None = Field(description="Newest sample of any type")


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
    groups: list[RealtimeGroup] | None = Field(
        default=None,
        exclude_if=lambda groups: groups is None,  # the seed's shape without groupBy
        description="With groupBy=<label>: the same figures per value of that label, by value "
        "(samples without the label are in no group); absent otherwise",
    )


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
