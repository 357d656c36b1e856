"""Metric units, ranges and directions, checked against DESIGN §4's and §9's tables."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfpilot.metrics.units import (
    BUILTIN_METRIC_TYPES,
    METRIC_SPECS,
    SEED_METRIC_TYPES,
    UnitError,
    conversion_factor,
    improvement,
    range_error,
    to_canonical,
)

# type -> (canonical unit, {accepted unit: factor to canonical}, maximum, better), from the design
DOCUMENTED: dict[str, tuple[str, dict[str, float], float | None, str]] = {
    "latency": ("ms", {"ms": 1.0, "s": 1000.0, "us": 0.001}, None, "lower"),
    "throughput": ("rps", {"rps": 1.0, "rpm": 1 / 60}, None, "higher"),
    "accuracy": ("ratio", {"ratio": 1.0, "percent": 0.01}, 1.0, "higher"),
    "cost": ("usd", {"usd": 1.0}, None, "lower"),
    "memory": ("mb", {"mb": 1.0, "b": 1 / 1024**2, "kb": 1 / 1024, "gb": 1024.0}, None, "lower"),
    "cpu": ("percent", {"percent": 1.0, "ratio": 100.0}, None, "lower"),
    "error_rate": ("ratio", {"ratio": 1.0, "percent": 0.01}, 1.0, "lower"),
    "success_rate": ("ratio", {"ratio": 1.0, "percent": 0.01}, 1.0, "higher"),
    # DESIGN §9: the LLM-serving built-ins
    "ttft": ("ms", {"ms": 1.0, "s": 1000.0, "us": 0.001}, None, "lower"),
    "tpot": ("ms", {"ms": 1.0, "s": 1000.0, "us": 0.001}, None, "lower"),
    "tokens_per_second": ("tokens/s", {"tokens/s": 1.0}, None, "higher"),
    "queue_depth": ("requests", {"requests": 1.0}, None, "lower"),
    "kv_cache_usage": ("ratio", {"ratio": 1.0, "percent": 0.01}, 1.0, "lower"),
    "requests_running": ("requests", {"requests": 1.0}, None, "none"),
    "input_tokens": ("tokens", {"tokens": 1.0}, None, "none"),
    "output_tokens": ("tokens", {"tokens": 1.0}, None, "none"),
    "gpu_utilization": ("ratio", {"ratio": 1.0, "percent": 0.01}, 1.0, "none"),
}
ACCEPTED = [
    (t, unit, factor)
    for t, (_, units, _, _) in DOCUMENTED.items()
    for unit, factor in units.items()
]

metric_types = st.sampled_from(sorted(DOCUMENTED))
finite = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)


def test_the_builtin_types_and_their_canonical_units() -> None:
    assert set(BUILTIN_METRIC_TYPES) == set(DOCUMENTED)
    assert BUILTIN_METRIC_TYPES[:8] == SEED_METRIC_TYPES  # the seed's eight keep their names
    for metric_type, (canonical, units, maximum, better) in DOCUMENTED.items():
        spec = METRIC_SPECS[metric_type]
        assert spec.canonical == canonical
        assert sorted(spec.accepted_units) == sorted(units)
        assert spec.maximum == maximum
        assert spec.better == better


@pytest.mark.parametrize(("metric_type", "unit", "factor"), ACCEPTED)
def test_every_accepted_unit_converts_with_the_documented_factor(
    metric_type: str, unit: str, factor: float
) -> None:
    assert conversion_factor(metric_type, unit) == pytest.approx(factor, rel=1e-15)
    # units are case-insensitive on the way in ("MS", "Percent")
    assert conversion_factor(metric_type, unit.upper()) == pytest.approx(factor, rel=1e-15)


@given(metric_type=metric_types, value=finite)
def test_no_unit_means_canonical(metric_type: str, value: float) -> None:
    assert to_canonical(metric_type, value, None) == value
    assert to_canonical(metric_type, value, DOCUMENTED[metric_type][0]) == value


@given(data=st.data(), value=finite)
def test_conversion_round_trips(data: st.DataObject, value: float) -> None:
    metric_type, unit, factor = data.draw(st.sampled_from(ACCEPTED))
    canonical = to_canonical(metric_type, value, unit)
    assert canonical == pytest.approx(value * factor, rel=1e-12)
    assert canonical / conversion_factor(metric_type, unit) == pytest.approx(value, rel=1e-12)


@given(metric_type=metric_types, a=finite, b=finite)
def test_conversion_is_linear_and_keeps_order(metric_type: str, a: float, b: float) -> None:
    for unit in DOCUMENTED[metric_type][1]:
        ca, cb = to_canonical(metric_type, a, unit), to_canonical(metric_type, b, unit)
        assert (ca < cb) == (a < b) or math.isclose(ca, cb)
        assert to_canonical(metric_type, a + b, unit) == pytest.approx(ca + cb, rel=1e-9)


@given(metric_type=metric_types, unit=st.text(max_size=12))
def test_unknown_units_are_rejected_listing_the_accepted_ones(metric_type: str, unit: str) -> None:
    accepted = DOCUMENTED[metric_type][1]
    if unit.lower() in accepted:
        return
    with pytest.raises(UnitError) as caught:
        conversion_factor(metric_type, unit)
    message = str(caught.value)
    assert metric_type in message
    for name in accepted:
        assert name in message


def test_a_unit_of_another_type_is_rejected() -> None:
    with pytest.raises(UnitError, match="ms, s, us"):
        conversion_factor("latency", "percent")
    with pytest.raises(UnitError, match="usd"):
        conversion_factor("cost", "eur")
    assert isinstance(UnitError("x"), ValueError)  # pydantic turns it into a field error


@pytest.mark.parametrize("metric_type", sorted(DOCUMENTED))
def test_range_boundaries(metric_type: str) -> None:
    maximum = DOCUMENTED[metric_type][2]
    assert range_error(metric_type, 0.0) is None
    assert range_error(metric_type, -0.0) is None
    below = range_error(metric_type, math.nextafter(0.0, -1.0))
    assert below is not None and metric_type in below
    if maximum is None:
        assert range_error(metric_type, 1e15) is None
    else:
        assert range_error(metric_type, maximum) is None
        above = range_error(metric_type, math.nextafter(maximum, 2.0))
        assert above is not None and "between 0 and 1" in above


@given(metric_type=metric_types, value=st.floats(allow_nan=False, allow_infinity=False))
def test_range_error_iff_outside_the_documented_range(metric_type: str, value: float) -> None:
    maximum = DOCUMENTED[metric_type][2]
    inside = value >= 0 and (maximum is None or value <= maximum)
    assert (range_error(metric_type, value) is None) == inside


positive = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False)


directed = st.sampled_from(sorted(t for t, d in DOCUMENTED.items() if d[3] != "none"))


@given(metric_type=directed, before=positive, after=positive)
def test_improvement_is_positive_when_the_value_moves_the_good_way(
    metric_type: str, before: float, after: float
) -> None:
    change = improvement(metric_type, before=before, after=after)
    assert change is not None
    assert abs(change) == pytest.approx(abs(after - before) / before, rel=1e-9, abs=1e-12)
    better = after < before if DOCUMENTED[metric_type][3] == "lower" else after > before
    if after != before:
        assert (change > 0) == better
    else:
        assert change == 0


def test_improvement_examples_and_zero_baseline() -> None:
    assert improvement("latency", before=200, after=150) == pytest.approx(0.25)
    assert improvement("latency", before=200, after=250) == pytest.approx(-0.25)
    assert improvement("throughput", before=100, after=120) == pytest.approx(0.2)
    assert improvement("success_rate", before=0.9, after=0.81) == pytest.approx(-0.1)
    assert improvement("error_rate", before=0, after=0.1) is None


@pytest.mark.parametrize("metric_type", [t for t, d in DOCUMENTED.items() if d[3] == "none"])
def test_a_type_without_a_good_direction_has_no_improvement(metric_type: str) -> None:
    assert improvement(metric_type, before=10.0, after=5.0) is None
