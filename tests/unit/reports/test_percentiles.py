"""The banded percentile plan gives exactly percentile_cont, whatever the probe sample says."""

from __future__ import annotations

import random
from bisect import bisect_left

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfpilot.engine.windows import percentile_cont
from perfpilot.reports.percentiles import (
    FULL_BAND,
    FULL_SORT_MAX_ROWS,
    QUANTILES,
    Band,
    RankPlan,
    choose_bands,
    full_plan,
    interpolate,
    plan_ranks,
    rank_target,
)


def below_for(values: list[float], bands: list[Band]) -> list[int]:
    """What the SQL FILTER counts return: how many values lie below each band."""
    ordered = sorted(values)
    return [0 if b.low is None else bisect_left(ordered, b.low) for b in bands]


def in_bands(values: list[float], plan: RankPlan) -> list[list[float]]:
    return [
        sorted(
            v for v in values if (b.low is None or v >= b.low) and (b.high is None or v <= b.high)
        )
        for b in plan.bands
    ]


def run_plan(values: list[float], plan: RankPlan) -> list[float] | None:
    """What ranked_values + interpolate compute; None when a rank is not in its band."""
    banded = in_bands(values, plan)
    n = len(values)
    out = []
    for q, lk in zip(QUANTILES, plan.lookups, strict=True):
        if lk.second >= len(banded[lk.band]):
            return None
        out.append(
            interpolate(rank_target(q, n), banded[lk.band][lk.first], banded[lk.band][lk.second])
        )
    return out


def exact(values: list[float], bands: list[Band]) -> tuple[list[float], RankPlan]:
    """The service's procedure: banded plan, the full ranking when a rank is missing."""
    n = len(values)
    targets = [rank_target(q, n) for q in QUANTILES]
    plan = plan_ranks(n, targets, bands, below_for(values, bands))
    result = run_plan(values, plan)
    if result is None:
        plan = full_plan(targets)
        result = run_plan(values, plan)
    assert result is not None
    return result, plan


def test_definition_matches_postgresql_examples() -> None:
    assert percentile_cont([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile_cont([5.0], 0.99) == 5.0
    assert percentile_cont([10.0, 20.0], 0.95) == 10 + 0.95 * 10
    target = rank_target(0.95, 20)
    assert (target.first, target.second) == (18, 19)
    assert target.proportion == 0.95 * 19 - 18


@given(st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=200))
def test_rank_arithmetic_agrees_with_the_engine(values: list[float]) -> None:
    ordered = sorted(values)
    for q in QUANTILES:
        target = rank_target(q, len(ordered))
        picked = interpolate(target, ordered[target.first], ordered[target.second])
        assert picked == percentile_cont(ordered, q)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(FULL_SORT_MAX_ROWS + 1, FULL_SORT_MAX_ROWS + 3000),
    seed=st.integers(0, 2**32 - 1),
    distinct=st.integers(1, 50_000),
    sample_size=st.integers(0, 3000),
    skew=st.booleans(),
)
def test_banded_plan_is_exact(
    n: int, seed: int, distinct: int, sample_size: int, skew: bool
) -> None:
    rng = random.Random(seed)
    values = [float(rng.randrange(distinct)) for _ in range(n)]
    # the probe sample: representative, or skewed towards large values (a misleading probe)
    pool = sorted(values)[n // 2 :] if skew else values
    sample = sorted(rng.choice(pool) for _ in range(sample_size))
    result, plan = exact(values, choose_bands(sample))
    ordered = sorted(values)
    assert result == [percentile_cont(ordered, q) for q in QUANTILES]
    # disjoint bands
    for a, b in zip(plan.bands, plan.bands[1:], strict=False):
        assert a.high is not None and b.low is not None and a.high < b.low


def test_a_good_sample_avoids_the_full_sort() -> None:
    rng = random.Random(7)
    values = [rng.gauss(1000, 200) for _ in range(100_000)]
    sample = sorted(rng.sample(values, 2000))
    result, plan = exact(values, choose_bands(sample))
    assert not plan.full_sort
    assert result == [percentile_cont(sorted(values), q) for q in QUANTILES]
    # only a few percent of the values are sorted
    assert sum(map(len, in_bands(values, plan))) < 0.2 * len(values)


@pytest.mark.parametrize("n", [1, 2, FULL_SORT_MAX_ROWS])
def test_small_inputs_use_the_full_sort(n: int) -> None:
    targets = [rank_target(q, n) for q in QUANTILES]
    plan = plan_ranks(n, targets, [Band(0.0, 1.0)] * 3, [0, 0, 0])
    assert plan.bands == [FULL_BAND] and plan.full_sort


def test_a_band_that_misses_its_rank_falls_back() -> None:
    n = 50_000
    targets = [rank_target(q, n) for q in QUANTILES]
    bands = [Band(1.0, 2.0), Band(3.0, 4.0), Band(5.0, 6.0)]
    assert plan_ranks(n, targets, bands, [30_000, 47_000, 49_000]).full_sort  # p50: 24999


def test_a_band_that_ends_before_its_rank_is_detected() -> None:
    values = [float(v) for v in range(30_000)]
    # p50's band stops 100 values short of rank 14999.5
    bands = [Band(14_000.0, 14_900.0), Band(28_000.0, None), Band(29_500.0, None)]
    n = len(values)
    plan = plan_ranks(n, [rank_target(q, n) for q in QUANTILES], bands, below_for(values, bands))
    assert not plan.full_sort and run_plan(values, plan) is None
    result, plan = exact(values, bands)
    assert plan.full_sort and result == [percentile_cont(values, q) for q in QUANTILES]


def test_too_small_a_sample_gives_no_bands() -> None:
    assert choose_bands([1.0] * 9) == []
