"""M/M/c with Erlang C: waiting probability, waiting time and response-time quantiles, and the
fewest servers that meet a latency target. Pure: numbers in, numbers out; times in seconds.

c servers (instances), arrivals Poisson at rate λ, each server completes μ requests/s, offered
load a = λ/μ, utilisation rho = a/c. For rho < 1 a request waits with probability C(c, a) (Erlang
C); a waiting request waits Exp(cμ - λ), so P(W > t) = C·e^(-(cμ-λ)t) and E[W] = C/(cμ - λ).

The response time is T = S + W. `service` says what S is:
- "exponential": S ~ Exp(μ), the textbook M/M/c (a server handles one request at a time,
  mean service time 1/μ);
- "fixed": S is a measured constant `service_s` (an LLM server batches: one instance
  completes μ requests/s while each takes `service_s` ≫ 1/μ), so T's quantiles are
  service_s + W's quantiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

ServiceKind = Literal["exponential", "fixed"]
Statistic = Literal["mean", "p50", "p90", "p95", "p99"]

QUANTILE_OF: dict[str, float] = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of M/M/c/c by the stable recursion B(k) = aB(k-1)/(k + aB(k-1))."""
    if c < 0 or a < 0:
        raise ValueError("need c >= 0 and a >= 0")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """P(wait > 0) in M/M/c with offered load a (Erlangs); 1.0 when a >= c (no steady state)."""
    if c < 1:
        raise ValueError("need at least one server")
    if a <= 0:
        return 0.0
    if a >= c:
        return 1.0
    b = erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))


def mean_wait(c: int, arrival: float, service_rate: float) -> float:
    """E[W] = C(c, a)/(cμ - λ) in seconds; inf when λ ≥ cμ."""
    if arrival <= 0:
        return 0.0
    if arrival >= c * service_rate:
        return math.inf
    return erlang_c(c, arrival / service_rate) / (c * service_rate - arrival)


def wait_quantile(p: float, c: int, arrival: float, service_rate: float) -> float:
    """The p-quantile of the waiting time: 0 while P(W > 0) ≤ 1 - p, else ln(C/(1-p))/(cμ-λ)."""
    if arrival <= 0:
        return 0.0
    if arrival >= c * service_rate:
        return math.inf
    waiting = erlang_c(c, arrival / service_rate)
    if waiting <= 1.0 - p:
        return 0.0
    return math.log(waiting / (1.0 - p)) / (c * service_rate - arrival)


def _response_survival(t: float, c: int, arrival: float, mu: float) -> float:
    """P(T > t) for exponential service: (1-C)e^(-μt) + C·P(Exp(θ) + Exp(μ) > t), θ = cμ - λ."""
    waiting = erlang_c(c, arrival / mu) if arrival > 0 else 0.0
    theta = c * mu - arrival
    if abs(theta - mu) < 1e-12 * mu:
        both = (1.0 + mu * t) * math.exp(-mu * t)
    else:
        both = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return (1.0 - waiting) * math.exp(-mu * t) + waiting * both


def response_quantile(p: float, c: int, arrival: float, mu: float) -> float:
    """The p-quantile of T = S + W with S ~ Exp(μ), by bisection on P(T > t) = 1 - p."""
    if arrival >= c * mu:
        return math.inf
    low, high = 0.0, 1.0 / mu
    while _response_survival(high, c, arrival, mu) > 1.0 - p:
        high *= 2.0
    for _ in range(100):
        mid = (low + high) / 2.0
        if _response_survival(mid, c, arrival, mu) > 1.0 - p:
            low = mid
        else:
            high = mid
    return high


@dataclass(frozen=True, slots=True)
class QueueModel:
    """What the model needs: λ (requests/s), μ per instance (requests/s), and S."""

    arrival: float
    service_rate: float
    service: ServiceKind = "exponential"
    service_s: float | None = None  # "fixed": the measured service time

    def latency(self, c: int, statistic: Statistic) -> float:
        """The predicted response-time statistic with c instances, seconds (inf if rho ≥ 1)."""
        if c < 1 or self.arrival >= c * self.service_rate:
            return math.inf
        if self.service == "fixed":
            base = self.service_s or 0.0
            if statistic == "mean":
                return base + mean_wait(c, self.arrival, self.service_rate)
            return base + wait_quantile(QUANTILE_OF[statistic], c, self.arrival, self.service_rate)
        if statistic == "mean":
            return 1.0 / self.service_rate + mean_wait(c, self.arrival, self.service_rate)
        if self.arrival <= 0:
            return -math.log(1.0 - QUANTILE_OF[statistic]) / self.service_rate
        return response_quantile(QUANTILE_OF[statistic], c, self.arrival, self.service_rate)


@dataclass(frozen=True, slots=True)
class Sizing:
    instances: int
    predicted_s: float  # the statistic at `instances` (inf when even max cannot carry λ)
    utilization: float  # rho at `instances`
    meets_target: bool
    reason: str


def fewest_instances(
    model: QueueModel,
    *,
    target_s: float,
    statistic: Statistic,
    min_instances: int,
    max_instances: int,
) -> Sizing:
    """The smallest c in [min, max] whose predicted statistic ≤ target.

    No load: min. When no c up to max meets the target: max if the load needs it, else
    the smallest c within 1 % of the no-queue latency (more instances would not help).
    """
    if min_instances < 1 or max_instances < min_instances:
        raise ValueError("need 1 <= min_instances <= max_instances")
    if model.service_rate <= 0:
        raise ValueError("service rate must be positive")

    def sized(c: int, meets: bool, reason: str) -> Sizing:
        rho = model.arrival / (c * model.service_rate)
        return Sizing(c, model.latency(c, statistic), rho, meets, reason)

    if model.arrival <= 0:
        return sized(min_instances, True, "no load: the minimum")
    for c in range(min_instances, max_instances + 1):
        if model.latency(c, statistic) <= target_s:
            return sized(c, True, f"fewest instances with predicted {statistic} <= target")
    # no c meets the target: does max even carry the load?
    if model.arrival >= max_instances * model.service_rate:
        return sized(max_instances, False, "load exceeds max instances' capacity")
    floor = model.latency(
        10 * max_instances + math.ceil(model.arrival / model.service_rate), statistic
    )
    for c in range(min_instances, max_instances + 1):
        if model.latency(c, statistic) <= floor * 1.01:
            return sized(
                c, False, "target below the service time itself: more instances would not help"
            )
    return sized(max_instances, False, "target not reachable within max instances")
