"""SQL for trend input: per-bucket averages of one series over a period, in one grouped
statement (the size of the answer is the number of buckets, never the number of samples)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

# + 1e-3 of a bucket: a timestamp on a bucket boundary (scrapers and clients often send
# aligned times) must not fall into the previous bucket through julianday's float rounding
_SQLITE_BUCKET = (
    "CAST((julianday(timestamp) - julianday(:since)) * 86400.0 / :width + 0.001 AS INTEGER)"
)
_POSTGRES_BUCKET = (
    "floor(extract(epoch FROM (timestamp - CAST(:since AS TIMESTAMPTZ))) / :width + 0.001)"
)


def _sqlite_time(when: datetime) -> str:
    """The storage form of perfpilot.core.db.UTCDateTime on SQLite."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def bucket_means(
    session: AsyncSession,
    *,
    service_name: str,
    metric_type: str,
    since: datetime,
    until: datetime,
    width_seconds: float,
    series_ids: Collection[int] | None = None,
) -> dict[int, float]:
    """Bucket index -> mean value over [since, until); `series_ids` restricts to labelled
    series (the label filter's matches)."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        bucket, since_sql, until_sql = _SQLITE_BUCKET, ":since", ":until"
        bounds: tuple[datetime | str, datetime | str] = (_sqlite_time(since), _sqlite_time(until))
    else:
        bucket = _POSTGRES_BUCKET
        since_sql, until_sql = "CAST(:since AS TIMESTAMPTZ)", "CAST(:until AS TIMESTAMPTZ)"
        bounds = (since, until)
    where = (
        f"service_name = :service AND metric_type = :metric "
        f"AND timestamp >= {since_sql} AND timestamp < {until_sql}"
    )
    if series_ids is not None:
        where += " AND series_id IN :series"
    statement = text(
        f"SELECT {bucket} AS b, avg(value) FROM ai_performance_metrics "  # noqa: S608
        f"WHERE {where} GROUP BY b ORDER BY b"
    )
    params: dict[str, object] = {
        "service": service_name,
        "metric": metric_type,
        "since": bounds[0],
        "until": bounds[1],
        "width": width_seconds,
    }
    if series_ids is not None:
        statement = statement.bindparams(bindparam("series", expanding=True))
        params["series"] = list(series_ids)
    rows = (await session.execute(statement, params)).all()
    return {int(r[0]): float(r[1]) for r in rows if r[0] is not None and r[1] is not None}
