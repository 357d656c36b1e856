"""The HPA rule and its scale-down stabilisation window (DESIGN §4 "Autoscaling")."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfpilot.autoscaling.policy import ScalingPolicy, Stabilizer, hpa_desired
from perfpilot.metrics.units import to_canonical

POLICY = ScalingPolicy(
    min_instances=1,
    max_instances=10,
    target_utilization=70.0,
    scale_up_threshold=80.0,
    scale_down_threshold=40.0,
    cooldown_period=300.0,
)


# --- hpa_desired -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "utilization", "desired"),
    [
        (4, 90.0, 6),  # ceil(4 * 90 / 70) = ceil(5.14)
        (4, 30.0, 2),  # ceil(4 * 30 / 70) = ceil(1.71)
        (2, 105.0, 3),  # exactly 3.0: not rounded up to 4
        (7, 20.0, 2),  # exactly 2.0
        (1, 99.0, 2),
        (3, 0.0, 1),  # idle: down to min
    ],
)
def test_outside_the_band_desired_is_the_hpa_formula(
    current: int, utilization: float, desired: int
) -> None:
    assert hpa_desired(current, utilization, POLICY) == desired


@pytest.mark.parametrize(("current", "ratio", "desired"), [(5, 1.12, 8), (5, 0.28, 2)])
def test_float_noise_from_unit_conversion_does_not_add_an_instance(
    current: int, ratio: float, desired: int
) -> None:
    utilization = to_canonical("cpu", ratio, "ratio")  # 1.12 -> 112.00000000000001 %
    assert hpa_desired(current, utilization, POLICY) == desired  # 5 * 112 / 70 is exactly 8


def test_desired_is_capped_at_max_instances() -> None:
    assert hpa_desired(8, 200.0, POLICY) == 10


def test_desired_is_floored_at_min_instances() -> None:
    policy = ScalingPolicy(3, 10, 70.0, 80.0, 40.0, 300.0)
    assert hpa_desired(4, 10.0, policy) == 3


@pytest.mark.parametrize("utilization", [40.0, 55.0, 70.0, 79.9, 80.0])
def test_inside_the_dead_band_current_is_kept(utilization: float) -> None:
    assert hpa_desired(4, utilization, POLICY) == 4


def test_just_outside_the_band_scales() -> None:
    assert hpa_desired(4, 80.1, POLICY) == 5
    assert hpa_desired(4, 39.9, POLICY) == 3


# utilisations on a 0.1 grid: the exact ratio of the decimal values is either an integer or
# at least 1e-3 away from one, so the float noise the formula tolerates never decides
tenths = st.integers(0, 3000).map(lambda k: k / 10)
policies = st.builds(
    lambda lo, span, down, gap1, gap2, cooldown: ScalingPolicy(
        lo, lo + span, down + gap1, down + gap1 + gap2, down, cooldown
    ),
    st.integers(1, 5),
    st.integers(0, 20),
    st.integers(1, 60).map(float),
    st.integers(1, 30).map(float),
    st.integers(1, 30).map(float),
    st.integers(0, 600).map(float),
)


@given(policies, st.integers(1, 40), tenths)
def test_hpa_desired_matches_exact_arithmetic(
    policy: ScalingPolicy, current: int, utilization: float
) -> None:
    inside = policy.scale_down_threshold <= utilization <= policy.scale_up_threshold
    if inside:
        raw = current
    else:
        ratio = current * Fraction(str(utilization)) / Fraction(str(policy.target_utilization))
        raw = math.ceil(ratio)
    expected = max(policy.min_instances, min(policy.max_instances, raw))
    assert hpa_desired(current, utilization, policy) == expected


@given(policies, st.data(), tenths, tenths)
def test_more_load_never_asks_for_fewer_instances(
    policy: ScalingPolicy, data: st.DataObject, u1: float, u2: float
) -> None:
    current = data.draw(st.integers(policy.min_instances, policy.max_instances))
    low, high = sorted((u1, u2))
    assert hpa_desired(current, low, policy) <= hpa_desired(current, high, policy)


# --- Stabilizer ------------------------------------------------------------------------------


def test_scale_up_is_immediate() -> None:
    stabilizer = Stabilizer()
    assert stabilizer.decide("chat", current=2, recommended=5, now=0.0, window=300.0) == 5


def test_scale_up_is_immediate_even_after_a_recent_lower_recommendation() -> None:
    stabilizer = Stabilizer()
    stabilizer.decide("chat", current=5, recommended=2, now=0.0, window=300.0)
    assert stabilizer.decide("chat", current=2, recommended=6, now=10.0, window=300.0) == 6


def test_scale_down_waits_for_the_window() -> None:
    stabilizer = Stabilizer()
    assert stabilizer.decide("chat", current=2, recommended=5, now=0.0, window=300.0) == 5
    for now in (30.0, 150.0, 299.0):
        assert stabilizer.decide("chat", current=5, recommended=2, now=now, window=300.0) == 5
    # the recommendation of 5 (t=0) has left the window
    assert stabilizer.decide("chat", current=5, recommended=2, now=301.0, window=300.0) == 2


def test_scale_down_goes_to_the_highest_recommendation_in_the_window() -> None:
    stabilizer = Stabilizer()
    stabilizer.decide("chat", current=8, recommended=8, now=0.0, window=300.0)
    stabilizer.decide("chat", current=8, recommended=6, now=100.0, window=300.0)
    assert stabilizer.decide("chat", current=8, recommended=3, now=200.0, window=300.0) == 8
    # t=0 (8) is out; 6 (t=100) is the highest left
    assert stabilizer.decide("chat", current=8, recommended=3, now=350.0, window=300.0) == 6
    # t=100 (6) is out too
    assert stabilizer.decide("chat", current=6, recommended=3, now=450.0, window=300.0) == 3


def test_zero_window_scales_down_at_once() -> None:
    stabilizer = Stabilizer()
    stabilizer.decide("chat", current=2, recommended=6, now=0.0, window=0.0)
    assert stabilizer.decide("chat", current=6, recommended=2, now=1.0, window=0.0) == 2


def test_services_have_separate_windows() -> None:
    stabilizer = Stabilizer()
    stabilizer.decide("chat", current=2, recommended=9, now=0.0, window=300.0)
    assert stabilizer.decide("search", current=6, recommended=2, now=10.0, window=300.0) == 2
    assert stabilizer.decide("chat", current=9, recommended=2, now=10.0, window=300.0) == 9


def test_forget_drops_a_services_window() -> None:
    stabilizer = Stabilizer()
    stabilizer.decide("chat", current=2, recommended=9, now=0.0, window=300.0)
    stabilizer.forget("chat")
    assert stabilizer.decide("chat", current=9, recommended=2, now=10.0, window=300.0) == 2


steps = st.lists(st.tuples(st.integers(0, 100), st.integers(1, 20), st.integers(1, 20)), min_size=1)


@given(steps, st.integers(0, 300))
def test_stabilizer_matches_the_window_rule(
    ticks: list[tuple[int, int, int]], window_whole: int
) -> None:
    """Brute force: up at once, down to max(recommendations in the last `window` seconds)."""
    window = window_whole + 0.5  # never exactly on a tick: the boundary is not the point here
    stabilizer = Stabilizer()
    now = 0.0
    seen: list[tuple[float, int]] = []
    for dt, current, recommended in ticks:
        now += dt
        seen.append((now, recommended))
        if recommended >= current:
            expected = recommended
        else:
            expected = min(current, max(r for t, r in seen if t >= now - window))
        got = stabilizer.decide(
            "chat", current=current, recommended=recommended, now=now, window=window
        )
        assert got == expected


def direction_changes(counts: list[int]) -> int:
    moves = [b - a for a, b in pairwise(counts) if b != a]
    return sum(1 for a, b in pairwise(moves) if (a > 0) != (b > 0))


def run(
    policy: ScalingPolicy, start: int, loads: list[float], tick: float, stabilise: bool
) -> list[int]:
    stabilizer = Stabilizer()
    current, applied = start, [start]
    for i, utilization in enumerate(loads):
        recommended = hpa_desired(current, utilization, policy)
        if stabilise:
            current = stabilizer.decide(
                "chat",
                current=current,
                recommended=recommended,
                now=i * tick,
                window=policy.cooldown_period,
            )
        else:
            current = recommended
        applied.append(current)
    return applied


def test_an_oscillating_load_flaps_without_the_window_and_not_with_it() -> None:
    loads = [90.0, 20.0] * 10  # high, low, high, ... every 15 s
    raw = run(POLICY, 4, loads, 15.0, stabilise=False)
    stable = run(POLICY, 4, loads, 15.0, stabilise=True)
    assert direction_changes(raw) > 5
    assert direction_changes(stable) == 0
    assert stable == sorted(stable)


@given(
    policies.filter(lambda p: p.cooldown_period > 0),
    st.integers(1, 30),
    st.floats(0.01, 0.99),
    st.integers(0, 1000).map(lambda k: k / 10),
    st.integers(0, 1000).map(lambda k: k / 10),
    st.booleans(),
    st.integers(2, 60),
)
def test_an_oscillating_utilisation_does_not_flap(
    policy: ScalingPolicy,
    start: int,
    tick_fraction: float,
    above: float,
    below: float,
    high_first: bool,
    n: int,
) -> None:
    high = policy.scale_up_threshold + 0.1 + above
    low = max(0.0, policy.scale_down_threshold - 0.1 - below)
    pair = [high, low] if high_first else [low, high]
    loads = (pair * n)[:n]
    tick = policy.cooldown_period * tick_fraction  # shorter than the window
    applied = run(policy, start, loads, tick, stabilise=True)
    assert direction_changes(applied) <= 1
    # after the first tick the window always holds a recommendation at least as high
    after_warm_up = applied[1:]
    assert after_warm_up == sorted(after_warm_up)
