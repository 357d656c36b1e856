"""Report request/response shapes: the seed's, plus the figures DESIGN adds."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from perfpilot.core.schemas import CamelModel
from perfpilot.cost.schemas import ModelCost
from perfpilot.metrics.labels import LabelName
from perfpilot.metrics.schemas import ServiceName

ReportType = Literal["daily", "weekly", "monthly", "custom"]
ReportFormat = Literal["json", "csv", "html"]
RequestsBasis = Literal["throughput", "latency_samples", "none"]
PercentileBasis = Literal["histogram", "samples"]


class PeriodIn(CamelModel):
    start: datetime
    end: datetime


class ReportIn(CamelModel):
    service_name: ServiceName
    report_type: ReportType
    period: PeriodIn | None = Field(
        default=None,
        description="Required for custom; daily/weekly/monthly default to the last 1/7/30 "
        "days ending now (a given period must be 1, 7 or 28-31 days long)",
    )
    group_by: LabelName | None = Field(
        default=None,
        description="A label: the summary adds `groups`, the figures per value of it",
    )


class PeriodOut(CamelModel):
    start: datetime
    end: datetime


class AlertCounts(CamelModel):
    total: int
    by_severity: dict[str, int]
    silenced: int = Field(
        default=0,
        description="Of total, alerts a silence muted (no notification, no action) for a while",
    )


class TimelinePoint(CamelModel):
    start: datetime
    count: int
    average: float | None
    max: float | None


class LatencyTimeline(CamelModel):
    """Latency per bucket over the period: what the HTML report draws."""

    bucket_seconds: float
    points: list[TimelinePoint]


class ReportGroup(CamelModel):
    """The period's figures of the samples whose `groupBy` label has one value."""

    labels: dict[str, str]
    sample_counts: dict[str, int]
    averages: dict[str, float | None] = Field(
        description="Mean of the samples per type (throughput too: not time-weighted)"
    )
    maxima: dict[str, float | None]
    total_cost: float | None
    latency_p50: float | None = Field(description="Exact, over the latency samples")
    latency_p95: float | None
    latency_p99: float | None


class ReportSummary(CamelModel):
    total_requests: int = Field(
        description="Throughput (rps) integrated over the period on a one-minute grid "
        "(see totalRequestsBasis); else the number of latency samples"
    )
    total_requests_basis: RequestsBasis
    throughput_seconds: float = Field(description="Seconds covered by the integration")
    average_latency: float | None
    average_throughput: float | None = Field(
        description="totalRequests' integral over throughputSeconds: the time-weighted mean "
        "rate while throughput was reported"
    )
    average_accuracy: float | None
    total_cost: float | None
    error_rate: float | None
    success_rate: float | None
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    average_memory: float | None
    average_cpu: float | None
    sample_counts: dict[str, int]
    alert_counts: AlertCounts
    latency_timeline: LatencyTimeline
    cost_by_model: list[ModelCost] = Field(
        default_factory=list,
        exclude_if=lambda costs: not costs,  # present when samples carry a `model` label
        description="Per value of the `model` label: requests, tokens, cost (reported, else "
        "tokens x the price table), cost per request and per 1k tokens",
    )
    groups: list[ReportGroup] | None = Field(
        default=None,
        exclude_if=lambda groups: groups is None,  # present only when asked for
        description="With groupBy: the figures per value of that label (samples without the "
        "label are in no group), by value",
    )
    latency_percentile_basis: PercentileBasis | None = Field(
        default=None,
        description="What latencyP50/P95/P99 are: `histogram` (the period's latency histogram "
        "samples merged: percentiles of the requests) or `samples` (of the pushed values)",
    )
    histograms: dict[str, HistogramFigures] = Field(
        default_factory=dict, description="Per metric type with histogram samples in the period"
    )
    averages: dict[str, float | None] = Field(
        default_factory=dict,
        description="Mean of the values of every registered type with value samples in the "
        "period, canonical unit (throughput: time-weighted); histogram types: see histograms",
    )
    trends: list[ReportTrend] = Field(
        default_factory=list,
        description="Per metric type with enough history: the period's trend, season and "
        "forecast, as GET /trends computes them for the report's period",
    )


class ReportTrend(CamelModel):
    """GET /trends' figures for one type over the report's period, and what they say."""

    metric_type: str
    per_day: float | None = None
    interval95: tuple[float, float] | None = None
    significant: bool | None = None
    season_period_seconds: float | None = None
    season_kind: str | None = None
    change_points: int | None = None
    forecast_end: float | None = Field(
        default=None, description="Forecast mean at the end of the horizon"
    )
    forecast_end_interval95: tuple[float, float] | None = None
    horizon_seconds: float | None = None
    model: str | None = None
    holdout_mape: float | None = None
    samples: int | None = None
    statement: str = Field(description="The figures in one sentence, or why there are none")


class HistogramFigures(CamelModel):
    """A type's histogram samples over the period: buckets merged, percentiles interpolated
    inside their bucket (Prometheus histogram_quantile): percentiles of the requests."""

    basis: PercentileBasis = "histogram"
    samples: int = Field(description="Histogram samples (intervals) in the period")
    count: int = Field(description="Observations: the sum of their counts")
    sum: float
    average: float | None = Field(description="sum / count")
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None


class OptimizationOut(CamelModel):
    """The period's actions of one type, with their measured impact (positive = better)."""

    type: str
    impact: float | None = Field(description="Mean measured impact; null when none measured")
    description: str
    recommendation: str | None
    executed: int
    skipped: int
    failed: int
    dry_run: int
    measured: int = Field(description="Credited actions with a directional measured impact")
    improved: int
    worsened: int
    no_change: int
    capacity_saved: int = Field(
        description="Capacity reductions whose guard held (a success, not an improvement)"
    )
    unmeasured: int
    pending: int
    overlapped: int = Field(
        description="Executed actions whose measurement overlapped an earlier action's window:"
        " the group is credited once, to its first action; these are not counted by outcome"
    )
    metrics: list[str]


class RecommendationOut(CamelModel):
    kind: str
    message: str
    evidence: dict[str, Any]


class ReportOut(CamelModel):
    id: uuid.UUID
    service_name: str
    report_type: str
    period: PeriodOut
    summary: ReportSummary
    optimizations: list[OptimizationOut]
    recommendations: list[RecommendationOut]
    generated_at: datetime
