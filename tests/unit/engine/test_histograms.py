"""Histogram windows: merged buckets and `histogram_quantile` percentiles, checked against a
direct computation on the distribution the buckets describe, and driven through the engine."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from perfpilot.engine.core import EvaluationCore
from perfpilot.engine.histograms import (
    Histogram,
    HistogramWindow,
    histogram_aggregate,
    merge,
    quantile,
)
from perfpilot.engine.state_machine import RuleSpec
from perfpilot.engine.windows import PERCENTILES, Sample


def hist(bounds: Sequence[float], counts: Sequence[int], total: float = 0.0) -> Histogram:
    return Histogram(tuple(bounds), tuple(counts), total, sum(counts))


# --- the reference: the distribution itself ---------------------------------------------------


def cdf(histograms: Sequence[Histogram], x: float) -> float:
    """Observations <= x in the distribution the buckets describe: uniform inside each finite
    bucket (the first from 0), the +Inf bucket at the highest finite bound of them all."""
    top = max(h.bounds[-1] for h in histograms)
    below = 0.0
    for h in histograms:
        for i, n in enumerate(h.counts):
            if i == len(h.bounds):
                below += n if x >= top else 0
                continue
            lo, hi = (h.bounds[i - 1] if i else 0.0), h.bounds[i]
            below += n * min(max((x - lo) / (hi - lo), 0.0), 1.0)
    return below


def reference_quantile(q: float, histograms: Sequence[Histogram]) -> float:
    """The least x with cdf(x) >= q * total, by bisection (no bucket arithmetic at all)."""
    rank = q * sum(h.count for h in histograms)
    lo, hi = 0.0, max(h.bounds[-1] for h in histograms)
    for _ in range(100):  # halves [0, top] to below float resolution
        mid = (lo + hi) / 2
        if cdf(histograms, mid) >= rank:
            hi = mid
        else:
            lo = mid
    return hi


positive_bounds = st.lists(
    st.floats(min_value=0.001, max_value=1e6, allow_nan=False), min_size=1, max_size=12, unique=True
).map(sorted)


@st.composite
def histograms_on(draw: st.DrawFn, bounds: Sequence[float], *, inf: bool = True) -> Histogram:
    counts = draw(st.lists(st.integers(0, 1000), min_size=len(bounds), max_size=len(bounds)))
    counts.append(draw(st.integers(0, 1000)) if inf else 0)
    return hist(bounds, counts)


@st.composite
def same_layout(draw: st.DrawFn) -> list[Histogram]:
    bounds = draw(positive_bounds)
    return draw(st.lists(histograms_on(bounds), min_size=1, max_size=8))


@st.composite
def mixed_layouts(draw: st.DrawFn) -> list[Histogram]:
    layouts = draw(st.lists(positive_bounds, min_size=2, max_size=4))
    return [draw(histograms_on(b, inf=False)) for b in layouts]


quantiles = st.sampled_from([*PERCENTILES.values(), 0.001, 0.25, 0.75, 1.0]) | st.floats(0.01, 1.0)


@settings(deadline=None)  # the bisection reference is slow on a loaded machine
@given(same_layout(), quantiles)
def test_merged_percentile_is_the_distributions_own(histograms: list[Histogram], q: float) -> None:
    assume(sum(h.count for h in histograms) > 0)
    bounds, counts = merge(histograms)
    found = quantile(q, bounds, counts)
    assert found is not None
    expected = reference_quantile(q, histograms)
    assert found == pytest.approx(expected, rel=1e-9, abs=1e-9 * bounds[-1])


@settings(deadline=None)
@given(mixed_layouts(), quantiles)
def test_layouts_that_differ_merge_into_the_sum_of_their_distributions(
    histograms: list[Histogram], q: float
) -> None:
    total = sum(h.count for h in histograms)
    assume(total > 0)
    bounds, counts = merge(histograms)
    assert sum(counts) == pytest.approx(total)
    found = quantile(q, bounds, counts)
    assert found is not None
    expected = reference_quantile(q, histograms)
    # Fractional counts carry rounding: where the distribution is flat (empty buckets) any
    # point of the flat stretch answers the rank, so compare where the CDF puts them.
    scale = max(h.bounds[-1] for h in histograms)
    close = math.isclose(found, expected, rel_tol=1e-7, abs_tol=1e-9 * scale)
    assert close or cdf(histograms, found) == pytest.approx(cdf(histograms, expected), rel=1e-7)


def test_prometheus_examples() -> None:
    # 100 requests: 10 under 100 ms, 80 in (100, 200], 10 in (200, 400]
    bounds, counts = (100.0, 200.0, 400.0), [10, 80, 10, 0]
    assert quantile(0.95, bounds, counts) == 300.0  # rank 95: 5 of the 10 in (200, 400]
    assert quantile(0.5, bounds, counts) == 150.0  # rank 50: 40 of 80 in (100, 200]
    assert quantile(0.05, bounds, counts) == 50.0  # the first bucket starts at 0
    assert quantile(0.99, bounds, [10, 80, 5, 5]) == 400.0  # in +Inf: the highest bound
    assert quantile(0.5, (-1.0, 5.0), [3, 1, 0]) == -1.0  # first bound <= 0: the bound itself
    assert quantile(0.5, bounds, [0, 0, 0, 0]) is None


def test_window_aggregates_of_histograms() -> None:
    a = Histogram((100.0, 200.0), (5, 5, 0), 1000.0, 10)
    b = Histogram((100.0, 200.0), (0, 10, 0), 1500.0, 10)
    assert histogram_aggregate("avg", [a, b]) == 2500.0 / 20
    assert histogram_aggregate("count", [a, b]) == 20.0
    assert histogram_aggregate("sum", [a, b]) == 2500.0
    # merged: 5 under 100, 15 in (100, 200]; rank 10 is the 5th of those 15
    assert histogram_aggregate("p50", [a, b]) == pytest.approx(100.0 + 100.0 * 5 / 15)
    assert histogram_aggregate("min", [a, b]) == 0.0
    assert histogram_aggregate("max", [a, b]) == 200.0
    assert histogram_aggregate("last", [a, b]) == 150.0
    assert histogram_aggregate("count", []) == 0.0
    assert histogram_aggregate("p95", [Histogram((1.0,), (0, 0), 0.0, 0)]) is None


def test_window_keeps_its_horizon_and_selects_half_open_intervals() -> None:
    window = HistogramWindow(60.0)
    for ts in range(0, 200, 10):
        window.add(float(ts), hist([1.0], [ts, 0]))
    assert len(window) == 7  # 130..190: older than 60 s before the newest are gone
    assert [h.counts[0] for h in window.between(30.0, 190.0)] == [170, 180, 190]
    window.add(175.0, hist([1.0], [1, 0]))  # late: in time order
    assert [h.counts[0] for h in window.between(20.0, 190.0)] == [1, 180, 190]


def test_a_p95_rule_over_histograms_fires_on_the_requests_not_on_the_mean() -> None:
    """Most requests are fast, 10 % take about 2 s: the mean is far below 1 s, the p95 is not."""
    core = EvaluationCore()
    core.upsert_rule(
        RuleSpec(
            rule_id="r1",
            name="p95 latency",
            service_name="chat",
            metric="latency",
            operator="gt",
            threshold=1000.0,
            aggregation="p95",
            window=60.0,
        )
    )
    bounds = (100.0, 500.0, 1000.0, 2500.0)
    fired = []
    for ts in (10.0, 20.0, 30.0):
        interval = Histogram(bounds, (90, 0, 0, 10, 0), 90 * 50.0 + 10 * 2000.0, 100)
        assert interval.mean is not None and interval.mean < 1000.0
        sample = Sample("chat", "latency", interval.mean, ts, histogram=interval)
        fired += core.evaluate_sample(sample)
    transition = next(t for t in fired if t.kind.value == "fired")
    # rank 95 of 100: 5 of the 10 in (1000, 2500] -> 1750 ms (the same in every window here)
    assert transition.value == 1750.0
    assert all(t.value == 1750.0 for t in fired)
    # the same window over the means never crosses 1000 ms
    core.upsert_rule(replace(core.rules()[0], aggregation="avg"))
    assert core.series("chat", "latency") is not None
    avg = core.tick(30.0)
    assert all(t.value is not None and t.value < 1000.0 for t in avg)
