"""Request-rate profiles as functions of simulated time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from perfpilot.simulator.profiles import DAY, DailyWave, Spike, Steady, make_profile


@given(t=st.floats(min_value=0, max_value=1e7))
def test_steady_is_constant(t: float) -> None:
    assert Steady(5.0).rate(t) == 5.0


def test_spike_ramps_holds_and_falls_back() -> None:
    spike = Spike(base=4.0, peak=12.0, start=60.0, duration=100.0, ramp=10.0)
    assert spike.rate(0.0) == 4.0
    assert spike.rate(49.9) == 4.0
    assert spike.rate(55.0) == pytest.approx(8.0)  # half-way up
    assert spike.rate(60.0) == 12.0
    assert spike.rate(159.9) == 12.0
    assert spike.rate(165.0) == pytest.approx(8.0)  # half-way down
    assert spike.rate(170.0) == 4.0
    assert spike.in_spike(60.0) and not spike.in_spike(160.0)


def test_spike_without_ramp_is_a_step() -> None:
    spike = Spike(base=5.0, peak=12.0, start=40.0, duration=30.0)
    assert [spike.rate(t) for t in (39.0, 40.0, 69.0, 70.0)] == [5.0, 12.0, 12.0, 5.0]


def test_a_repeating_spike_recurs_every_period() -> None:
    spike = Spike(base=4.0, peak=11.0, start=20.0, duration=150.0, ramp=5.0, every=420.0)
    for t in (0.0, 30.0, 100.0, 172.0, 300.0):
        assert spike.rate(t + 420.0) == pytest.approx(spike.rate(t) if t >= 15.0 else 4.0)
    with pytest.raises(ValueError, match="overlap"):
        Spike(base=1.0, peak=2.0, start=0.0, duration=100.0, ramp=10.0, every=110.0)


@given(t=st.floats(min_value=0, max_value=10 * DAY))
def test_daily_wave_stays_within_its_amplitude(t: float) -> None:
    wave = DailyWave(mean=10.0, amplitude=0.5)
    assert 5.0 - 1e-9 <= wave.rate(t) <= 15.0 + 1e-9


def test_daily_wave_peaks_at_its_hour_and_averages_its_mean() -> None:
    wave = DailyWave(mean=10.0, amplitude=0.5, peak_at=14 * 3600.0)
    assert wave.rate(14 * 3600.0) == pytest.approx(15.0)
    assert wave.rate(2 * 3600.0) == pytest.approx(5.0)  # twelve hours later: the trough
    hourly = [wave.rate(h * 3600.0) for h in range(24)]
    assert sum(hourly) / 24 == pytest.approx(10.0)
    # started at 13:00 of the day: one hour in is the peak
    assert DailyWave(mean=10.0, offset=13 * 3600.0).rate(3600.0) == pytest.approx(15.0)


def test_make_profile_by_name() -> None:
    assert isinstance(make_profile("steady", rate=3, peak=9), Steady)
    spike = make_profile("spike", rate=3, peak=9, spike_at=10, spike_for=20)
    assert isinstance(spike, Spike) and spike.rate(15) == 9
    wave = make_profile("wave", rate=4, peak=6)
    assert isinstance(wave, DailyWave) and wave.amplitude == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown profile"):
        make_profile("sawtooth", rate=1, peak=2)
