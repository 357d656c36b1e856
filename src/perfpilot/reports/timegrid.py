"""Time grids over a report period: UTC minutes for integrating throughput, and the buckets of
the latency timeline. Pure geometry; the SQL in series_repository uses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from perfpilot.reports.periods import seconds_between

MINUTE = 60.0
TIMELINE_MAX_BUCKETS = 120
TIMELINE_MIN_BUCKET_SECONDS = 60


@dataclass(frozen=True, slots=True)
class MinuteGrid:
    """The UTC clock minutes that meet [start, end): minute k starts at origin + 60 k s.

    Every minute weighs 60 s except the first and last, clipped to the period.
    """

    origin: datetime
    minutes: int
    first_weight: float
    last_weight: float


def minute_grid(start: datetime, end: datetime) -> MinuteGrid:
    origin = start.replace(second=0, microsecond=0)
    minutes = max(1, math.ceil(seconds_between(origin, end) / MINUTE))
    if minutes == 1:
        return MinuteGrid(origin, 1, seconds_between(start, end), seconds_between(start, end))
    first = seconds_between(start, origin + timedelta(minutes=1))
    last = seconds_between(origin + timedelta(minutes=minutes - 1), end)
    return MinuteGrid(origin, minutes, first, last)


def timeline_bounds(start: datetime, end: datetime) -> list[datetime]:
    """Bucket boundaries for the latency timeline: at most 120 buckets of at least a minute,
    of equal whole-second length (the last one clipped to end)."""
    total = seconds_between(start, end)
    buckets = max(1, min(TIMELINE_MAX_BUCKETS, int(total // TIMELINE_MIN_BUCKET_SECONDS)))
    width = timedelta(seconds=math.ceil(total / buckets))
    bounds = [start + width * k for k in range(buckets) if start + width * k < end]
    return [*bounds, end]
