"""The simulator's queueing model: Erlang C, the M/M/c/K queue, and the service built on them."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from math import factorial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfpilot.simulator.model import (
    MODELS,
    Conditions,
    erlang_c,
    expected_attempts,
    expected_metrics,
    mmc_wait,
    mmck_queue,
    waiting_room,
)

LARGE = MODELS["gpt-large"]


def erlang_c_textbook(c: int, a: Fraction) -> Fraction:
    """C(c, a) = (a^c/c!)(c/(c-a)) / (sum_{k<c} a^k/k! + (a^c/c!)(c/(c-a))), exactly."""
    top = a**c / factorial(c) * Fraction(c) / (c - a)
    return top / (sum(a**k / factorial(k) for k in range(c)) + top)


# --- Erlang C -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("servers", "load", "expected"),
    [
        (1, 0.5, 0.5),  # M/M/1: P(wait) = rho
        (1, 0.9, 0.9),
        (2, 1.0, 1 / 3),
        (10, 8.0, 0.409180),  # the classic call-centre table value
        (3, 2.0, 4 / 9),
    ],
)
def test_erlang_c_known_values(servers: int, load: float, expected: float) -> None:
    assert erlang_c(servers, load) == pytest.approx(expected, abs=1e-6)


@given(
    servers=st.integers(min_value=1, max_value=40),
    share=st.fractions(min_value=Fraction(1, 100), max_value=Fraction(99, 100)),
)
def test_erlang_c_matches_the_textbook_formula(servers: int, share: Fraction) -> None:
    load = share * servers
    assert erlang_c(servers, float(load)) == pytest.approx(
        float(erlang_c_textbook(servers, load)), rel=1e-9
    )


def test_erlang_c_is_one_at_and_past_capacity() -> None:
    assert erlang_c(4, 4.0) == 1.0
    assert erlang_c(4, 9.0) == 1.0
    assert erlang_c(500, 499.0) < 1.0  # large c stays finite (Erlang B recursion)


def test_mm1_wait_is_rho_over_mu_minus_lambda() -> None:
    assert mmc_wait(3.0, 4.0, 1) == pytest.approx(0.75 / (4.0 - 3.0))
    assert mmc_wait(4.0, 4.0, 1) == math.inf


# --- M/M/c/K --------------------------------------------------------------------------------


@given(
    servers=st.integers(min_value=1, max_value=12),
    rho=st.floats(min_value=0.05, max_value=0.9),
    mu=st.floats(min_value=0.5, max_value=20.0),
)
def test_a_deep_waiting_room_is_erlang_c(servers: int, rho: float, mu: float) -> None:
    lam = rho * servers * mu
    deep = mmck_queue(lam, mu, servers, room=3000)
    assert deep.wait_s == pytest.approx(mmc_wait(lam, mu, servers), rel=1e-6, abs=1e-9)
    assert deep.blocking < 1e-9


def test_overload_fills_the_room_caps_the_wait_and_turns_the_excess_away() -> None:
    mu, servers, timeout = 4.0, 2, 10.0
    room = waiting_room(servers, mu, timeout)
    assert room == 80
    q = mmck_queue(16.0, mu, servers, room)  # rho = 2
    assert q.blocking == pytest.approx(1 - 1 / 2, abs=1e-3)
    assert timeout * 0.95 < q.wait_s <= timeout
    assert q.utilization == pytest.approx(1.0, abs=1e-3)
    huge = mmck_queue(1e4, mu, servers, room)  # rho^K would overflow without logs
    assert math.isfinite(huge.wait_s) and huge.blocking == pytest.approx(1.0, abs=1e-3)


def test_no_arrivals_no_wait() -> None:
    assert mmck_queue(0.0, 4.0, 2, 80).wait_s == 0.0


# --- the service --------------------------------------------------------------------------


def latency(rate: float, instances: int) -> float:
    return expected_metrics(
        Conditions(arrival_rps=rate, instances=instances, model=LARGE)
    ).latency_ms


@given(
    rates=st.lists(st.floats(min_value=0.0, max_value=60.0), min_size=2, max_size=2),
    instances=st.integers(min_value=1, max_value=12),
)
def test_latency_rises_with_load(rates: list[float], instances: int) -> None:
    low, high = sorted(rates)
    assert latency(low, instances) <= latency(high, instances) * (1 + 1e-9)


@given(
    rate=st.floats(min_value=0.0, max_value=60.0),
    instances=st.integers(min_value=1, max_value=11),
)
def test_latency_falls_when_instances_are_added(rate: float, instances: int) -> None:
    assert latency(rate, instances + 1) <= latency(rate, instances) * (1 + 1e-9)


@given(rate=st.floats(min_value=0.0, max_value=200.0), instances=st.integers(1, 12))
def test_latency_and_cpu_are_capped(rate: float, instances: int) -> None:
    m = expected_metrics(Conditions(arrival_rps=rate, instances=instances, model=LARGE))
    assert m.latency_ms <= LARGE.latency_ms + 10_000.0 * (1 + 1e-6)
    assert 0.0 <= m.cpu_percent <= 100.0
    assert 0.0 <= m.error_rate <= 1.0
    assert m.success_rate == pytest.approx(1.0 - m.error_rate)


def test_a_spike_past_capacity_times_out_and_more_instances_fix_it() -> None:
    calm = expected_metrics(Conditions(arrival_rps=5.0, instances=2, model=LARGE))
    spike = expected_metrics(Conditions(arrival_rps=12.0, instances=2, model=LARGE))
    scaled = expected_metrics(Conditions(arrival_rps=12.0, instances=4, model=LARGE))
    assert calm.cpu_percent == pytest.approx(62.5)
    assert spike.utilization == pytest.approx(1.5)
    assert spike.latency_ms > 9_000 and spike.error_rate > 0.3
    assert scaled.latency_ms < 1.2 * LARGE.latency_ms and scaled.error_rate < 0.01


def test_a_slow_model_is_not_fixed_by_instances_but_by_another_model() -> None:
    slow = MODELS["gpt-xl"]
    two = expected_metrics(Conditions(arrival_rps=0.6, instances=2, model=slow))
    four = expected_metrics(Conditions(arrival_rps=0.6, instances=4, model=slow))
    switched = expected_metrics(Conditions(arrival_rps=0.6, instances=4, model=LARGE))
    assert two.cpu_percent < 25
    assert (two.latency_ms - four.latency_ms) / two.latency_ms < 0.01  # well under 2 %
    assert switched.latency_ms < 0.3 * four.latency_ms
    assert switched.accuracy < four.accuracy and switched.cost_usd_per_s < four.cost_usd_per_s


def test_retries_lower_errors_at_a_latency_cost() -> None:
    base = Conditions(arrival_rps=9.0, instances=2, model=LARGE)  # rho 1.125: timeouts
    plain = expected_metrics(base)
    retried = expected_metrics(replace(base, max_retries=2, backoff_ms=200.0))
    assert retried.error_rate < plain.error_rate
    assert retried.latency_ms > plain.latency_ms
    assert expected_attempts(0.5, 2) == pytest.approx(1.75)
    assert expected_attempts(0.0, 5) == 1.0


def test_the_cache_takes_load_and_cost_off_the_model() -> None:
    cold = expected_metrics(Conditions(arrival_rps=6.0, instances=2, model=LARGE))
    warm = expected_metrics(
        Conditions(arrival_rps=6.0, instances=2, model=LARGE, cache_hit_rate=0.3)
    )
    assert warm.latency_ms < cold.latency_ms
    assert warm.cost_usd_per_s == pytest.approx(cold.cost_usd_per_s * 0.7)
    assert warm.cpu_percent < cold.cpu_percent


def test_no_ready_instance_fails_every_model_request() -> None:
    down = expected_metrics(Conditions(arrival_rps=5.0, instances=0, model=LARGE))
    assert down.error_rate == pytest.approx(1.0)
    assert down.cpu_percent == 0.0
