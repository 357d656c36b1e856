"""Forecasts on synthetic series whose truth is known: the season is found, the trend's
interval holds the true slope, the 80 %/95 % intervals cover new values at about those rates,
level shifts are located."""

from __future__ import annotations

import math

import numpy as np
import pytest

from perfpilot.forecast.changepoints import change_points
from perfpilot.forecast.model import HistoryTooShort, analyse
from perfpilot.forecast.seasonality import detect_season

STEP = 300.0  # 5-minute buckets
PERIOD = 48  # a 4-hour cycle
SLOPE = 0.02  # per bucket -> 5.76 per day
HORIZON = 48


def synthetic(seed: int, n: int, *, slope: float = SLOPE, amplitude: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    return 10 + slope * t + amplitude * np.sin(2 * np.pi * t / PERIOD) + rng.normal(0, 1, n)


def test_intervals_cover_new_values_at_about_the_stated_rate() -> None:
    hits80, hits95, total = 0, 0, 0
    for seed in range(6):
        y = synthetic(seed, 480 + HORIZON)
        a = analyse(y[:480], step_seconds=STEP, horizon_steps=HORIZON)
        actual = y[480:]
        f = a.forecast
        hits80 += int(np.sum((actual >= f.lo80) & (actual <= f.hi80)))
        hits95 += int(np.sum((actual >= f.lo95) & (actual <= f.hi95)))
        total += actual.size
        assert np.all(f.lo95 <= f.lo80) and np.all(f.lo80 <= f.mean)
        assert np.all(f.mean <= f.hi80) and np.all(f.hi80 <= f.hi95)
    # 288 points; binomial sd at 80 % is 2.4 points of percentage: a tolerance of ~4 sd
    assert 0.70 <= hits80 / total <= 0.90, hits80 / total
    assert 0.88 <= hits95 / total <= 0.995, hits95 / total


def test_seasonal_period_is_detected() -> None:
    for seed in range(4):
        season, _ = detect_season(synthetic(seed, 480), STEP)
        assert season is not None
        assert season.period_steps == PERIOD
        assert season.period_seconds == PERIOD * STEP
        assert season.kind == "cycle" and season.strength > 0.6


def test_daily_season_is_named_daily() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(24 * 10, dtype=np.float64)  # ten days of hourly buckets
    y = 50 + 20 * np.cos(2 * np.pi * t / 24) + rng.normal(0, 2, t.size)
    season, _ = detect_season(y, 3600.0)
    assert season is not None and season.kind == "daily" and season.period_seconds == 86_400


def test_trend_slope_is_recovered_within_its_interval() -> None:
    true_per_day = SLOPE * 86_400 / STEP
    inside = 0
    for seed in range(6):
        a = analyse(synthetic(seed, 480), step_seconds=STEP, horizon_steps=12)
        low, high = a.trend.interval95
        inside += low <= true_per_day <= high
        assert a.trend.significant
        assert a.trend.per_day == pytest.approx(true_per_day, rel=0.15)
    assert inside >= 5  # a 95 % interval may miss once in six


def test_flat_noise_has_no_significant_trend_and_no_season() -> None:
    rng = np.random.default_rng(11)
    a = analyse(rng.normal(100, 5, 400), step_seconds=60.0, horizon_steps=10)
    assert a.season is None
    assert "STL" not in a.model and a.model == "ETS(A,N,N)"
    assert a.holdout is not None and a.holdout.mape is not None and a.holdout.mape < 0.1


def test_level_shift_is_located() -> None:
    rng = np.random.default_rng(5)
    y = np.concatenate([rng.normal(10, 1, 200), rng.normal(16, 1, 200)])
    [shift] = change_points(y)
    assert abs(shift.index - 200) <= 3
    assert shift.before == pytest.approx(10, abs=0.5) and shift.after == pytest.approx(16, abs=0.5)
    assert change_points(rng.normal(10, 1, 400)) == []


def test_gaps_are_interpolated_and_counted() -> None:
    y = synthetic(3, 300)
    y[100:110] = math.nan
    a = analyse(y, step_seconds=STEP, horizon_steps=5)
    assert a.gaps == 10 and a.samples == 290


def test_too_short_a_history_says_how_much_is_missing() -> None:
    with pytest.raises(HistoryTooShort) as err:
        analyse(np.array([1.0] * 10 + [math.nan] * 50), step_seconds=60, horizon_steps=5)
    assert (err.value.have, err.value.need) == (10, 24)
