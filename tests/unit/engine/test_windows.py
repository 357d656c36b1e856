"""Sliding windows: bounds, every aggregation, eviction, and a brute-force reference."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfpilot.engine.windows import AGGREGATIONS, PERCENTILES, SlidingWindow, percentile_cont


def make(
    points: list[tuple[float, float]], horizon: float = math.inf, cap: int = 100_000
) -> SlidingWindow:
    window = SlidingWindow(horizon, cap=cap)
    for ts, value in points:
        window.add(ts, value)
    return window


def reference(
    kind: str, points: list[tuple[float, float]], window: float, now: float
) -> float | None:
    """Brute force over (now - window, now]; 'last' is the newest, ties to the last added."""
    inside = [(ts, v) for ts, v in points if now - window < ts <= now]
    values = [v for _, v in inside]
    if kind == "count":
        return float(len(values))
    if not values:
        return None
    if kind == "last":
        newest = max(ts for ts, _ in inside)
        return [v for ts, v in inside if ts == newest][-1]
    if kind == "sum":
        return math.fsum(values)
    if kind == "avg":
        return math.fsum(values) / len(values)
    if kind == "min":
        return min(values)
    if kind == "max":
        return max(values)
    # percentile_cont written out independently: floor/ceil ranks, linear interpolation.
    ordered = sorted(values)
    pos = PERCENTILES[kind] * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (pos - lo) * (ordered[hi] - ordered[lo])


TEN = [(float(i), float(10 * (i + 1))) for i in range(10)]  # values 10, 20, ..., 100


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("last", 100.0),
        ("avg", 55.0),
        ("min", 10.0),
        ("max", 100.0),
        ("sum", 550.0),
        ("count", 10.0),
        ("p50", 55.0),  # pos 4.5: 50 + 0.5 * 10
        ("p90", 91.0),  # pos 8.1: 90 + 0.1 * 10
        ("p95", 95.5),  # pos 8.55
        ("p99", 99.1),  # pos 8.91
    ],
)
def test_every_aggregation_against_hand_computed_values(kind: str, expected: float) -> None:
    got = make(TEN).aggregate(kind, window=60, now=9)
    assert got == pytest.approx(expected, rel=1e-12)


def test_percentile_cont_is_postgres_interpolation() -> None:
    assert percentile_cont([1.0, 2.0], 0.5) == 1.5
    assert percentile_cont([1.0, 2.0], 0.9) == 1.9
    assert percentile_cont([7.0], 0.99) == 7.0
    assert percentile_cont([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0  # exact rank, no lerp
    assert percentile_cont([3.0, 3.0, 100.0], 0.5) == 3.0


def test_percentiles_unsorted_input_and_statistics_reference() -> None:
    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0]
    window = make([(float(i), v) for i, v in enumerate(values)])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    for kind, q in PERCENTILES.items():
        assert window.aggregate(kind, window=100, now=10) == pytest.approx(
            cuts[round(q * 100) - 1], rel=1e-12
        )
    assert window.aggregate("p50", window=100, now=10) == statistics.median(values)


def test_window_bounds_exclude_the_oldest_edge_and_the_future() -> None:
    window = make([(100.0, 1.0), (110.0, 2.0), (120.0, 4.0), (130.0, 8.0)])
    # (110, 120]: 110 is exactly `window` old, so out; 130 is after now, so out.
    assert window.aggregate("count", window=10, now=120) == 1.0
    assert window.aggregate("sum", window=10, now=120) == 4.0
    assert window.aggregate("sum", window=10.5, now=120) == 6.0
    assert window.aggregate("last", window=10, now=125) == 4.0
    assert window.aggregate("last", window=5, now=126) is None
    assert window.aggregate("max", window=1000, now=99) is None


@pytest.mark.parametrize("kind", sorted(AGGREGATIONS))
def test_empty_window_is_none_except_count(kind: str) -> None:
    for window in (SlidingWindow(60), make([(0.0, 1.0)])):
        got = window.aggregate(kind, window=10, now=500)
        assert got == (0.0 if kind == "count" else None)


def test_unknown_aggregation_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown aggregation"):
        make(TEN).aggregate("median", window=60, now=9)
    with pytest.raises(ValueError, match="unknown aggregation"):
        SlidingWindow(1).aggregate("median", window=60, now=9)


def test_equal_timestamps_last_is_the_last_added() -> None:
    window = make([(5.0, 1.0), (5.0, 2.0), (4.0, 9.0), (5.0, 3.0)])
    assert window.aggregate("last", window=10, now=5) == 3.0
    assert window.latest_ts == 5.0
    assert window.latest_value == 3.0
    assert window.points() == [(4.0, 9.0), (5.0, 1.0), (5.0, 2.0), (5.0, 3.0)]


def test_out_of_order_points_are_kept_sorted_and_summed() -> None:
    window = make([(10.0, 1.0), (30.0, 3.0), (20.0, 2.0), (25.0, 2.5)])
    assert [ts for ts, _ in window.points()] == [10.0, 20.0, 25.0, 30.0]
    assert window.aggregate("sum", window=100, now=30) == 8.5
    assert window.aggregate("last", window=100, now=26) == 2.5


def test_horizon_evicts_old_points_but_never_the_newest() -> None:
    window = make([(float(t), 1.0) for t in range(100)], horizon=10)
    assert window.points()[0][0] == 89.0  # 99 - 10 is kept: eviction is strictly older
    assert len(window) == 11
    zero = make([(1.0, 1.0), (2.0, 2.0), (2.0, 3.0)], horizon=0)
    assert zero.points() == [(2.0, 2.0), (2.0, 3.0)]


def test_cap_keeps_only_the_newest_points() -> None:
    window = make([(float(t), float(t)) for t in range(1000)], cap=50)
    assert len(window) == 50
    assert window.points()[0] == (950.0, 950.0)
    assert window.aggregate("count", window=10_000, now=999) == 50.0


def test_long_run_with_compaction_matches_reference() -> None:
    points = [(t * 0.5, float((t * 37) % 101)) for t in range(5000)]
    window = make(points, horizon=120)
    for kind in sorted(AGGREGATIONS):
        got = window.aggregate(kind, window=120, now=2499.5)
        assert got == pytest.approx(reference(kind, points, 120, 2499.5), rel=1e-9)


def test_invalid_construction() -> None:
    with pytest.raises(ValueError):
        SlidingWindow(-1)
    with pytest.raises(ValueError):
        SlidingWindow(1, cap=0)


points_strategy = st.lists(
    st.tuples(
        st.integers(0, 60).map(float),
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=200,
)


def assert_matches(kind: str, got: float | None, want: float | None, scale: float) -> None:
    if want is None or got is None:
        assert got == want
    elif kind in ("sum", "avg"):
        # Prefix sums round differently from fsum; the error is bounded by the magnitudes.
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9 * scale + 1e-9)
    elif kind.startswith("p"):
        assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-9)
    else:
        assert got == want


@settings(max_examples=200, deadline=None)
@given(
    points=points_strategy,
    horizon=st.integers(0, 70).map(float),
    window=st.integers(1, 70).map(float),
    ahead=st.sampled_from([0.0, 0.5, 5.0, 30.0]),
)
def test_aggregates_match_brute_force(
    points: list[tuple[float, float]], horizon: float, window: float, ahead: float
) -> None:
    # Points arrive in any order. Queries at or after the newest point with window <= horizon
    # see exactly what brute force over every point ever added sees; wider windows see the
    # points the horizon kept.
    sliding = make(points, horizon=horizon)
    newest = max(ts for ts, _ in points)
    now = newest + ahead
    basis = points if window <= horizon else [p for p in points if p[0] >= newest - horizon]
    scale = math.fsum(abs(v) for _, v in points)
    for kind in sorted(AGGREGATIONS):
        got = sliding.aggregate(kind, window=window, now=now)
        assert_matches(kind, got, reference(kind, basis, window, now), scale)


@settings(max_examples=200, deadline=None)
@given(points=points_strategy, window=st.integers(1, 70).map(float), now=st.integers(-5, 70))
def test_unbounded_window_matches_brute_force_at_any_time(
    points: list[tuple[float, float]], window: float, now: int
) -> None:
    sliding = make(points)
    scale = math.fsum(abs(v) for _, v in points)
    for kind in sorted(AGGREGATIONS):
        got = sliding.aggregate(kind, window=window, now=float(now))
        assert_matches(kind, got, reference(kind, points, window, float(now)), scale)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(0, 1e4, allow_nan=False), min_size=2, max_size=80))
def test_percentiles_match_statistics_quantiles(values: list[float]) -> None:
    sliding = make([(0.0, v) for v in values])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    for kind, q in PERCENTILES.items():
        got = sliding.aggregate(kind, window=1, now=0)
        assert got is not None
        assert math.isclose(got, cuts[round(q * 100) - 1], rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.integers(0, 150).map(float), st.integers(-50, 50)),
            st.tuples(st.just("query"), st.sampled_from([5.0, 40.0, 60.0]), st.integers(-30, 30)),
        ),
        min_size=150,  # enough points for the sorted views (>= 32 in a window) and compaction
        max_size=400,
    ),
    horizon=st.sampled_from([0.0, 40.0, 60.0, 1000.0]),
)
def test_interleaved_inserts_and_queries_match_brute_force(
    ops: list[tuple[str, float, int]], horizon: float
) -> None:
    # Exercises what a series lives through: late points, eviction, compaction, and the
    # sorted views of large windows moving forwards and backwards between queries.
    sliding = SlidingWindow(horizon)
    added: list[tuple[float, float]] = []
    for op, a, b in ops:
        if op == "add":
            sliding.add(a, float(b))
            added.append((a, float(b)))
            continue
        if not added:
            continue
        newest = max(ts for ts, _ in added)
        kept = [p for p in added if p[0] >= newest - horizon]
        now = newest + b
        scale = math.fsum(abs(v) for _, v in added)
        for kind in sorted(AGGREGATIONS):
            got = sliding.aggregate(kind, window=a, now=now)
            assert_matches(kind, got, reference(kind, kept, a, now), scale)
