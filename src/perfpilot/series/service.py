"""Downsampling: choose the bucket width and the source, shape the buckets and groups."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.metrics import repository as samples
from perfpilot.metrics.repository import SampleFilter
from perfpilot.series import repository
from perfpilot.series.repository import BucketRow
from perfpilot.series.schemas import SeriesBucket, SeriesGroup, SeriesOut

# one bucket per pixel of a wide chart is plenty; more would only ship noise
MAX_POINTS = 2_000
DEFAULT_POINTS = 600
DEFAULT_SPAN = timedelta(hours=1)
MAX_SPAN = timedelta(days=400)
SourceChoice = Literal["auto", "samples", "rollups"]


def whole_minute_grid(since: datetime, width_seconds: float) -> bool:
    """Whether buckets of this width from `since` are unions of whole UTC minutes."""
    return since.second == 0 and since.microsecond == 0 and width_seconds % 60 == 0


async def downsampled(
    session: AsyncSession,
    *,
    service_name: str,
    metric_type: str,
    since: datetime,
    until: datetime,
    points: int,
    labels: tuple[tuple[str, str], ...] = (),
    group_by: str | None = None,
    source: SourceChoice = "auto",
) -> SeriesOut:
    """At most `points` buckets of equal width over [since, until); empty buckets omitted.
    `source` auto reads the minute rollups whenever the grid allows it (the caller checked
    that an explicit `rollups` does)."""
    width = (until - since).total_seconds() / points
    rollups = source == "rollups" or (source == "auto" and whole_minute_grid(since, width))
    series_ids: list[int] | None = None
    if labels:
        wanted = SampleFilter(service_name=service_name, metric_type=metric_type, labels=labels)
        series_ids = sorted(await samples.matching_series(session, wanted))
    groups_of: dict[int, str] = {}
    if group_by is not None:
        groups_of = {
            sid: value
            for sid, kind, value in await samples.series_by_label(session, service_name, group_by)
            if kind == metric_type
        }
    rows: list[BucketRow] = []
    if series_ids is None or series_ids:
        rows = await repository.bucket_rows(
            session,
            service_name=service_name,
            metric_type=metric_type,
            since=since,
            until=until,
            width_seconds=width,
            rollups=rollups,
            series_ids=series_ids,
            by_series=group_by is not None,
        )
    groups = None
    if group_by is not None:
        by_value: dict[str, list[BucketRow]] = defaultdict(list)
        for row in rows:
            if row.series_id in groups_of:
                by_value[groups_of[row.series_id]].append(row)
        groups = [
            SeriesGroup(
                labels={group_by: value}, buckets=_buckets(by_value[value], since, width, points)
            )
            for value in sorted(by_value)
        ]
    return SeriesOut(
        service_name=service_name,
        metric_type=metric_type,
        since=since,
        until=until,
        bucket_seconds=width,
        points=points,
        labels=dict(labels),
        source="rollups" if rollups else "samples",
        buckets=_buckets(rows, since, width, points),
        groups=groups,
    )


def _buckets(
    rows: Iterable[BucketRow], since: datetime, width: float, points: int
) -> list[SeriesBucket]:
    merged: dict[int, BucketRow] = {}
    for row in rows:
        # a timestamp a hair under `until` can round into bucket `points`; fold it back
        index = min(row.index, points - 1)
        if index < 0:
            continue
        current = merged.get(index)
        merged[index] = row if current is None else _merge(current, row)
    return [
        SeriesBucket(
            start=since + timedelta(seconds=index * width),
            count=row.count,
            min=row.minimum,
            max=row.maximum,
            avg=row.total / row.count,
        )
        for index, row in sorted(merged.items())
    ]


def _merge(a: BucketRow, b: BucketRow) -> BucketRow:
    return BucketRow(
        a.index,
        a.count + b.count,
        min(a.minimum, b.minimum),
        max(a.maximum, b.maximum),
        a.total + b.total,
    )
