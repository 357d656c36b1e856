"""Request-rate profiles: the arrival rate λ (requests/s) as a function of simulated time.

`t` is seconds since the simulation started. Profiles are pure and deterministic; the noise of
individual intervals comes from the model's seeded `observe`.

- steady: λ = rate.
- spike: λ = base, rising linearly over `ramp` seconds to `peak` at `start`, held for
  `duration`, falling back over `ramp`; with `every`, the spike repeats with that period.
- wave (daily): λ = mean·(1 + amplitude·cos(2π(t + offset - peak_at)/period)), a day-long
  cosine with its maximum at `peak_at` seconds into the period (14:00 by default); `offset`
  is where in the period the simulation starts (the time of day, for a real-time run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

DAY = 86_400.0


class RateProfile(Protocol):
    def rate(self, t: float) -> float:
        """Arrival rate (requests/s) `t` seconds into the simulation."""
        ...


@dataclass(frozen=True, slots=True)
class Steady:
    rate_rps: float

    def rate(self, t: float) -> float:
        return self.rate_rps


@dataclass(frozen=True, slots=True)
class Spike:
    base: float
    peak: float
    start: float
    duration: float
    ramp: float = 0.0
    every: float | None = None  # repeat period (seconds); None: one spike

    def __post_init__(self) -> None:
        if self.duration < 0 or self.ramp < 0:
            raise ValueError("duration and ramp must be >= 0")
        if self.every is not None and self.every < self.duration + 2 * self.ramp:
            raise ValueError("every must be >= duration + 2 * ramp (spikes cannot overlap)")

    def rate(self, t: float) -> float:
        x = t - self.start
        if self.every is not None and x >= 0:
            x %= self.every
        lift = self.peak - self.base
        if x < -self.ramp or x >= self.duration + self.ramp:
            return self.base
        if x < 0:  # rising
            return self.base + lift * (1.0 + x / self.ramp)
        if x < self.duration:
            return self.peak
        return self.base + lift * (1.0 - (x - self.duration) / self.ramp)  # falling

    def in_spike(self, t: float) -> bool:
        """Whether `t` is inside a spike's plateau."""
        x = t - self.start
        if self.every is not None and x >= 0:
            x %= self.every
        return 0 <= x < self.duration


@dataclass(frozen=True, slots=True)
class DailyWave:
    mean: float
    amplitude: float = 0.5  # relative: 0.5 swings between 0.5·mean and 1.5·mean
    period: float = DAY
    peak_at: float = 14 * 3600.0
    offset: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.amplitude <= 1:
            raise ValueError("amplitude must be within 0..1 (a rate cannot go negative)")
        if self.period <= 0:
            raise ValueError("period must be > 0")

    def rate(self, t: float) -> float:
        phase = 2.0 * math.pi * (t + self.offset - self.peak_at) / self.period
        return self.mean * (1.0 + self.amplitude * math.cos(phase))


PROFILE_NAMES = ("steady", "spike", "wave")


def make_profile(
    name: str,
    *,
    rate: float,
    peak: float,
    spike_at: float = 60.0,
    spike_for: float = 120.0,
    every: float | None = None,
    offset: float = 0.0,
) -> RateProfile:
    """A profile by name, from the CLI's few numbers (`rate` is the base or mean rate)."""
    if name == "steady":
        return Steady(rate)
    if name == "spike":
        return Spike(rate, peak, spike_at, spike_for, ramp=min(5.0, spike_for / 4), every=every)
    if name == "wave":
        amplitude = min(1.0, max(0.0, (peak - rate) / rate)) if rate > 0 else 0.0
        return DailyWave(rate, amplitude=amplitude, offset=offset)
    raise ValueError(f"unknown profile {name!r}: use one of {', '.join(PROFILE_NAMES)}")
