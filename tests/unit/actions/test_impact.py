"""Impact verification: the measured change and its outcome, and the stated scaling model
behind predicted impacts (DESIGN §4)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from perfpilot.actions.impact import Measurement, judge
from perfpilot.actions.predict import scaling_model
from perfpilot.metrics.units import METRIC_SPECS


def measure(metric: str, baseline: float | None, after: float | None, n: int = 10) -> Measurement:
    return judge(metric, baseline=baseline, baseline_samples=n, after=after, after_samples=n)


def test_lower_latency_is_an_improvement() -> None:
    result = measure("latency", 1000.0, 800.0)
    assert result.measured_impact == pytest.approx(0.20)
    assert result.outcome == "improved"
    assert result.measured_value == 800.0


def test_lower_throughput_is_a_worsening() -> None:
    result = measure("throughput", 100.0, 80.0)
    assert result.measured_impact == pytest.approx(-0.20)
    assert result.outcome == "worsened"


def test_higher_latency_is_a_worsening() -> None:
    result = measure("latency", 1000.0, 1200.0)
    assert result.measured_impact == pytest.approx(-0.20)
    assert result.outcome == "worsened"


def test_higher_throughput_is_an_improvement() -> None:
    result = measure("throughput", 100.0, 150.0)
    assert result.measured_impact == pytest.approx(0.50)
    assert result.outcome == "improved"


@pytest.mark.parametrize(
    ("metric", "baseline", "after", "outcome"),
    [
        ("latency", 1000.0, 980.0, "improved"),  # exactly +2 %
        ("latency", 1000.0, 981.0, "no_change"),  # +1.9 %
        ("latency", 1000.0, 1020.0, "worsened"),  # exactly -2 %
        ("latency", 1000.0, 1019.0, "no_change"),  # -1.9 %
        ("throughput", 100.0, 102.0, "improved"),
        ("throughput", 100.0, 101.9, "no_change"),
        ("throughput", 100.0, 98.0, "worsened"),
        ("throughput", 100.0, 98.1, "no_change"),
        ("latency", 1000.0, 1000.0, "no_change"),
        # exact 2 % changes whose float arithmetic lands a hair inside the band
        ("latency", 5.0, 4.9, "improved"),
        ("latency", 5.0, 5.1, "worsened"),
        ("error_rate", 0.05, 0.049, "improved"),
        ("success_rate", 0.06, 0.0612, "improved"),
        ("accuracy", 0.4, 0.392, "worsened"),
    ],
)
def test_the_two_percent_boundaries_are_inclusive(
    metric: str, baseline: float, after: float, outcome: str
) -> None:
    assert measure(metric, baseline, after).outcome == outcome


@pytest.mark.parametrize(("baseline_n", "after_n"), [(2, 10), (10, 2), (0, 0), (2, 2)])
def test_fewer_than_three_samples_on_a_side_is_unmeasured(baseline_n: int, after_n: int) -> None:
    result = judge(
        "latency", baseline=1000.0, baseline_samples=baseline_n, after=500.0, after_samples=after_n
    )
    assert result.outcome == "unmeasured"
    assert result.measured_impact is None


def test_three_samples_on_each_side_are_enough() -> None:
    result = judge("latency", baseline=1000.0, baseline_samples=3, after=500.0, after_samples=3)
    assert result.outcome == "improved"
    assert result.measured_impact == pytest.approx(0.5)


def test_no_data_after_the_action_is_unmeasured() -> None:
    result = measure("latency", 1000.0, None)
    assert (result.measured_value, result.measured_impact, result.outcome) == (
        None,
        None,
        "unmeasured",
    )


def test_no_baseline_is_unmeasured() -> None:
    result = measure("latency", None, 800.0)
    assert result.outcome == "unmeasured"
    assert result.measured_value == 800.0


def test_a_zero_baseline_is_unmeasured_not_infinite() -> None:
    result = measure("error_rate", 0.0, 0.1)
    assert result.outcome == "unmeasured"
    assert result.measured_impact is None
    assert result.measured_value == 0.1


values = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(st.sampled_from([m for m, s in METRIC_SPECS.items() if s.better != "none"]), values, values)
def test_outcome_follows_the_exact_relative_change(
    metric: str, baseline: float, after: float
) -> None:
    exact = (Fraction(after) - Fraction(baseline)) / Fraction(baseline)
    if METRIC_SPECS[metric].better == "lower":
        exact = -exact
    # within float noise of the boundary either side is acceptable
    assume(abs(abs(exact) - Fraction(2, 100)) > Fraction(1, 10**8))
    expected = "improved" if exact >= 0.02 else "worsened" if exact <= -0.02 else "no_change"
    result = measure(metric, baseline, after)
    assert result.outcome == expected
    assert result.measured_impact == pytest.approx(float(exact), rel=1e-9, abs=1e-12)


# --- the stated model behind predicted impacts (predict.scaling_model) ------------------------


def test_doubling_a_saturated_service_predicts_half_the_latency() -> None:
    prediction = scaling_model("latency", instances_before=2, instances_after=4, saturated=True)
    assert prediction is not None
    assert prediction.impact == pytest.approx(0.5)
    assert prediction.basis == "model"
    assert "2 → 4 instances" in prediction.explanation


def test_halving_a_saturated_service_predicts_double_the_latency() -> None:
    prediction = scaling_model("latency", instances_before=4, instances_after=2, saturated=True)
    assert prediction is not None
    assert prediction.impact == pytest.approx(-1.0)


def test_a_service_that_is_not_saturated_has_no_model() -> None:
    assert scaling_model("latency", instances_before=2, instances_after=4, saturated=False) is None


@pytest.mark.parametrize("metric", [m for m in METRIC_SPECS if m != "latency"])
def test_only_latency_has_a_scaling_model(metric: str) -> None:
    assert scaling_model(metric, instances_before=2, instances_after=4, saturated=True) is None


def test_no_change_in_instances_has_no_model() -> None:
    assert scaling_model("latency", instances_before=3, instances_after=3, saturated=True) is None


@given(st.integers(1, 100), st.integers(1, 100))
def test_predicted_latency_improvement_agrees_with_judging_the_modelled_latency(
    before: int, after: int
) -> None:
    """The model says latency_after = latency_before * before / after; judge() must agree."""
    assume(before != after)
    prediction = scaling_model(
        "latency", instances_before=before, instances_after=after, saturated=True
    )
    assert prediction is not None
    modelled = measure("latency", 100.0, 100.0 * before / after)
    assert prediction.impact == pytest.approx(modelled.measured_impact)
