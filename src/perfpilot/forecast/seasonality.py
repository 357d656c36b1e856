"""Seasonality found in the data: the autocorrelation's strongest repeating lag, measured
by STL's seasonal strength. Pure: numbers in, numbers out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

DAY = 86_400.0
WEEK = 7 * DAY
MIN_LAG = 3  # STL needs a period of at least 2; 3 buckets is the shortest cycle we name
MIN_ACF = 0.3  # a repeating lag weaker than this is not called a season
MIN_STRENGTH = 0.3  # nor is one whose STL seasonal strength is below this

Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Season:
    period_steps: int
    period_seconds: float
    strength: float  # STL: max(0, 1 - var(remainder) / var(seasonal + remainder))
    autocorrelation: float
    kind: str  # daily | weekly | cycle


def _kind(seconds: float) -> str:
    for name, length in (("daily", DAY), ("weekly", WEEK)):
        if abs(seconds - length) <= 0.05 * length:
            return name
    return "cycle"


def detrended(values: Floats) -> Floats:
    x = np.arange(values.size, dtype=np.float64)
    slope, intercept = np.polyfit(x, values, 1)
    out: Floats = values - (slope * x + intercept)
    return out


def candidate_lags(values: Floats) -> list[tuple[int, float]]:
    """Local maxima of the autocorrelation of the detrended series (lag, acf), strongest
    first, up to half the series (so that at least two cycles are in the data)."""
    from statsmodels.tsa.stattools import acf  # (lazy: see model.py)

    n = values.size
    max_lag = n // 2
    if max_lag <= MIN_LAG + 1 or float(np.std(values)) == 0.0:
        return []
    r = acf(detrended(values), nlags=max_lag, fft=True)
    # a smooth series stays correlated at short lags, and noise puts small bumps on that
    # decay: a season's peak only counts after the autocorrelation has first fallen away
    # (below zero, or else to its first trough)
    below = np.flatnonzero(r[1:] < 0)
    if below.size:
        first = int(below[0]) + 1
    else:
        troughs = [k for k in range(1, max_lag) if r[k] <= r[k - 1] and r[k] < r[k + 1]]
        first = troughs[0] if troughs else max_lag
    out = [
        (_refined(r, lag), float(r[lag]))
        for lag in range(max(MIN_LAG, first), max_lag)
        if r[lag] >= MIN_ACF and r[lag] > r[lag - 1] and r[lag] >= r[lag + 1]
    ]
    return sorted(out, key=lambda item: -item[1])


def _refined(r: Floats, lag: int) -> int:
    """The lag near a peak whose multiples repeat best: noise moves a single peak by a
    bucket, but a wrong period drifts further out of phase at every multiple."""
    top = r.size - 1
    hi = min(top, lag + 2)
    count = max(1, top // hi)  # the same number of multiples for every candidate

    def score(k: int) -> float:
        return float(np.mean([r[m * k] for m in range(1, count + 1)]))

    near = list(range(max(MIN_LAG, lag - 2), hi + 1))
    return max(near, key=score)


def seasonal_strength(values: Floats, period: int) -> tuple[float, Floats]:
    """STL's strength of seasonality, and the season as one profile repeated: STL's seasonal
    component averaged per phase over every cycle, so that neither the forecast nor the
    remainder's variance (hence the interval width) depends on one cycle's noise."""
    from statsmodels.tsa.seasonal import STL  # (lazy: see model.py)

    fit = STL(values, period=period, robust=True).fit()
    seasonal = np.asarray(fit.seasonal, dtype=np.float64)
    remainder = np.asarray(fit.resid, dtype=np.float64)
    total = float(np.var(seasonal + remainder))
    strength = 0.0 if total == 0 else max(0.0, 1.0 - float(np.var(remainder)) / total)
    profile = np.array([seasonal[j::period].mean() for j in range(period)])
    profile -= profile.mean()
    repeated: Floats = np.resize(profile, values.size)
    return strength, repeated


def detect_season(values: Floats, step_seconds: float) -> tuple[Season | None, Floats | None]:
    """The primary season (the shortest lag whose autocorrelation is within 10 % of the
    strongest, so that a multiple of the true period is not taken for it), with its seasonal
    component; None when no lag repeats strongly enough."""
    lags = candidate_lags(values)
    if not lags:
        return None, None
    best = lags[0][1]
    lag, r = min((item for item in lags if item[1] >= 0.9 * best), key=lambda item: item[0])
    strength, seasonal = seasonal_strength(values, lag)
    if strength < MIN_STRENGTH:
        return None, None
    seconds = lag * step_seconds
    return Season(lag, seconds, strength, r, _kind(seconds)), seasonal
