"""A report's trend section: GET /trends' fit over the report's period, per main type."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.forecast.model import MAX_HORIZON
from perfpilot.forecast.service import HistoryTooShort, analyse_period, step_for
from perfpilot.reports.schemas import ReportTrend

TREND_TYPES = ("latency", "throughput", "error_rate", "cpu", "cost")


async def trend_section(
    session: AsyncSession, service: str, start: datetime, end: datetime, *, with_data: set[str]
) -> list[ReportTrend]:
    """One entry per type of TREND_TYPES with samples in the period; forecast over a quarter
    of the period after it."""
    span = end - start
    step = step_for(span)
    horizon = max(1, min(MAX_HORIZON, int(span.total_seconds() / step) // 4))
    out: list[ReportTrend] = []
    for metric in TREND_TYPES:
        if metric not in with_data:
            continue
        try:
            t = await analyse_period(
                session,
                service_name=service,
                metric_type=metric,
                labels=(),
                until=end,
                span=span,
                horizon_steps=horizon,
                period="report period",
            )
        except HistoryTooShort as exc:
            out.append(ReportTrend(metric_type=metric, statement=exc.message))
            continue
        season = t.seasonality[0] if t.seasonality else None
        last = t.forecast.points[-1]
        low, high = t.trend.interval95
        direction = "rising" if low > 0 else "falling" if high < 0 else "no significant trend"
        mape = t.fit.holdout_mape
        statement = (
            f"{metric}: {direction}, {t.trend.per_day:+.4g}/day (95 % interval {low:+.4g} to "
            f"{high:+.4g})"
            + (f"; repeats every {season.period_seconds:g} s" if season else "; no season found")
            + f"; {len(t.change_points)} level shift(s)"
            + f"; forecast {last.mean:.4g} (95 %: {last.lo95:.4g} to {last.hi95:.4g}) "
            f"{t.forecast.horizon_seconds:g} s after the period"
            + f"; {t.fit.model}, held-out error "
            + (f"{mape:.1%} MAPE" if mape is not None else "not measured")
            + f", from {t.fit.samples} buckets"
        )
        out.append(
            ReportTrend(
                metric_type=metric,
                per_day=t.trend.per_day,
                interval95=t.trend.interval95,
                significant=t.trend.significant,
                season_period_seconds=season.period_seconds if season else None,
                season_kind=season.kind if season else None,
                change_points=len(t.change_points),
                forecast_end=last.mean,
                forecast_end_interval95=(last.lo95, last.hi95),
                horizon_seconds=t.forecast.horizon_seconds,
                model=t.fit.model,
                holdout_mape=mape,
                samples=t.fit.samples,
                statement=statement,
            )
        )
    return out
