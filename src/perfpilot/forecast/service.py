"""GET /trends: bucket the period, fit in the worker thread, shape the answer."""

from __future__ import annotations

import itertools
import math
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.core.errors import InvalidField
from perfpilot.forecast import repository
from perfpilot.forecast.model import MAX_HORIZON, MAX_POINTS, MIN_POINTS, Analysis
from perfpilot.forecast.model import HistoryTooShort as _TooShort
from perfpilot.forecast.runner import analyse_async
from perfpilot.forecast.schemas import (
    ChangePointOut,
    FitOut,
    ForecastOut,
    ForecastPoint,
    SeasonOut,
    TrendOut,
    TrendsOut,
)
from perfpilot.metrics import repository as metrics_repo
from perfpilot.metrics.repository import SampleFilter

DEFAULT_PERIOD = "7d"
MAX_PERIOD = timedelta(days=400)
# bucket widths (s): the narrowest that keeps a period within MAX_POINTS buckets
STEPS = (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_DURATION = re.compile(r"^(\d{1,7})([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class HistoryTooShort(InvalidField):
    code = "insufficient_history"


def _invalid(field: str, message: str) -> InvalidField:
    return InvalidField(
        f"{field}: {message}",
        details=[{"field": field, "message": message, "type": "value_error", "in": "query"}],
    )


def parse_duration(value: str, field: str) -> timedelta:
    """`30m`, `24h`, `7d`, `2w`, `3600s` -> a timedelta (422 naming `field` otherwise)."""
    match = _DURATION.match(value.strip())
    if match is None:
        raise _invalid(field, "must be a duration like 90m, 24h, 7d or 2w")
    seconds = int(match.group(1)) * _UNIT[match.group(2)]
    if seconds <= 0:
        raise _invalid(field, "must be > 0")
    return timedelta(seconds=seconds)


def _sample_stride(filled: list[int]) -> int:
    """The median distance (in buckets) between filled buckets: 1 when every bucket holds
    samples; 4 when a sample arrives every fourth bucket."""
    if len(filled) < 3:
        return 1
    gaps = sorted(b - a for a, b in itertools.pairwise(filled))
    return max(1, gaps[len(gaps) // 2])


def _coarser(values: list[float], stride: int) -> list[float]:
    """Buckets merged `stride` at a time, aligned on the grid's end (means of the filled)."""
    out: list[float] = []
    for end in range(len(values), 0, -stride):
        chunk = [v for v in values[max(0, end - stride) : end] if not math.isnan(v)]
        out.append(sum(chunk) / len(chunk) if chunk else math.nan)
    return out[::-1]


def step_for(span: timedelta) -> float:
    seconds = span.total_seconds()
    return float(next((s for s in STEPS if seconds / s <= MAX_POINTS), STEPS[-1]))


async def trends(
    session: AsyncSession,
    *,
    service_name: str,
    metric_type: str,
    labels: tuple[tuple[str, str], ...],
    period: str,
    horizon: str | None,
    now: datetime | None = None,
) -> TrendsOut:
    span = parse_duration(period, "period")
    if span > MAX_PERIOD:
        raise _invalid("period", f"at most {MAX_PERIOD.days} days")
    step = step_for(span)
    ahead = parse_duration(horizon, "horizon") if horizon else span / 4
    horizon_steps = max(1, math.ceil(ahead.total_seconds() / step))
    if horizon_steps > MAX_HORIZON:
        message = f"at most {MAX_HORIZON} buckets of {step:g} s ahead for this period"
        raise _invalid("horizon", message)
    end_s = math.floor((now or datetime.now(UTC)).timestamp() / step) * step
    return await analyse_period(
        session,
        service_name=service_name,
        metric_type=metric_type,
        labels=labels,
        until=datetime.fromtimestamp(end_s, UTC),
        span=span,
        horizon_steps=horizon_steps,
        period=period,
    )


async def analyse_period(
    session: AsyncSession,
    *,
    service_name: str,
    metric_type: str,
    labels: tuple[tuple[str, str], ...],
    until: datetime,
    span: timedelta,
    horizon_steps: int,
    period: str,
) -> TrendsOut:
    """The fit of [until - span, until) on its bucket grid (HistoryTooShort: a 422 that says
    how much history there is and how much is needed)."""
    step = step_for(span)
    end_s = until.timestamp()
    count = min(MAX_POINTS, math.ceil(span.total_seconds() / step))
    since = datetime.fromtimestamp(end_s - count * step, UTC)
    series_ids = None
    if labels:
        filters = SampleFilter(service_name=service_name, metric_type=metric_type, labels=labels)
        series_ids = list(await metrics_repo.matching_series(session, filters))
    means = (
        await repository.bucket_means(
            session,
            service_name=service_name,
            metric_type=metric_type,
            since=since,
            until=until,
            width_seconds=step,
            series_ids=series_ids,
        )
        if series_ids is None or series_ids
        else {}
    )
    values = [means.get(i, math.nan) for i in range(count)]
    stride = _sample_stride(sorted(means))
    if stride > 1:  # sparser samples than buckets: widen the buckets, interpolate nothing
        values, step = _coarser(values, stride), step * stride
        count = len(values)
        since = datetime.fromtimestamp(end_s - count * step, UTC)
        horizon_steps = max(1, math.ceil(horizon_steps / stride))
    key = (service_name, metric_type, labels, end_s, step, horizon_steps)
    try:
        analysis = await analyse_async(key, values, step_seconds=step, horizon_steps=horizon_steps)
    except _TooShort as exc:
        message = (
            f"History too short for a trend: {exc.have} of the {count} buckets of {step:g} s "
            f"in the last {period} hold samples of {metric_type} for {service_name}; at least "
            f"{MIN_POINTS} are needed. Widen `period` or wait for more data."
        )
        raise HistoryTooShort(
            message,
            details=[{"field": "period", "message": message, "type": "insufficient_history"}],
        ) from None
    first = next(i for i, v in enumerate(values) if not math.isnan(v))
    return shape(analysis, service_name, metric_type, labels, since, until, first, period)


def shape(
    a: Analysis,
    service_name: str,
    metric_type: str,
    labels: tuple[tuple[str, str], ...],
    since: datetime,
    until: datetime,
    first: int,
    period: str,
) -> TrendsOut:
    step = a.step_seconds
    start = since.timestamp() + first * step  # the fit's first bucket

    def at(index: float) -> datetime:
        return datetime.fromtimestamp(start + index * step, UTC)

    f = a.forecast
    points = [
        ForecastPoint(
            t=datetime.fromtimestamp(until.timestamp() + i * step, UTC),
            mean=float(f.mean[i]),
            lo80=float(f.lo80[i]),
            hi80=float(f.hi80[i]),
            lo95=float(f.lo95[i]),
            hi95=float(f.hi95[i]),
        )
        for i in range(f.mean.size)
    ]
    held = a.holdout
    return TrendsOut(
        service_name=service_name,
        metric_type=metric_type,
        labels=dict(labels),
        since=since,
        until=until,
        step_seconds=step,
        trend=TrendOut(
            per_day=a.trend.per_day,
            interval95=a.trend.interval95,
            significant=a.trend.significant,
        ),
        seasonality=[
            SeasonOut(
                period_seconds=s.period_seconds,
                strength=s.strength,
                autocorrelation=s.autocorrelation,
                kind=s.kind,
            )
            for s in ([a.season] if a.season is not None else [])
        ],
        change_points=[
            ChangePointOut(t=at(c.index), before=c.before, after=c.after) for c in a.change_points
        ],
        forecast=ForecastOut(horizon_seconds=len(points) * step, points=points),
        fit=FitOut(
            model=a.model,
            basis=f"{a.samples} buckets of {step:g} s (bucket means) over the last {period}",
            samples=a.samples,
            gaps=a.gaps,
            holdout_points=held.points if held else None,
            holdout_mape=held.mape if held else None,
            holdout_mae=held.mae if held else None,
            holdout_coverage80=held.coverage80 if held else None,
            holdout_coverage95=held.coverage95 if held else None,
        ),
    )
