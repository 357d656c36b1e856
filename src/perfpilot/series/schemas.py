"""GET /series: a series downsampled into time buckets (min/max/avg/count per bucket)."""

from __future__ import annotations

from datetime import datetime

from perfpilot.core.schemas import CamelModel


class SeriesBucket(CamelModel):
    """One bucket [start, start + bucketSeconds): only buckets that hold samples are listed."""

    start: datetime
    count: int
    min: float
    max: float
    avg: float


class SeriesOut(CamelModel):
    service_name: str
    metric_type: str
    since: datetime
    until: datetime
    bucket_seconds: float
    points: int
    buckets: list[SeriesBucket]
