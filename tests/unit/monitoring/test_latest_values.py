"""The latest-value table behind root /metrics: newest value wins, silent series go, and the
number of series never passes its cap."""

from __future__ import annotations

from prometheus_client import generate_latest

from perfpilot.monitoring.telemetry import LatestValues, Telemetry


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def series(latest: LatestValues) -> dict[tuple[str, str], float]:
    return {key: value for key, value, _ in latest.snapshot()}


def test_the_newest_sample_wins_and_a_late_one_keeps_the_series_alive() -> None:
    clock = Clock()
    latest = LatestValues(silent_seconds=300, clock=clock)
    latest.update("a", "latency", 10.0, ts=500.0)
    latest.update("a", "latency", 99.0, ts=400.0)  # older sample, arrives later
    assert series(latest) == {("a", "latency"): 10.0}
    clock.now += 250
    latest.update("a", "latency", 98.0, ts=450.0)  # late again: not newer, but not silent
    clock.now += 250
    assert series(latest) == {("a", "latency"): 10.0}


def test_series_silent_past_the_horizon_are_evicted() -> None:
    clock = Clock()
    latest = LatestValues(silent_seconds=300, clock=clock)
    latest.update("quiet", "latency", 1.0, ts=1.0)
    latest.update("quiet", "cpu", 2.0, ts=1.0)
    clock.now += 200
    latest.update("busy", "latency", 3.0, ts=2.0)
    clock.now += 100  # quiet: exactly 300 s silent, still there
    assert set(series(latest)) == {("quiet", "latency"), ("quiet", "cpu"), ("busy", "latency")}
    clock.now += 1
    assert set(series(latest)) == {("busy", "latency")}
    latest.update("busy", "cpu", 4.0, ts=3.0)
    clock.now += 250  # busy/latency silent for 351 s, busy/cpu for 250 s
    assert series(latest) == {("busy", "cpu"): 4.0}
    clock.now += 51
    assert series(latest) == {}
    assert len(latest) == 0


def test_the_cap_keeps_the_most_recently_updated_series() -> None:
    clock = Clock()
    latest = LatestValues(max_series=3, silent_seconds=300, clock=clock)
    for i in range(10):
        clock.now += 1
        latest.update(f"svc-{i}", "latency", float(i), ts=float(i))
        assert len(latest) <= 3
    latest.update("svc-7", "cpu", 1.0, ts=1.0)  # a new series pushes out the oldest
    assert set(series(latest)) == {("svc-8", "latency"), ("svc-9", "latency"), ("svc-7", "cpu")}
    latest.update("svc-8", "latency", 8.5, ts=8.5)  # an update of a kept one evicts nothing
    assert set(series(latest)) == {("svc-8", "latency"), ("svc-9", "latency"), ("svc-7", "cpu")}


def test_exposition_is_bounded_and_counts_what_it_dropped() -> None:
    telemetry = Telemetry(max_series=100, silent_seconds=300)
    clock = Clock()
    telemetry.latest.clock = clock
    for i in range(20_000):
        telemetry.latest.update(f"service-{i:05d}", "latency", float(i), ts=float(i))
    text = generate_latest(telemetry.registry).decode()
    values = [
        line for line in text.splitlines() if line.startswith("perfpilot_service_metric_value")
    ]
    assert len(values) == 100
    assert (
        'perfpilot_service_metric_value{metric_type="latency",service="service-19999"} 19999.0'
        in values
    )
    assert 'perfpilot_service_series_evicted_total{reason="cap"} 19900.0' in text
    clock.now += 301
    text = generate_latest(telemetry.registry).decode()
    assert "perfpilot_service_metric_value{" not in text
    assert 'perfpilot_service_series_evicted_total{reason="silent"} 100.0' in text
