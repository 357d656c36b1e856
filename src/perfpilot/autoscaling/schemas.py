from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from perfpilot.core.schemas import CamelModel
from perfpilot.metrics.units import MetricType

ScalingMode = Literal["hpa", "model"]
LatencyStatistic = Literal["mean", "p50", "p90", "p95", "p99"]
MODE_DESCRIPTION = (
    "hpa: instances x utilisation / targetUtilization (the Kubernetes HPA rule); model: the "
    "fewest instances whose M/M/c (Erlang C) predicted latency meets targetLatency, from the "
    "measured arrival rate and per-instance service rate (falls back to hpa, saying so, when "
    "the data cannot feed the model)"
)


class AutoscalingConfigIn(CamelModel):
    """The seed's fields plus `enabled` and `metric`; every field optional on update."""

    min_instances: int | None = Field(default=None, ge=1, le=10_000)
    max_instances: int | None = Field(default=None, ge=1, le=10_000)
    target_utilization: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    scale_up_threshold: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    scale_down_threshold: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    cooldown_period: int | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    enabled: bool | None = None
    metric: MetricType | None = None
    mode: ScalingMode | None = Field(default=None, description=MODE_DESCRIPTION)
    target_latency: float | None = Field(
        default=None, gt=0, le=3_600_000, allow_inf_nan=False, description="ms (mode model)"
    )
    latency_statistic: LatencyStatistic | None = Field(
        default=None, description="What targetLatency bounds: the mean or a percentile"
    )
    predictive: bool | None = Field(
        default=None,
        description="Scale ahead of a forecast rise of the arrival rate (throughput / "
        "(1 - error_rate)) by leadTime: mode model sizes with M/M/c for the forecast peak or "
        "the newest 5 s, whichever is higher; mode hpa scales utilisation by the forecast. "
        "Never below the reactive recommendation; scales in only when forecast and present agree",
    )
    lead_time: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        allow_inf_nan=False,
        description="Seconds ahead to scale (the service's start-up); default 60",
    )


class AutoscalingConfigOut(CamelModel):
    service_name: str | None = Field(description="null: the global default")
    inherited: bool = Field(description="true when a service has no override of its own")
    min_instances: int
    max_instances: int
    target_utilization: float
    scale_up_threshold: float
    scale_down_threshold: float
    cooldown_period: int
    enabled: bool
    metric: str
    mode: str = Field(description=MODE_DESCRIPTION)
    target_latency: float | None = Field(description="ms; the model mode's target")
    latency_statistic: str
    predictive: bool = False
    lead_time: float | None = None
    updated_at: datetime | None


class ConfigValues(CamelModel):
    """A complete configuration, validated as a whole after merging an update."""

    min_instances: int
    max_instances: int
    target_utilization: float
    scale_up_threshold: float
    scale_down_threshold: float
    cooldown_period: int
    enabled: bool
    metric: str
    mode: str = "hpa"
    target_latency: float | None = None
    latency_statistic: str = "p95"
    predictive: bool = False
    lead_time_seconds: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ConfigValues:
        if self.min_instances > self.max_instances:
            raise ValueError("minInstances must be <= maxInstances")
        if not (self.scale_down_threshold < self.target_utilization < self.scale_up_threshold):
            raise ValueError("need scaleDownThreshold < targetUtilization < scaleUpThreshold")
        if self.mode == "model" and self.target_latency is None:
            raise ValueError("mode model needs targetLatency")
        return self
