"""Window arithmetic over any finite values: nothing raises, nothing comes out non-finite.

Ingestion bounds values to |v| <= 1e15 (DESIGN §9), but the engine must stay safe over what
older versions stored (1.7e308 made every avg evaluation raise OverflowError in fsum)."""

from __future__ import annotations

import math
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfpilot.engine.windows import (
    AGGREGATIONS,
    SlidingWindow,
    percentile_cont,
    safe_mean,
    safe_sum,
)

FLOAT_MAX = sys.float_info.max
finite = st.floats(allow_nan=False, allow_infinity=False)


def exact(values: list[float]) -> float:
    """The true sum as a rational-exact value, rounded once (reference for the sum)."""
    from fractions import Fraction

    total = sum((Fraction(v) for v in values), Fraction(0))
    try:
        return float(total)
    except OverflowError:
        return math.inf if total > 0 else -math.inf


def within(value: float, values: list[float]) -> bool:
    """min <= value <= max, give or take the rounding of a mean (a few ulps)."""
    low, high = min(values), max(values)
    slack = 4 * math.ulp(max(abs(low), abs(high)))
    return low - slack <= value <= high + slack


def test_huge_values_reported_in_the_issue() -> None:
    window = SlidingWindow(300)
    window.add(1.0, 1.7e308)
    window.add(2.0, 1.7e308)
    assert window.aggregate("avg", window=300, now=2) == 1.7e308
    assert window.aggregate("sum", window=300, now=2) == FLOAT_MAX  # saturates
    assert window.aggregate("p50", window=300, now=2) == 1.7e308
    window.add(3.0, 10.0)
    assert math.isclose(window.aggregate("avg", window=300, now=3), 1.7e308 / 3 * 2)


def test_percentile_between_opposite_extremes() -> None:
    assert percentile_cont([-1.7e308, 1.7e308], 0.5) == 0.0
    assert percentile_cont([-FLOAT_MAX, FLOAT_MAX], 0.99) == pytest.approx(0.98 * FLOAT_MAX)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_never_enter_a_window(value: float) -> None:
    window = SlidingWindow(60)
    with pytest.raises(ValueError, match="finite"):
        window.add(1.0, value)
    assert len(window) == 0


def test_prefix_sums_come_back_once_the_huge_values_are_compacted_away() -> None:
    window = SlidingWindow(10)
    window.add(0.0, 1.7e308)
    window.add(0.5, 1.7e308)
    for i in range(1, 400):
        window.add(float(i), 1.0)  # the huge points age out; compaction rebuilds the sums
    assert window.aggregate("sum", window=5, now=399) == 5.0  # (394, 399]: 5 points
    assert window.aggregate("avg", window=100, now=399) == 1.0  # every point kept
    assert not window._wide  # back on the O(1) prefix-sum path


@settings(max_examples=300, deadline=None)
@given(values=st.lists(finite, min_size=1, max_size=200))
def test_sum_and_mean_of_any_finite_values(values: list[float]) -> None:
    true_sum = exact(values)
    got = safe_sum(values)
    assert math.isfinite(got)
    if math.isfinite(true_sum):
        assert got == true_sum  # correctly rounded, like fsum
    else:
        assert got == math.copysign(FLOAT_MAX, true_sum)
    mean = safe_mean(values)
    assert math.isfinite(mean)
    assert within(mean, values)


@settings(max_examples=200, deadline=None)
@given(
    points=st.lists(st.tuples(st.integers(0, 120).map(float), finite), min_size=1, max_size=150),
    window=st.sampled_from([1.0, 30.0, 60.0, 1000.0]),
    now=st.integers(0, 130).map(float),
)
def test_no_aggregate_raises_or_leaves_the_finite_range(
    points: list[tuple[float, float]], window: float, now: float
) -> None:
    sliding = SlidingWindow(60)
    for ts, value in points:
        sliding.add(ts, value)
    inside = [v for ts, v in sliding.points() if now - window < ts <= now]
    for kind in sorted(AGGREGATIONS):
        got = sliding.aggregate(kind, window=window, now=now)
        if not inside:
            assert got == (0.0 if kind == "count" else None)
            continue
        assert got is not None and math.isfinite(got), kind
        if kind not in ("sum", "count"):
            assert within(got, inside), kind
