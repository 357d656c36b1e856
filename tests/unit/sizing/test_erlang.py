"""The Erlang C sizing formula against published values and closed forms, and its edges."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfpilot.sizing.erlang import (
    QueueModel,
    erlang_c,
    fewest_instances,
    mean_wait,
    response_quantile,
    wait_quantile,
)


def test_wolfram_packet_example_two_lines() -> None:
    # Wolfram Language reference, ErlangC, "Applications": two 1 Mbps lines, packets arrive
    # at 150/s with mean size 10 kbit (mu = 100/s per line, a = 1.5). The M/M/2 closed form
    # (Kleinrock, Queueing Systems vol. 1, §3.5) gives P(wait) = 2 rho^2 / (1 + rho) = 9/14.
    assert erlang_c(2, 1.5) == pytest.approx(9 / 14, rel=1e-12)


def test_call_centre_worked_example_ten_erlangs_eleven_agents() -> None:
    # callcentrehelper.com, "Erlang C Formula - Made Simple": 100 calls in 30 min with a
    # 3-minute handle time is 10 Erlangs; with 11 agents the probability of waiting is 68.21 %.
    assert erlang_c(11, 10.0) == pytest.approx(0.6821, abs=5e-5)


def test_textbook_curve_six_erlangs_ten_servers() -> None:
    # The textbook exercise quoted on Mathematics Stack Exchange ("probability of a customer
    # joining a queue via the Erlang C curve"): 120 customers/h, 3 min each, 10 assistants,
    # a = 6 Erlangs: "from the Erlang C curve ... the probability of waiting is about 0.10".
    assert erlang_c(10, 6.0) == pytest.approx(0.10, abs=0.005)


def test_mm1_closed_forms() -> None:
    # M/M/1: P(wait) = rho, E[W] = rho/(mu - lambda), response time ~ Exp(mu - lambda).
    lam, mu = 0.7, 1.0
    assert erlang_c(1, lam / mu) == pytest.approx(0.7)
    assert mean_wait(1, lam, mu) == pytest.approx(0.7 / 0.3)
    assert response_quantile(0.95, 1, lam, mu) == pytest.approx(-math.log(0.05) / 0.3, rel=1e-9)


def test_wait_quantile_is_zero_when_most_requests_do_not_wait() -> None:
    # C(4, 1) is about 0.0154: the median, p90 and p95 waits are all 0
    assert erlang_c(4, 1.0) < 0.05
    assert wait_quantile(0.95, 4, 1.0, 1.0) == 0.0
    # and the p99 wait solves C e^{-(c mu - lambda) t} = 0.01
    c = erlang_c(4, 1.0)
    assert wait_quantile(0.99, 4, 1.0, 1.0) == pytest.approx(math.log(c / 0.01) / 3.0)


@given(
    c=st.integers(min_value=1, max_value=60),
    rho=st.floats(min_value=0.01, max_value=0.99),
)
def test_erlang_c_matches_the_direct_formula(c: int, rho: float) -> None:
    a = rho * c
    terms = math.fsum(a**k / math.factorial(k) for k in range(c))
    top = a**c / math.factorial(c) * c / (c - a)
    assert erlang_c(c, a) == pytest.approx(top / (terms + top), rel=1e-9)


@given(
    c=st.integers(min_value=1, max_value=20),
    rho=st.floats(min_value=0.05, max_value=0.95),
    p=st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_response_quantile_is_a_quantile(c: int, rho: float, p: float) -> None:
    """P(T > q) = 1 - p at the returned q (the survival function written out)."""
    mu, lam = 2.0, rho * c * 2.0
    q = response_quantile(p, c, lam, mu)
    waiting, theta = erlang_c(c, lam / mu), c * mu - lam
    if abs(theta - mu) < 1e-9:
        return
    both = (theta * math.exp(-mu * q) - mu * math.exp(-theta * q)) / (theta - mu)
    survival = (1 - waiting) * math.exp(-mu * q) + waiting * both
    assert survival == pytest.approx(1 - p, abs=1e-9)


def test_overload_needs_more_instances() -> None:
    # lambda = 10, mu = 1: 10 instances have rho = 1 (no steady state): infinite latency
    model = QueueModel(arrival=10.0, service_rate=1.0)
    assert erlang_c(10, 10.0) == 1.0
    assert model.latency(10, "mean") == math.inf
    sized = fewest_instances(
        model, target_s=1.5, statistic="mean", min_instances=2, max_instances=50
    )
    assert sized.instances > 10 and sized.meets_target
    assert sized.utilization < 1
    assert model.latency(sized.instances - 1, "mean") > 1.5 >= sized.predicted_s


def test_zero_load_gives_the_minimum() -> None:
    sized = fewest_instances(
        QueueModel(arrival=0.0, service_rate=1.0),
        target_s=0.1,
        statistic="p95",
        min_instances=3,
        max_instances=10,
    )
    assert (sized.instances, sized.meets_target) == (3, True)


def test_fewest_is_the_smallest_meeting_the_target() -> None:
    model = QueueModel(arrival=30.0, service_rate=4.0, service="fixed", service_s=1.2)
    sized = fewest_instances(
        model, target_s=1.25, statistic="mean", min_instances=1, max_instances=40
    )
    c = sized.instances
    assert model.latency(c, "mean") <= 1.25 < model.latency(c - 1, "mean")
    # the mean wait at c is C(c, a) / (c mu - lambda) on top of the fixed service time
    assert sized.predicted_s == pytest.approx(1.2 + erlang_c(c, 7.5) / (c * 4.0 - 30.0))


def test_capacity_beyond_max_is_said() -> None:
    sized = fewest_instances(
        QueueModel(arrival=100.0, service_rate=1.0),
        target_s=2.0,
        statistic="mean",
        min_instances=1,
        max_instances=20,
    )
    assert (sized.instances, sized.meets_target) == (20, False)
    assert "exceeds max" in sized.reason


def test_target_below_the_service_time_does_not_buy_every_instance() -> None:
    model = QueueModel(arrival=5.0, service_rate=2.0, service="fixed", service_s=1.0)
    sized = fewest_instances(
        model, target_s=0.5, statistic="mean", min_instances=1, max_instances=100
    )
    assert not sized.meets_target and sized.instances < 20
    assert "service time" in sized.reason


def test_invalid_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="min_instances"):
        fewest_instances(
            QueueModel(1.0, 1.0), target_s=1, statistic="mean", min_instances=3, max_instances=2
        )
