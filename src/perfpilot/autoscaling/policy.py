"""The Kubernetes HPA rule, with its scale-down stabilisation window. Pure and clocked."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    min_instances: int
    max_instances: int
    target_utilization: float
    scale_up_threshold: float
    scale_down_threshold: float
    cooldown_period: float


def hpa_desired(current: int, utilization: float, policy: ScalingPolicy) -> int:
    """ceil(instances * u / target), clamped; unchanged while u is inside the dead band."""
    if policy.scale_down_threshold <= utilization <= policy.scale_up_threshold:
        return max(policy.min_instances, min(policy.max_instances, current))
    desired = math.ceil(current * utilization / policy.target_utilization - 1e-9)
    return max(policy.min_instances, min(policy.max_instances, desired))


class Stabilizer:
    """Scale up at once; scale down only to the highest recommendation of the last
    `cooldown_period` seconds (HPA's stabilisation window), so an oscillating load does
    not make instances flap."""

    def __init__(self) -> None:
        self._history: dict[str, deque[tuple[float, int]]] = {}

    def decide(
        self, service: str, *, current: int, recommended: int, now: float, window: float
    ) -> int:
        history = self._history.setdefault(service, deque())
        history.append((now, recommended))
        while history and history[0][0] < now - window:
            history.popleft()
        if recommended >= current:
            return recommended
        highest = max(r for _, r in history)
        return min(current, highest)

    def forget(self, service: str) -> None:
        self._history.pop(service, None)
