"""A period's sample figures, computed by the database: latency (with exact percentiles and a
timeline), throughput integrated over time, and count/sum/max of every other type."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.metrics.units import REGISTRY
from perfpilot.reports import series_repository as series
from perfpilot.reports.percentiles import (
    PROBES,
    QUANTILES,
    Band,
    RankPlan,
    choose_bands,
    full_plan,
    interpolate,
    plan_ranks,
    rank_target,
)
from perfpilot.reports.periods import seconds_between
from perfpilot.reports.schemas import LatencyTimeline, RequestsBasis, TimelinePoint
from perfpilot.reports.series_repository import EMPTY, Bucket, Integral, SeriesStats
from perfpilot.reports.timegrid import minute_grid, timeline_bounds


@dataclass(frozen=True, slots=True)
class LatencyDigest:
    stats: SeriesStats
    timeline: LatencyTimeline
    percentiles: list[float] | None  # one per QUANTILES entry


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """stats: count/sum/max per type (throughput: the count only, its mean is rate())."""

    stats: dict[str, SeriesStats]
    latency: LatencyDigest
    throughput: Integral
    total_requests: int
    total_requests_basis: RequestsBasis

    def mean(self, metric_type: str) -> float | None:
        if metric_type == "throughput":
            return rate(self.throughput)
        return self.stats[metric_type].mean


def rate(integral: Integral) -> float | None:
    """The time-weighted mean rate: integrated requests over integrated seconds."""
    return integral.requests / integral.seconds if integral.seconds else None


async def throughput_integral(
    session: AsyncSession,
    service_name: str,
    start: datetime,
    end: datetime,
    *,
    max_gap_seconds: float,
) -> Integral:
    return await series.integrate(
        session,
        service_name,
        "throughput",
        start,
        end,
        grid=minute_grid(start, end),
        max_gap_seconds=max_gap_seconds,
    )


def combine(buckets: Sequence[Bucket]) -> SeriesStats:
    filled = [b.stats for b in buckets if b.stats.count]
    if not filled:
        return EMPTY
    return SeriesStats(
        count=sum(s.count for s in filled),
        total=sum(s.total or 0.0 for s in filled),
        maximum=max(s.maximum for s in filled if s.maximum is not None),
    )


def _timeline(bounds: Sequence[datetime], buckets: Sequence[Bucket]) -> LatencyTimeline:
    width = seconds_between(bounds[0], bounds[1]) if len(bounds) > 1 else 0.0
    return LatencyTimeline(
        bucket_seconds=width,
        points=[
            TimelinePoint(start=lo, count=b.stats.count, average=b.stats.mean, max=b.stats.maximum)
            for lo, b in zip(bounds, buckets, strict=False)
        ],
    )


async def _sqlite_percentiles(
    session: AsyncSession,
    service_name: str,
    start: datetime,
    end: datetime,
    *,
    n: int,
    bands: Sequence[Band],
    buckets: Sequence[Bucket],
) -> list[float]:
    targets = [rank_target(q, n) for q in QUANTILES]
    below = [sum(b.below[j] for b in buckets) for j in range(len(bands))]
    plan = plan_ranks(n, targets, bands, below)
    values = await _ranked(session, service_name, start, end, plan)
    if values is None and not plan.full_sort:  # a band ended before its rank
        plan = full_plan(targets)
        values = await _ranked(session, service_name, start, end, plan)
    if values is None:  # cannot happen within one snapshot (see begin_snapshot)
        raise RuntimeError("the full ranking lacks a rank: the data changed between reads")
    return [
        interpolate(t, values[(lk.band, lk.first)], values[(lk.band, lk.second)])
        for t, lk in zip(targets, plan.lookups, strict=True)
    ]


async def _ranked(
    session: AsyncSession, service_name: str, start: datetime, end: datetime, plan: RankPlan
) -> dict[tuple[int, int], float] | None:
    """The values at the plan's ranks; None when one of them is not there."""
    wanted: dict[int, set[int]] = {}
    for lookup in plan.lookups:
        wanted.setdefault(lookup.band, set()).update((lookup.first, lookup.second))
    values = await series.ranked_values(
        session, service_name, "latency", start, end, bands=plan.bands, ranks=wanted
    )
    found = all((band, rank) in values for band, ranks in wanted.items() for rank in ranks)
    return values if found else None


async def latency_digest(
    session: AsyncSession, service_name: str, start: datetime, end: datetime
) -> LatencyDigest:
    """One pass for the timeline and totals (and, on SQLite, the band counts), then the
    percentiles: percentile_cont on PostgreSQL, the banded exact method on SQLite."""
    sqlite = series.dialect_of(session) == "sqlite"
    bounds = timeline_bounds(start, end)
    bands: list[Band] = []
    if sqlite:
        sample = await series.probe_sample(
            session, service_name, "latency", start, end, probes=PROBES
        )
        bands = choose_bands(sample)
    buckets = await series.bucket_stats(session, service_name, "latency", bounds, bands)
    stats = combine(buckets)
    percentiles: list[float] | None = None
    if stats.count and sqlite:
        percentiles = await _sqlite_percentiles(
            session, service_name, start, end, n=stats.count, bands=bands, buckets=buckets
        )
    elif stats.count:
        percentiles = await series.percentile_cont(
            session, service_name, "latency", start, end, QUANTILES
        )
    return LatencyDigest(stats, _timeline(bounds, buckets), percentiles)


async def _other_series(
    session: AsyncSession, service_name: str, start: datetime, end: datetime, max_gap: float
) -> tuple[dict[str, SeriesStats], Integral]:
    """Every type but latency: throughput counted and integrated, the rest grouped."""
    others = [t for t in REGISTRY.names() if t not in ("latency", "throughput")]
    stats = await series.series_stats(session, service_name, others, start, end)
    count = await series.count_samples(session, service_name, "throughput", start, end)
    stats["throughput"] = SeriesStats(count, None, None)
    integral = Integral(0.0, 0.0, 0)
    if count:
        integral = await throughput_integral(
            session, service_name, start, end, max_gap_seconds=max_gap
        )
    return stats, integral


async def period_figures(
    session: AsyncSession,
    service_name: str,
    start: datetime,
    end: datetime,
    *,
    max_gap_seconds: float,
    side: AsyncSession | None = None,
) -> PeriodFigures:
    """Latency on `session` and, concurrently on `side` when given, the other types:
    independent reads, so two connections nearly halve the wall time (SQLite readers run in
    parallel under WAL)."""
    if side is None:
        latency = await latency_digest(session, service_name, start, end)
        stats, throughput = await _other_series(session, service_name, start, end, max_gap_seconds)
    else:
        latency, (stats, throughput) = await asyncio.gather(
            latency_digest(session, service_name, start, end),
            _other_series(side, service_name, start, end, max_gap_seconds),
        )
    stats["latency"] = latency.stats
    for metric in REGISTRY.names():
        stats.setdefault(metric, EMPTY)
    basis: RequestsBasis = "none"
    total = 0
    if stats["throughput"].count:
        basis, total = "throughput", math.floor(throughput.requests + 0.5)
    elif latency.stats.count:
        basis, total = "latency_samples", latency.stats.count
    return PeriodFigures(stats, latency, throughput, total, basis)
