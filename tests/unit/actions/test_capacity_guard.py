"""A capacity reduction is judged by its guard, not by its metric's direction (DESIGN §4)."""

from __future__ import annotations

import pytest

from perfpilot.actions.impact import (
    Guard,
    autoscaler_guard,
    judge,
    judge_guarded,
    rule_guard,
)

AUTOSCALER = autoscaler_guard("cpu", scale_up_threshold=80.0, target=60.0)


def guarded(guard: Guard, baseline: float, after: float, n: int = 12) -> object:
    return judge_guarded(
        guard,
        baseline=baseline,
        baseline_samples=n,
        after=after,
        after_samples=n,
        instances=(4, 2),
    )


def test_the_autoscalers_scale_down_that_doubles_cpu_within_target_saved_capacity() -> None:
    # the case: cpu 20 % -> 40 % against a 60 % target, instances 4 -> 2
    by_direction = judge("cpu", baseline=20.0, baseline_samples=12, after=40.0, after_samples=12)
    assert by_direction.outcome == "worsened"  # what was recorded before: the wrong question
    result = judge_guarded(
        AUTOSCALER, baseline=20.0, baseline_samples=12, after=40.0, after_samples=12,
        instances=(4, 2),
    )  # fmt: skip
    assert (result.outcome, result.guard_held, result.measured_value) == (
        "capacity_saved",
        True,
        40.0,
    )
    assert result.measured_impact is None  # not "improved" in the metric's direction
    assert "cpu 20 -> 40" in result.note and "4 -> 2 instances" in result.note
    assert "cpu <= 80 (autoscaler scaleUpThreshold, target 60)" in result.note


@pytest.mark.parametrize(
    ("after", "outcome", "held"),
    [(80.0, "capacity_saved", True), (80.5, "worsened", False), (95.0, "worsened", False)],
)
def test_the_guard_limit_is_inclusive_and_a_breach_is_worsened(
    after: float, outcome: str, held: bool
) -> None:
    result = judge_guarded(
        AUTOSCALER, baseline=20.0, baseline_samples=5, after=after, after_samples=5,
        instances=(4, 2),
    )  # fmt: skip
    assert (result.outcome, result.guard_held, result.measured_impact) == (outcome, held, None)


@pytest.mark.parametrize(("baseline_n", "after_n"), [(2, 10), (10, 2)])
def test_a_guarded_action_with_too_few_samples_is_unmeasured_with_the_reason(
    baseline_n: int, after_n: int
) -> None:
    result = judge_guarded(
        AUTOSCALER, baseline=20.0, baseline_samples=baseline_n, after=40.0,
        after_samples=after_n, instances=(4, 2),
    )  # fmt: skip
    assert (result.outcome, result.guard_held) == ("unmeasured", None)
    assert result.note == f"fewer than 3 samples on a side (baseline {baseline_n}, after {after_n})"


@pytest.mark.parametrize(
    ("operator", "threshold", "resolve_at", "expected"),
    [
        # a rule's own scale-down keeps to the slack it fired on, up to resolveThreshold
        ("lt", 30.0, 35.0, ("lt", 35.0, "rule resolveThreshold")),
        ("lte", 30.0, 30.0, ("lte", 30.0, "rule threshold")),
        ("gt", 0.99, 0.98, ("gt", 0.98, "rule resolveThreshold")),
    ],
)
def test_a_rules_scale_down_is_guarded_by_its_resolve_threshold(
    operator: str, threshold: float, resolve_at: float, expected: tuple[str, float, str]
) -> None:
    guard = rule_guard(
        "cpu", operator=operator, threshold=threshold, resolve_at=resolve_at, reverting=False
    )
    assert guard is not None
    assert (guard.operator, guard.limit, guard.basis) == expected


@pytest.mark.parametrize(
    ("operator", "negated"), [("gt", "lte"), ("gte", "lt"), ("lt", "gte"), ("lte", "gt")]
)
def test_a_revert_of_a_scale_up_must_not_make_its_rule_fire_again(
    operator: str, negated: str
) -> None:
    guard = rule_guard("cpu", operator=operator, threshold=90.0, resolve_at=85.0, reverting=True)
    assert guard is not None
    assert (guard.operator, guard.limit, guard.basis) == (negated, 90.0, "rule threshold (revert)")


def test_an_eq_rule_gives_no_guard() -> None:
    assert rule_guard("cpu", operator="eq", threshold=1, resolve_at=1, reverting=False) is None


def test_a_guard_round_trips_through_its_stored_form() -> None:
    assert Guard.from_dict(AUTOSCALER.as_dict()) == AUTOSCALER


def test_the_directional_judgement_says_what_it_measured() -> None:
    result = judge("latency", baseline=1000.0, baseline_samples=4, after=800.0, after_samples=5)
    assert result.note == (
        "latency 1000 -> 800 (4 -> 5 samples): +20.0% in its good direction, improved"
    )
