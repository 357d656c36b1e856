"""GET /series: a series downsampled into time buckets (min/max/avg/count per bucket)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from perfpilot.core.schemas import CamelModel

SeriesSource = Literal["samples", "rollups"]


class SeriesBucket(CamelModel):
    """One bucket [start, start + bucketSeconds): only buckets that hold samples are listed."""

    start: datetime
    count: int
    min: float
    max: float
    avg: float


class SeriesGroup(CamelModel):
    """The buckets of the samples whose `groupBy` label has one value."""

    labels: dict[str, str]
    buckets: list[SeriesBucket]


class SeriesOut(CamelModel):
    service_name: str
    metric_type: str
    since: datetime
    until: datetime
    bucket_seconds: float
    points: int
    labels: dict[str, str] = Field(description="The label filters applied (labels[name]=value)")
    source: SeriesSource = Field(
        description="What was read: `rollups` (per-minute count/sum/min/max, used when the "
        "buckets are whole minutes on a whole-minute grid) or `samples`; the figures are the same"
    )
    buckets: list[SeriesBucket]
    groups: list[SeriesGroup] | None = Field(
        default=None,
        exclude_if=lambda groups: groups is None,  # present only when asked for
        description="With groupBy: the buckets per value of that label, by value (samples "
        "without the label are in `buckets` only)",
    )
