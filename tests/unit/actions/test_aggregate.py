"""The aggregate an impact check compares, against PostgreSQL's definitions and brute force."""

from __future__ import annotations

import math
import random
import statistics
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfpilot.actions.aggregate import aggregate_values, impact_aggregation

KINDS = ["last", "avg", "min", "max", "p50", "p90", "p95", "p99"]
QUANTILE = {"p50": Fraction(1, 2), "p90": Fraction(9, 10), "p95": Fraction(19, 20)}
QUANTILE["p99"] = Fraction(99, 100)


@pytest.mark.parametrize("kind", ["sum", "count", None])
def test_sum_count_and_no_aggregation_are_compared_as_averages(kind: str | None) -> None:
    assert impact_aggregation(kind) == "avg"


@pytest.mark.parametrize("kind", KINDS)
def test_comparable_aggregations_are_kept(kind: str) -> None:
    assert impact_aggregation(kind) == kind


@pytest.mark.parametrize("kind", KINDS)
def test_no_values_have_no_aggregate(kind: str) -> None:
    assert aggregate_values(kind, []) is None


@pytest.mark.parametrize("kind", ["sum", "count"])
def test_window_dependent_aggregations_are_refused(kind: str) -> None:
    with pytest.raises(ValueError, match="not comparable"):
        aggregate_values(kind, [1.0, 2.0])


def test_last_is_the_latest_value_not_the_largest() -> None:
    assert aggregate_values("last", [5.0, 9.0, 2.0]) == 2.0


@pytest.mark.parametrize(
    ("kind", "values", "expected"),
    [
        # SELECT percentile_cont(q) WITHIN GROUP (ORDER BY v) on PostgreSQL
        ("p50", [1.0, 2.0, 3.0, 4.0], 2.5),
        ("p50", [3.0, 1.0, 2.0], 2.0),
        ("p90", [float(v) for v in range(1, 11)], 9.1),
        ("p95", [10.0, 20.0], 19.5),
        ("p99", [float(v) for v in range(1, 101)], 99.01),
        ("p99", [7.0], 7.0),
    ],
)
def test_percentiles_match_postgresql_percentile_cont(
    kind: str, values: list[float], expected: float
) -> None:
    assert aggregate_values(kind, values) == pytest.approx(expected, rel=1e-12)


def reference(kind: str, values: list[float]) -> float:
    """Brute force, exact arithmetic: PostgreSQL's percentile_cont and plain definitions."""
    if kind == "last":
        return values[-1]
    if kind == "avg":
        return math.fsum(values) / len(values)
    if kind == "min":
        return min(values)
    if kind == "max":
        return max(values)
    ordered = [Fraction(v) for v in sorted(values)]
    pos = QUANTILE[kind] * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(ordered[lo] + (pos - lo) * (ordered[hi] - ordered[lo]))


# metric values are non-negative (units.py ranges)
samples = st.lists(
    st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=200,
)


@given(st.sampled_from(KINDS), samples)
def test_aggregate_matches_brute_force(kind: str, values: list[float]) -> None:
    got = aggregate_values(kind, values)
    assert got == pytest.approx(reference(kind, values), rel=1e-12, abs=1e-6)


@given(st.sampled_from(["p50", "p90", "p95", "p99"]), samples.filter(lambda v: len(v) >= 2))
def test_percentiles_agree_with_the_inclusive_quantile_definition(
    kind: str, values: list[float]
) -> None:
    cut = statistics.quantiles(values, n=100, method="inclusive")[int(kind[1:]) - 1]
    assert aggregate_values(kind, values) == pytest.approx(cut, rel=1e-9, abs=1e-6)


@given(samples, st.randoms(use_true_random=False))
def test_order_matters_only_for_last(values: list[float], rnd: random.Random) -> None:
    shuffled = values[:]
    rnd.shuffle(shuffled)
    for kind in ["min", "max", "p50", "p90", "p95", "p99"]:
        assert aggregate_values(kind, shuffled) == aggregate_values(kind, values)
    assert aggregate_values("avg", shuffled) == pytest.approx(aggregate_values("avg", values))


@given(samples)
def test_percentiles_are_ordered_and_inside_the_range(values: list[float]) -> None:
    ladder = [aggregate_values(k, values) for k in ["min", "p50", "p90", "p95", "p99", "max"]]
    assert ladder == sorted(v for v in ladder if v is not None)
