"""The queueing model's inputs estimated from a service's stored samples. Pure.

Every rate is read over the newest half of the window's samples, so that a load that has just
risen is read at its new level rather than averaged with the calm before it.
- Arrival rate λ: the mean reported throughput (answered requests/s), divided by the success
  share (1 - mean error_rate) when error_rate is reported: failed requests arrived too, and an
  overloaded service fails the ones it cannot carry.
- Per-instance service rate μ and service time S, by what the data holds:
  - cpu reported ("throughput per busy instance"): μ = throughput / (instances x cpu/100);
    S is fixed (an LLM server batches, so a request takes S >> 1/μ): the smaller of mean
    latency - E[W] at the current instances (while utilisation < 0.9) and the 5th percentile
    of the history window's latency (the latency when nothing queued);
  - latency only (textbook M/M/c): μ is the rate at which M/M/c with the current instances and
    λ reproduces the measured mean latency (1/μ + E[W] = latency), S ~ Exp(μ).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from perfpilot.engine.windows import percentile_cont
from perfpilot.sizing.erlang import QueueModel, ServiceKind, mean_wait

SATURATED = 0.9  # above this utilisation the latency is mostly queue: S is read from history


class CannotSize(Exception):
    """The data does not hold what the model needs; the message says what is missing."""


@dataclass(frozen=True, slots=True)
class Observed:
    """A window of a service's samples (canonical units: rps, ratio, percent, ms)."""

    throughput: Sequence[float]
    latency: Sequence[float]
    cpu: Sequence[float] = ()
    error_rate: Sequence[float] = ()
    history_latency: Sequence[float] = ()  # a longer window, for the unqueued latency
    instances: int = 1
    window_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Estimate:
    model: QueueModel
    inputs: dict[str, Any]


def _mean(values: Sequence[float]) -> float:
    """The mean of the newest half of time-ordered samples."""
    recent = values[len(values) // 2 :]
    return math.fsum(recent) / len(recent)


def _solve_service_rate(arrival: float, instances: int, latency_s: float) -> float:
    """μ with 1/μ + E[W](c, λ, μ) = latency: the left side falls as μ grows (bisection)."""
    low = arrival / instances * (1 + 1e-9) if arrival > 0 else 1e-9
    high = max(2.0 / latency_s, low * 2)
    while 1.0 / high + mean_wait(instances, arrival, high) > latency_s:
        high *= 2.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if 1.0 / mid + mean_wait(instances, arrival, mid) > latency_s:
            low = mid
        else:
            high = mid
    return high


def estimate(observed: Observed) -> Estimate:
    """The model's λ, μ and S from the samples, with the basis of each; CannotSize if short."""
    o = observed
    if not o.throughput:
        raise CannotSize(f"no throughput samples in the last {o.window_s:g}s")
    if not o.latency:
        raise CannotSize(f"no latency samples in the last {o.window_s:g}s")
    answered = _mean(o.throughput)
    arrival, arrival_basis = answered, "mean throughput"
    if o.error_rate:
        errors = min(max(_mean(o.error_rate), 0.0), 0.99)
        arrival = answered / (1.0 - errors)
        arrival_basis = f"mean throughput / (1 - mean error_rate {errors:.4f})"
    latency_s = _mean(o.latency) / 1000.0
    service: ServiceKind
    inputs: dict[str, Any] = {
        "queueModel": "M/M/c (Erlang C)",
        "windowSeconds": o.window_s,
        "samples": {
            "throughput": len(o.throughput),
            "latency": len(o.latency),
            "cpu": len(o.cpu),
            "errorRate": len(o.error_rate),
        },
        "currentInstances": o.instances,
        "arrivalRps": arrival,
        "arrivalBasis": arrival_basis,
        "measuredLatencyMs": latency_s * 1000.0,
    }
    busy = _mean(o.cpu) / 100.0 if o.cpu else 0.0
    if busy > 0 and answered > 0:
        utilisation = min(busy, 1.0)
        mu = answered / (o.instances * utilisation)
        service = "fixed"
        service_s = latency_s - mean_wait(o.instances, answered, mu)
        basis = "mean latency - E[W] at the current instances"
        if utilisation >= SATURATED or not math.isfinite(service_s) or service_s <= 0:
            service_s = math.inf
        if o.history_latency:
            unqueued = percentile_cont(sorted(o.history_latency), 0.05) / 1000.0
            if unqueued < service_s:
                service_s = unqueued
                basis = "5th percentile of the history window's latency"
        if not math.isfinite(service_s):
            raise CannotSize("saturated and no latency history to read the service time")
        inputs |= {
            "serviceRatePerInstance": mu,
            "serviceRateBasis": "throughput / (instances x cpu) (throughput per busy instance)",
            "serviceTimeMs": service_s * 1000.0,
            "serviceTimeBasis": basis,
            "serviceDistribution": "fixed (batched: S >> 1/mu)",
        }
        return Estimate(QueueModel(arrival, mu, "fixed", service_s), inputs)
    if latency_s <= 0:
        raise CannotSize("mean latency is 0: no service time to model")
    # no load: nothing queues, the latency is the service time itself
    mu = 1.0 / latency_s if answered <= 0 else _solve_service_rate(answered, o.instances, latency_s)
    service = "exponential"
    inputs |= {
        "serviceRatePerInstance": mu,
        "serviceRateBasis": "M/M/c with the current instances reproducing the mean latency",
        "serviceTimeMs": 1000.0 / mu,
        "serviceTimeBasis": "1/mu",
        "serviceDistribution": "exponential",
    }
    return Estimate(QueueModel(arrival, mu, service), inputs)
