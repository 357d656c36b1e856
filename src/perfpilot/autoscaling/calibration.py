"""The service rate and service time a service showed at a steady instance count, per service.

Model sizing reads μ as throughput per busy instance (sizing/estimate.py) with the current
instance count. When the window spans a change of instances, its samples mix two capacities
(and the new instances serve only after their start-up), so μ read with the new count is
wrong — and every scale-up would read a smaller μ and ask for more (2 → 3 → 6 → 8). So μ and
S are taken from a window in which the instance count held throughout and the service was not
saturated, and kept for the ticks whose window spans a change. In memory, like the
stabiliser: after a restart the first steady window measures them again.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfpilot.sizing.erlang import QueueModel


@dataclass(frozen=True, slots=True)
class Measured:
    model: QueueModel  # μ and S (its arrival is the one of the steady window)
    instances: int
    at: float


class Calibration:
    def __init__(self) -> None:
        self._held: dict[str, tuple[int, float]] = {}  # instances, since when
        self._measured: dict[str, Measured] = {}

    def steady(self, service: str, *, instances: int, now: float, window: float) -> bool:
        """Whether the instance count has held for the whole window (tracked per tick)."""
        held = self._held.get(service)
        if held is None or held[0] != instances:
            self._held[service] = (instances, now)
            return False
        return now - held[1] >= window

    def remember(self, service: str, model: QueueModel, *, instances: int, at: float) -> None:
        self._measured[service] = Measured(model, instances, at)

    def get(self, service: str) -> Measured | None:
        return self._measured.get(service)

    def forget(self, service: str) -> None:
        self._held.pop(service, None)
        self._measured.pop(service, None)
