"""The model's inputs are recovered from samples a known M/M/c service would report."""

from __future__ import annotations

import pytest

from perfpilot.engine.windows import percentile_cont
from perfpilot.sizing.erlang import mean_wait
from perfpilot.sizing.estimate import CannotSize, Observed, estimate


def test_batched_service_read_from_cpu_and_latency() -> None:
    lam, mu, service_s, c = 12.0, 4.0, 1.2, 4  # rho = 0.75
    latency_ms = (service_s + mean_wait(c, lam, mu)) * 1000
    fitted = estimate(
        Observed(
            throughput=[lam] * 12,
            latency=[latency_ms] * 12,
            cpu=[100 * lam / (c * mu)] * 12,
            instances=c,
        )
    )
    assert fitted.model.service == "fixed"
    assert fitted.model.arrival == pytest.approx(lam)
    assert fitted.model.service_rate == pytest.approx(mu)
    assert fitted.model.service_s == pytest.approx(service_s)
    assert fitted.inputs["samples"] == {"throughput": 12, "latency": 12, "cpu": 12, "errorRate": 0}


HISTORY = [1210.0 + 5 * (i % 7) for i in range(30)] + [9000.0] * 6


def test_newest_half_of_the_window_is_read() -> None:
    # calm then a spike: the rates are the spike's
    fitted = estimate(
        Observed(
            throughput=[5.0] * 4 + [8.0] * 4,
            latency=[1300.0] * 4 + [9000.0] * 4,
            cpu=[60.0] * 4 + [100.0] * 4,
            history_latency=HISTORY,
            instances=2,
        )
    )
    assert fitted.model.arrival == pytest.approx(8.0)
    assert fitted.model.service_rate == pytest.approx(4.0)


def test_saturated_service_reads_arrivals_through_errors_and_service_time_from_history() -> None:
    # 4 instances x 4 rps carried at 100 % cpu; a fifth of the arrivals fail (timeouts)
    fitted = estimate(
        Observed(
            throughput=[16.0] * 6,
            latency=[9000.0] * 6,
            cpu=[100.0] * 6,
            error_rate=[0.2] * 6,
            history_latency=HISTORY,
            instances=4,
        )
    )
    assert fitted.model.arrival == pytest.approx(20.0)
    assert fitted.model.service_rate == pytest.approx(4.0)
    assert fitted.model.service_s == pytest.approx(percentile_cont(sorted(HISTORY), 0.05) / 1000)
    assert "history" in fitted.inputs["serviceTimeBasis"]


def test_textbook_service_rate_solved_from_latency() -> None:
    lam, mu, c = 3.0, 2.0, 2
    latency_ms = (1 / mu + mean_wait(c, lam, mu)) * 1000
    fitted = estimate(Observed(throughput=[lam], latency=[latency_ms], instances=c))
    assert fitted.model.service == "exponential"
    assert fitted.model.service_rate == pytest.approx(mu, rel=1e-6)


def test_missing_throughput_is_said() -> None:
    with pytest.raises(CannotSize, match="no throughput"):
        estimate(Observed(throughput=[], latency=[100.0]))
