"""One fit of a series on a regular time grid: trend with its interval, the primary season,
change points, and a forecast with 80 % and 95 % intervals, plus the fit's error on a held-out
tail. Pure and synchronous (minutes of CPU never; about half a second for 1,440 points): the
caller runs it in a worker thread (forecast/runner.py).

Model. STL (robust) removes the detected season; exponential smoothing (statsmodels' ETSModel,
additive errors, ETS(A,A,N) when the trend is significant at 95 %, else ETS(A,N,N)) fits the
rest; its analytical prediction intervals are shifted by the last cycle of the season. The
trend is the OLS slope of the deseasonalised series with a Newey-West (HAC) interval, which
stays honest when neighbouring buckets are correlated.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from perfpilot.forecast.changepoints import ChangePoint, change_points
from perfpilot.forecast.seasonality import Season, detect_season, seasonal_strength

if TYPE_CHECKING:
    import pandas as pd

# statsmodels (and pandas, scipy) are imported by the fits that use them, in the worker
# thread: importing them costs seconds that every `perfpilot` start would otherwise pay

MIN_POINTS = 24  # fewer filled buckets than this: no fit
MAX_POINTS = 1_440  # input bound: callers bucket a period into at most this many points
MAX_HORIZON = 720

Floats = NDArray[np.float64]


class HistoryTooShort(ValueError):
    def __init__(self, have: int, need: int) -> None:
        super().__init__(f"history too short: {have} filled buckets, at least {need} needed")
        self.have = have
        self.need = need


@dataclass(frozen=True, slots=True)
class Trend:
    per_day: float
    interval95: tuple[float, float]
    significant: bool


@dataclass(frozen=True, slots=True)
class Forecast:
    mean: Floats
    lo80: Floats
    hi80: Floats
    lo95: Floats
    hi95: Floats
    # other interval levels asked for (e.g. 0.99 for an anomaly band): level -> (lo, hi)
    extra: dict[float, tuple[Floats, Floats]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Holdout:
    points: int
    mape: float | None  # None when every held-out value is zero
    mae: float
    coverage80: float
    coverage95: float


@dataclass(frozen=True, slots=True)
class Analysis:
    step_seconds: float
    samples: int  # filled buckets the fit used
    gaps: int  # empty buckets filled by interpolation
    model: str
    trend: Trend
    season: Season | None
    change_points: list[ChangePoint]
    forecast: Forecast
    holdout: Holdout | None


def fill_gaps(values: Floats) -> tuple[Floats, int]:
    """Linear interpolation over empty (NaN) buckets; the count of buckets filled."""
    missing = np.isnan(values)
    if not missing.any():
        return values, 0
    x = np.arange(values.size)
    filled = values.copy()
    filled[missing] = np.interp(x[missing], x[~missing], values[~missing])
    return filled, int(missing.sum())


def linear_trend(values: Floats, step_seconds: float) -> Trend:
    """OLS slope per day with a HAC (Newey-West) 95 % interval."""
    import statsmodels.api as sm

    n = values.size
    days = np.arange(n, dtype=np.float64) * step_seconds / 86_400.0
    design = sm.add_constant(days)
    lags = max(1, int(4 * (n / 100.0) ** (2.0 / 9.0)))
    fit = sm.OLS(values, design).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    slope = float(fit.params[1])
    low, high = (float(v) for v in fit.conf_int(alpha=0.05)[1])
    if not (math.isfinite(low) and math.isfinite(high)):  # a constant series
        low = high = slope
    return Trend(slope, (low, high), significant=low > 0 or high < 0)


def _ets_spec(trend: bool) -> str:
    return "ETS(A,A,N)" if trend else "ETS(A,N,N)"


def fit_forecast(
    values: Floats,
    *,
    period: int | None,
    trend: bool,
    steps: int,
    seasonal: Floats | None = None,
    levels: tuple[float, ...] = (),
) -> Forecast:
    """STL (when `period`; `seasonal` when already decomposed) + ETS on the rest; intervals
    from ETS, shifted by the season."""
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    if seasonal is None:
        seasonal = np.zeros(values.size)
        if period is not None:
            _, seasonal = seasonal_strength(values, period)
    adjusted = pd.Series(values - seasonal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the holdout error says how good
        model = ETSModel(adjusted, error="add", trend="add" if trend else None)
        result = model.fit(disp=False)
        prediction = result.get_prediction(start=values.size, end=values.size + steps - 1)
        f80 = prediction.summary_frame(alpha=0.20)
        f95 = prediction.summary_frame(alpha=0.05)
        others = {level: prediction.summary_frame(alpha=1.0 - level) for level in levels}
    if period is not None:
        last = seasonal[values.size - period :]
        ahead = np.array([last[i % period] for i in range(steps)])
    else:
        ahead = np.zeros(steps)

    def col(frame: pd.DataFrame, name: str) -> Floats:
        out: Floats = np.asarray(frame[name], dtype=np.float64) + ahead
        return out

    return Forecast(
        mean=col(f80, "mean"),
        lo80=col(f80, "pi_lower"),
        hi80=col(f80, "pi_upper"),
        lo95=col(f95, "pi_lower"),
        hi95=col(f95, "pi_upper"),
        extra={
            level: (col(frame, "pi_lower"), col(frame, "pi_upper"))
            for level, frame in others.items()
        },
    )


def _holdout(values: Floats, *, period: int | None, trend: bool, points: int) -> Holdout | None:
    train = values[:-points]
    if train.size < MIN_POINTS or (period is not None and train.size < 2 * period):
        return None
    f = fit_forecast(train, period=period, trend=trend, steps=points)
    actual = values[-points:]
    errors = np.abs(actual - f.mean)
    nonzero = np.abs(actual) > 1e-12
    mape = float(np.mean(errors[nonzero] / np.abs(actual[nonzero]))) if nonzero.any() else None
    return Holdout(
        points=points,
        mape=mape,
        mae=float(np.mean(errors)),
        coverage80=float(np.mean((actual >= f.lo80) & (actual <= f.hi80))),
        coverage95=float(np.mean((actual >= f.lo95) & (actual <= f.hi95))),
    )


def analyse(
    raw: Floats, *, step_seconds: float, horizon_steps: int, levels: tuple[float, ...] = ()
) -> Analysis:
    """Everything GET /trends reports about one bucketed series (NaN = empty bucket)."""
    if raw.size > MAX_POINTS:
        raise ValueError(f"at most {MAX_POINTS} points")
    if not 1 <= horizon_steps <= MAX_HORIZON:
        raise ValueError(f"horizon must be 1..{MAX_HORIZON} steps")
    filled_count = int(np.count_nonzero(~np.isnan(raw)))
    if filled_count < MIN_POINTS:
        raise HistoryTooShort(filled_count, MIN_POINTS)
    # leading/trailing empty buckets are outside the history, not gaps in it
    present = np.flatnonzero(~np.isnan(raw))
    values, gaps = fill_gaps(raw[present[0] : present[-1] + 1])
    season, seasonal = detect_season(values, step_seconds)
    deseasoned = values - seasonal if seasonal is not None else values
    trend = linear_trend(deseasoned, step_seconds)
    x = np.arange(values.size, dtype=np.float64)
    line = np.polyval(np.polyfit(x, deseasoned, 1), x)
    shifts = change_points(deseasoned - line)
    bounds = [0, *(c.index for c in shifts), values.size]
    segment_means = [float(np.mean(deseasoned[a:b])) for a, b in itertools.pairwise(bounds)]
    shifts = [
        ChangePoint(c.index, segment_means[i], segment_means[i + 1]) for i, c in enumerate(shifts)
    ]
    period = season.period_steps if season is not None else None
    forecast = fit_forecast(
        values,
        period=period,
        trend=trend.significant,
        steps=horizon_steps,
        seasonal=seasonal,
        levels=levels,
    )
    held = _holdout(
        values,
        period=period,
        trend=trend.significant,
        points=max(1, min(horizon_steps, values.size // 5)),
    )
    model = _ets_spec(trend.significant)
    if season is not None:
        model = f"STL(period={season.period_steps} buckets, robust) + {model}"
    return Analysis(
        step_seconds=step_seconds,
        samples=filled_count,
        gaps=gaps,
        model=model,
        trend=trend,
        season=season,
        change_points=shifts,
        forecast=forecast,
        holdout=held,
    )
