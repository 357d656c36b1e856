"""SQL for downsampled series: one grouped statement over one index range.

From the samples: it reads the (service_name, metric_type, timestamp, id, value) index alone
(value is in the index) and groups by the bucket number of each timestamp. From the minute
rollups (metrics/rollups.py), when buckets are whole minutes on a whole-minute grid: one row
per series-minute instead of one per sample. Either way at most `points` rows (per series when
split by series), so the size of an answer never depends on how many samples the range holds.

Bucket numbers on a whole-minute grid are integer arithmetic on whole seconds, on both
sources, so a sample on a bucket edge lands in the same bucket whichever source is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

SAMPLES = "ai_performance_metrics"
ROLLUPS = "ai_metric_rollups_1m"


@dataclass(frozen=True, slots=True)
class BucketRow:
    index: int
    count: int
    minimum: float
    maximum: float
    total: float
    series_id: int = 0  # when split by series; 0: unlabelled samples (or not split)


def _sqlite_time(when: datetime) -> str:
    """The storage form of perfpilot.core.db.UTCDateTime on SQLite (text that sorts as time)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _bucket(sqlite: bool, column: str, *, whole: bool) -> str:
    """The bucket number of `column` (a time) for a grid starting at :since, :width wide."""
    if whole:  # :since_s and :width are whole seconds
        if sqlite:
            # whole seconds cut from the stored text: SQLite's own time functions round
            # to the millisecond, which would put 12:00:59.9999 in the next minute
            return (
                f"((CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) - :since_s) / :width)"
            )
        return f"((floor(extract(epoch FROM {column}))::bigint - :since_s) / :width)"
    if sqlite:
        return f"CAST((julianday({column}) - julianday(:since)) * 86400.0 / :width AS INTEGER)"
    return f"floor(extract(epoch FROM ({column} - CAST(:since AS TIMESTAMPTZ))) / :width)"


async def bucket_rows(
    session: AsyncSession,
    *,
    service_name: str,
    metric_type: str,
    since: datetime,
    until: datetime,
    width_seconds: float,
    rollups: bool = False,
    series_ids: Sequence[int] | None = None,
    by_series: bool = False,
) -> list[BucketRow]:
    """count/min/max/sum per bucket of `width_seconds` over [since, until), by bucket.

    `rollups`: read the minute rollups (only for a whole-minute grid: since on a minute,
    width a multiple of 60 s). `series_ids`: only these labelled series. `by_series`: one row
    per (bucket, series)."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    whole = since.second == 0 and since.microsecond == 0 and width_seconds % 60 == 0
    if rollups and not whole:
        raise ValueError("rollups answer whole-minute grids only")
    column = "minute" if rollups else "timestamp"
    bucket = _bucket(sqlite, column, whole=whole)
    if sqlite:
        lower, upper = ":since", ":until"
        bounds: tuple[Any, Any] = (_sqlite_time(since), _sqlite_time(until))
    else:
        lower, upper = "CAST(:since AS TIMESTAMPTZ)", "CAST(:until AS TIMESTAMPTZ)"
        bounds = (since, until)
    where = (
        f"service_name = :service AND metric_type = :metric "
        f"AND {column} >= {lower} AND {column} < {upper}"
    )
    params: dict[str, Any] = {
        "service": service_name,
        "metric": metric_type,
        "since": bounds[0],
        "until": bounds[1],
        "width": int(width_seconds) if whole else width_seconds,
        "since_s": int(since.timestamp()),
    }
    binds: list[BindParameter[Any]] = []
    if series_ids is not None:
        where += " AND series_id IN :series_ids"
        params["series_ids"] = list(series_ids)
        binds.append(bindparam("series_ids", expanding=True))
    series = ("series_id" if rollups else "coalesce(series_id, 0)") if by_series else "0"
    aggregates = (
        'sum("count"), min("min"), max("max"), sum("sum")'
        if rollups
        else "count(*), min(value), max(value), sum(value)"
    )
    group = "b, s" if by_series else "b"
    statement = text(
        f"SELECT {bucket} AS b, {series} AS s, {aggregates} "  # noqa: S608
        f"FROM {ROLLUPS if rollups else SAMPLES} WHERE {where} GROUP BY {group} ORDER BY {group}"
    ).bindparams(*binds)
    rows = (await session.execute(statement, params)).all()
    return [
        BucketRow(int(r[0]), int(r[2]), float(r[3]), float(r[4]), float(r[5]), int(r[1]))
        for r in rows
        if r[0] is not None
    ]
