"""SQL for downsampled series: one grouped statement over one index range.

It reads the (service_name, metric_type, timestamp, id, value) index alone (value is in the
index), groups by the bucket number of each timestamp, and returns at most `points` rows, so
the size of an answer never depends on how many samples the range holds.

Label filters (DESIGN §9) join here when samples carry labels: add the matcher predicates to
`_WHERE` and their parameters to `params`; nothing above this module needs to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_WHERE = (
    "service_name = :service AND metric_type = :metric "
    "AND timestamp >= {since} AND timestamp < {until}"
)
# bucket number of a row: seconds since `since`, divided by the bucket width
_SQLITE_BUCKET = "CAST((julianday(timestamp) - julianday(:since)) * 86400.0 / :width AS INTEGER)"
_POSTGRES_BUCKET = "floor(extract(epoch FROM (timestamp - CAST(:since AS TIMESTAMPTZ))) / :width)"


@dataclass(frozen=True, slots=True)
class BucketRow:
    index: int
    count: int
    minimum: float
    maximum: float
    total: float


def _sqlite_time(when: datetime) -> str:
    """The storage form of perfpilot.core.db.UTCDateTime on SQLite (text that sorts as time)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def bucket_rows(
    session: AsyncSession,
    *,
    service_name: str,
    metric_type: str,
    since: datetime,
    until: datetime,
    width_seconds: float,
) -> list[BucketRow]:
    """count/min/max/sum per bucket of `width_seconds` over [since, until), by bucket."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        where = _WHERE.format(since=":since", until=":until")
        bucket = _SQLITE_BUCKET
        bounds: tuple[datetime | str, datetime | str] = (_sqlite_time(since), _sqlite_time(until))
    else:
        where = _WHERE.format(
            since="CAST(:since AS TIMESTAMPTZ)", until="CAST(:until AS TIMESTAMPTZ)"
        )
        bucket = _POSTGRES_BUCKET
        bounds = (since, until)
    statement = text(
        f"SELECT {bucket} AS b, count(*), min(value), max(value), sum(value) "  # noqa: S608
        f"FROM ai_performance_metrics WHERE {where} GROUP BY b ORDER BY b"
    )
    params = {
        "service": service_name,
        "metric": metric_type,
        "since": bounds[0],
        "until": bounds[1],
        "width": width_seconds,
    }
    rows = (await session.execute(statement, params)).all()
    return [
        BucketRow(int(r[0]), int(r[1]), float(r[2]), float(r[3]), float(r[4]))
        for r in rows
        if r[0] is not None
    ]
