"""Downsampling: choose the bucket width for the requested points, shape the buckets."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.series import repository
from perfpilot.series.schemas import SeriesBucket, SeriesOut

# one bucket per pixel of a wide chart is plenty; more would only ship noise
MAX_POINTS = 2_000
DEFAULT_POINTS = 600
DEFAULT_SPAN = timedelta(hours=1)
MAX_SPAN = timedelta(days=400)


async def downsampled(
    session: AsyncSession,
    *,
    service_name: str,
    metric_type: str,
    since: datetime,
    until: datetime,
    points: int,
) -> SeriesOut:
    """At most `points` buckets of equal width over [since, until); empty buckets omitted."""
    width = (until - since).total_seconds() / points
    rows = await repository.bucket_rows(
        session,
        service_name=service_name,
        metric_type=metric_type,
        since=since,
        until=until,
        width_seconds=width,
    )
    buckets = [
        SeriesBucket(
            start=since + timedelta(seconds=row.index * width),
            count=row.count,
            min=row.minimum,
            max=row.maximum,
            avg=row.total / row.count,
        )
        # a timestamp a hair under `until` can round into bucket `points`; fold it back
        for row in _fold_last(rows, points)
    ]
    return SeriesOut(
        service_name=service_name,
        metric_type=metric_type,
        since=since,
        until=until,
        bucket_seconds=width,
        points=points,
        buckets=buckets,
    )


def _fold_last(rows: list[repository.BucketRow], points: int) -> list[repository.BucketRow]:
    kept = [r for r in rows if 0 <= r.index < points]
    extra = [r for r in rows if r.index >= points]
    if not extra:
        return kept
    merged = extra[0]
    for r in extra[1:]:
        merged = _merge(merged, r)
    last = kept[-1] if kept and kept[-1].index == points - 1 else None
    folded = repository.BucketRow(
        points - 1, merged.count, merged.minimum, merged.maximum, merged.total
    )
    if last is None:
        return [*kept, folded]
    return [*kept[:-1], _merge(last, folded)]


def _merge(a: repository.BucketRow, b: repository.BucketRow) -> repository.BucketRow:
    return repository.BucketRow(
        a.index,
        a.count + b.count,
        min(a.minimum, b.minimum),
        max(a.maximum, b.maximum),
        a.total + b.total,
    )
