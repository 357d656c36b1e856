"""SQL that aggregates a period's samples for a report; rows never travel to Python.

The statements are assembled from fixed fragments and generated parameter names (S608 is
silenced on them for that reason); every value, the service name included, is a bound
parameter.

Every query reads the (service_name, metric_type, timestamp, value) index range of one
series. SQLite stores timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text (which sorts and
compares as time), so its parameters are that text; PostgreSQL gets timestamptz.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.models import PerformanceMetric
from perfpilot.reports.percentiles import Band
from perfpilot.reports.timegrid import MinuteGrid

_SERIES = (
    "service_name = :service AND metric_type = :metric "
    "AND timestamp >= {start} AND timestamp < {end}"
)


@dataclass(frozen=True, slots=True)
class SeriesStats:
    count: int
    total: float | None
    maximum: float | None

    @property
    def mean(self) -> float | None:
        return None if not self.count or self.total is None else self.total / self.count


EMPTY = SeriesStats(0, None, None)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One latency timeline bucket, with the counts below each percentile band."""

    stats: SeriesStats
    below: list[int]


@dataclass(frozen=True, slots=True)
class Integral:
    requests: float
    seconds: float
    minutes: int  # minutes that held samples


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def begin_snapshot(session: AsyncSession) -> None:
    """Make the session's next reads one snapshot. The sqlite3 driver runs SELECTs outside
    any transaction, so counts and the ranks read in a later statement could disagree
    while samples arrive; an explicit BEGIN (deferred: a read transaction) pins them. The
    session's closing rollback ends it. PostgreSQL: nothing (each statement is consistent
    on its own, and percentile_cont needs only its own)."""
    if dialect_of(session) == "sqlite":
        await session.execute(text("BEGIN"))


class _Sql:
    """The dialect's spelling of typed parameters."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def ts(self, name: str) -> str:
        return f":{name}" if self.sqlite else f"CAST(:{name} AS TIMESTAMPTZ)"

    def value(self, when: datetime) -> datetime | str:
        if self.sqlite:  # the storage form of perfpilot.core.db.UTCDateTime on SQLite
            return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return when

    def series(self, start: str = "start", end: str = "end") -> str:
        return _SERIES.format(start=self.ts(start), end=self.ts(end))


async def series_stats(
    session: AsyncSession,
    service_name: str,
    metric_types: Sequence[str],
    start: datetime,
    end: datetime,
) -> dict[str, SeriesStats]:
    """count, sum and max per metric type over [start, end)."""
    m = PerformanceMetric
    query = (
        select(m.metric_type, func.count(), func.sum(m.value), func.max(m.value))
        .where(
            m.service_name == service_name,
            m.metric_type.in_(list(metric_types)),
            m.timestamp >= start,
            m.timestamp < end,
        )
        .group_by(m.metric_type)
    )
    rows = (await session.execute(query)).all()
    return {r[0]: SeriesStats(int(r[1]), r[2], r[3]) for r in rows}


async def count_samples(
    session: AsyncSession, service_name: str, metric_type: str, start: datetime, end: datetime
) -> int:
    """Samples of one series in [start, end): an index-only count."""
    m = PerformanceMetric
    query = select(func.count()).where(
        m.service_name == service_name,
        m.metric_type == metric_type,
        m.timestamp >= start,
        m.timestamp < end,
    )
    return int((await session.execute(query)).scalar_one())


async def bucket_stats(
    session: AsyncSession,
    service_name: str,
    metric_type: str,
    bounds: Sequence[datetime],
    bands: Sequence[Band] = (),
) -> list[Bucket]:
    """Per bucket [bounds[k], bounds[k+1]): count, sum and max, and the exact count of values
    below each band. One index range per bucket, so one pass over the period."""
    sql = _Sql(dialect_of(session))
    params: dict[str, Any] = {"service": service_name, "metric": metric_type}
    extra = ""
    for j, band in enumerate(bands):
        if band.low is None:
            extra += f", 0 AS b{j}"
        else:
            params[f"lo{j}"] = band.low
            extra += f", count(*) FILTER (WHERE value < :lo{j}) AS b{j}"
    arms = []
    for k, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        params[f"t{k}"], params[f"t{k + 1}"] = sql.value(lo), sql.value(hi)
        arms.append(
            f"SELECT {k} AS k, count(*) AS n, sum(value) AS s, max(value) AS hi{extra} "  # noqa: S608
            "FROM ai_performance_metrics "
            f"WHERE {sql.series(f't{k}', f't{k + 1}')}"
        )
    rows = (await session.execute(text(" UNION ALL ".join(arms)), params)).all()
    buckets = [Bucket(EMPTY, [0] * len(bands)) for _ in arms]
    for row in rows:
        buckets[int(row[0])] = Bucket(
            SeriesStats(int(row[1]), row[2], row[3]), [int(c) for c in row[4:]]
        )
    return buckets


async def probe_sample(
    session: AsyncSession,
    service_name: str,
    metric_type: str,
    start: datetime,
    end: datetime,
    *,
    probes: int,
) -> list[float]:
    """SQLite: the first value at or after each of `probes` evenly spaced times, ascending.
    One index seek per probe; a hint for the percentile bands, never a result."""
    step = (end - start).total_seconds() / probes
    query = text(
        "WITH RECURSIVE probe(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM probe "
        "WHERE k + 1 < :probes) "
        "SELECT v FROM (SELECT (SELECT value FROM ai_performance_metrics "
        "WHERE service_name = :service AND metric_type = :metric "
        "AND timestamp >= strftime('%Y-%m-%d %H:%M:%f', :start, '+' || (k * :step) || "
        "' seconds') || '000' AND timestamp < :end ORDER BY timestamp LIMIT 1) AS v "
        "FROM probe) AS sampled WHERE v IS NOT NULL ORDER BY v"
    )
    sql = _Sql("sqlite")
    params = {
        "probes": probes,
        "service": service_name,
        "metric": metric_type,
        "start": sql.value(start),
        "end": sql.value(end),
        "step": step,
    }
    return [float(r[0]) for r in (await session.execute(query, params)).all()]


async def ranked_values(
    session: AsyncSession,
    service_name: str,
    metric_type: str,
    start: datetime,
    end: datetime,
    *,
    bands: Sequence[Band],
    ranks: dict[int, set[int]],
) -> dict[tuple[int, int], float]:
    """Values at the given (band, rank-within-band) positions, ranks 0-based ascending.
    Only values inside the bands are sorted (one unbounded band = the whole period)."""
    sql = _Sql(dialect_of(session))
    params: dict[str, Any] = {
        "service": service_name,
        "metric": metric_type,
        "start": sql.value(start),
        "end": sql.value(end),
    }
    cases, wanted = [], []
    for j, band in enumerate(bands):
        parts = []
        if band.low is not None:
            params[f"lo{j}"] = band.low
            parts.append(f"value >= :lo{j}")
        if band.high is not None:
            params[f"hi{j}"] = band.high
            parts.append(f"value <= :hi{j}")
        cases.append(f"WHEN {' AND '.join(parts) or '1 = 1'} THEN {j}")
        names = []
        for i, rank in enumerate(sorted(ranks.get(j, ()))):
            params[f"r{j}_{i}"] = rank
            names.append(f":r{j}_{i}")
        if names:
            wanted.append(f"(band = {j} AND rn IN ({', '.join(names)}))")
    if not wanted:
        return {}
    query = text(
        "SELECT band, rn, value FROM (SELECT value, band, row_number() OVER "  # noqa: S608
        "(PARTITION BY band ORDER BY value) - 1 AS rn FROM (SELECT value, "
        f"CASE {' '.join(cases)} END AS band FROM ai_performance_metrics "
        f"WHERE {sql.series()}) AS banded WHERE band IS NOT NULL) AS ranked "
        f"WHERE {' OR '.join(wanted)}"
    )
    rows = (await session.execute(query, params)).all()
    return {(int(r[0]), int(r[1])): float(r[2]) for r in rows}


async def percentile_cont(
    session: AsyncSession,
    service_name: str,
    metric_type: str,
    start: datetime,
    end: datetime,
    quantiles: Sequence[float],
) -> list[float] | None:
    """PostgreSQL: percentile_cont itself; None when the period holds no value."""
    query = text(
        "SELECT percentile_cont(CAST(:quantiles AS DOUBLE PRECISION[])) WITHIN GROUP "  # noqa: S608
        f"(ORDER BY value) FROM ai_performance_metrics WHERE {_Sql('postgresql').series()}"
    )
    params = {
        "quantiles": list(quantiles),
        "service": service_name,
        "metric": metric_type,
        "start": start,
        "end": end,
    }
    result = (await session.execute(query, params)).scalar_one()
    return None if result is None else [float(v) for v in result]


def _grid_minute_bounds(sql: _Sql) -> tuple[str, str]:
    if sql.sqlite:
        lo = "strftime('%Y-%m-%d %H:%M:%S', :origin, '+' || (k * 60) || ' seconds') || '.000000'"
        hi = (
            "strftime('%Y-%m-%d %H:%M:%S', :origin, '+' || (k * 60 + 60) || ' seconds') "
            "|| '.000000'"
        )
        return f"max(:start, {lo})", f"min(:end, {hi})"
    origin = "CAST(:origin AS TIMESTAMPTZ)"
    return (
        f"GREATEST({sql.ts('start')}, {origin} + k * INTERVAL '1 minute')",
        f"LEAST({sql.ts('end')}, {origin} + (k + 1) * INTERVAL '1 minute')",
    )


async def integrate(
    session: AsyncSession,
    service_name: str,
    metric_type: str,
    start: datetime,
    end: datetime,
    *,
    grid: MinuteGrid,
    max_gap_seconds: float,
) -> Integral:
    """A rate (per second) integrated over [start, end) on the UTC minute grid.

    A minute holding samples runs at their mean for its length (the first and last minute
    clipped to the period). The empty minutes between two such minutes run at the earlier
    one's rate when the later one starts at most `max_gap_seconds` after it; every other
    minute counts zero (before the first sample, after the last, and across longer gaps).
    """
    sql = _Sql(dialect_of(session))
    lo, hi = _grid_minute_bounds(sql)
    query = text(
        "WITH RECURSIVE grid(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM grid "  # noqa: S608
        "WHERE k + 1 < CAST(:minutes AS INTEGER)), "
        # MATERIALIZED: else the correlated subquery is evaluated again for the filter below
        "rates AS MATERIALIZED (SELECT k, (SELECT avg(value) FROM ai_performance_metrics "
        "WHERE service_name = :service AND metric_type = :metric "
        f"AND timestamp >= {lo} AND timestamp < {hi}) AS rate FROM grid), "
        "reported AS (SELECT k, rate, LEAD(k) OVER (ORDER BY k) AS next_k FROM rates "
        "WHERE rate IS NOT NULL), "
        "weighted AS (SELECT rate, "
        "CASE WHEN k = 0 THEN CAST(:first_weight AS DOUBLE PRECISION) "
        "WHEN k = CAST(:minutes AS INTEGER) - 1 THEN CAST(:last_weight AS DOUBLE PRECISION) "
        "ELSE CAST(60 AS DOUBLE PRECISION) END + CASE WHEN next_k IS NOT NULL "
        "AND (next_k - k) * 60 <= CAST(:max_gap AS DOUBLE PRECISION) "
        "THEN CAST((next_k - k - 1) * 60 AS DOUBLE PRECISION) "
        "ELSE CAST(0 AS DOUBLE PRECISION) END AS seconds FROM reported) "
        "SELECT sum(rate * seconds), sum(seconds), count(*) FROM weighted"
    )
    params = {
        "minutes": grid.minutes,
        "service": service_name,
        "metric": metric_type,
        "origin": sql.value(grid.origin),
        "start": sql.value(start),
        "end": sql.value(end),
        "first_weight": grid.first_weight,
        "last_weight": grid.last_weight,
        "max_gap": max_gap_seconds,
    }
    row = (await session.execute(query, params)).one()
    return Integral(float(row[0] or 0.0), float(row[1] or 0.0), int(row[2]))
