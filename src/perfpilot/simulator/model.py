"""How the simulated LLM service behaves: a stated queueing model. Pure: numbers in, numbers out.

Rates are per second, times in seconds unless a name ends in ``_ms``.

Traffic. Requests arrive at rate λ (a profile of sim time). A share h of them is answered from
the response cache (``cache_latency_ms``, no model capacity, no token cost); the model gets
λm = λ·(1 - h). After a ``cache_clear`` the hit rate refills: h(t) = h0·(1 - e^(-t/τ)).

Queue. Each ready instance is one server of an M/M/c/K queue: c = ready instances, service
rate μ = the model's ``capacity_rps`` (an LLM server batches requests, so one instance serves
many more requests per second than 1/latency), offered load a = λm/μ, utilisation rho = a/c.
The waiting room holds K = ⌈c·μ·T⌉ requests, T the queue timeout: a request that would wait
longer than T times out. With an unbounded room and rho < 1 this is Erlang C's M/M/c,
P(wait) = C(c, a) and Wq = C(c, a)/(c·μ - λm); the finite room keeps the model defined in
overload (rho ≥ 1): the queue fills, Wq approaches T (latency is capped) and the blocking
probability P_K approaches 1 - 1/rho (the timeouts become the error rate).

Per request on the model path: latency = model latency + Wq; an attempt fails with probability
e = 1 - (1 - model error)(1 - P_K). With a retry policy of r retries and backoff b, a request
fails only when all r + 1 attempts fail, error = e^(r+1); it costs E[attempts] = Σ_{k≤r} e^k
attempts, so latency x E[attempts] + b·(E[attempts] - 1), and the model sees λm·E[attempts]
(one fixed-point step: e from the load without retries, then the queue again with retries).

Reported, per sample interval (means over the interval's requests):
latency = h·cache latency + (1 - h)·model-path latency; error_rate = (1 - h)·error;
success_rate = 1 - error_rate; throughput = λ·(1 - error_rate) answered requests/s;
cpu = carried model load / (c·μ) in percent; accuracy = the serving model's accuracy;
cost = model attempts carried x tokens/1000 x price (USD per second); memory = c x the model's
memory per instance + the cache's memory in proportion to its fill.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One LLM: its speed, quality and price."""

    name: str
    latency_ms: float  # generation time of a typical answer, without queueing
    capacity_rps: float  # requests one instance serves per second (μ)
    accuracy: float  # ratio 0..1
    price_per_1k_tokens: float  # USD
    error_rate: float  # failures per attempt when not overloaded
    memory_mb: float  # per instance


MODELS: Final[dict[str, ModelSpec]] = {
    spec.name: spec
    for spec in (
        ModelSpec("gpt-xl", 4500.0, 1.5, 0.95, 0.06, 0.004, 80_000.0),
        ModelSpec("gpt-large", 1200.0, 4.0, 0.92, 0.03, 0.005, 40_000.0),
        ModelSpec("small-fast", 350.0, 12.0, 0.84, 0.002, 0.008, 8_000.0),
    )
}


@dataclass(frozen=True, slots=True)
class Conditions:
    """Everything the service's behaviour at one moment depends on."""

    arrival_rps: float
    instances: int  # ready (serving) instances
    model: ModelSpec
    max_retries: int = 0
    backoff_ms: float = 0.0
    cache_hit_rate: float = 0.0
    cache_fill: float = 1.0  # h / h0: how warm the cache is
    cache_latency_ms: float = 30.0
    cache_memory_mb: float = 2_000.0
    queue_timeout_ms: float = 10_000.0
    tokens_per_request: float = 500.0


@dataclass(frozen=True, slots=True)
class Expected:
    """Noise-free expected metrics of one moment, in Perfpilot's canonical units."""

    latency_ms: float
    throughput_rps: float
    accuracy: float
    cost_usd_per_s: float
    memory_mb: float
    cpu_percent: float
    error_rate: float
    success_rate: float
    utilization: float  # rho = offered model load / capacity (may exceed 1)
    queue_wait_ms: float
    timeout_share: float  # P_K: attempts that time out in the queue


@dataclass(frozen=True, slots=True)
class QueueState:
    """Steady state of an M/M/c/K queue."""

    wait_s: float  # mean wait of admitted requests (Wq)
    blocking: float  # P_K: share of arrivals turned away (timeouts)
    utilization: float  # carried load / c, 0..1


def erlang_c(servers: int, offered_load: float) -> float:
    """C(c, a): probability that an arrival waits in an M/M/c queue (1.0 when a ≥ c).

    Computed through the Erlang B recursion B(k) = a·B(k-1)/(k + a·B(k-1)), which stays
    stable for large c, and C = c·B/(c - a·(1 - B)).
    """
    if servers < 1:
        raise ValueError("servers must be >= 1")
    if offered_load < 0:
        raise ValueError("offered_load must be >= 0")
    if offered_load >= servers:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):
        b = offered_load * b / (k + offered_load * b)
    return servers * b / (servers - offered_load * (1.0 - b))


def mmc_wait(arrival_rps: float, service_rps: float, servers: int) -> float:
    """Erlang C mean wait Wq = C(c, a)/(c·μ - λ) of an M/M/c queue; inf when rho ≥ 1."""
    capacity = servers * service_rps
    if arrival_rps >= capacity:
        return math.inf
    return erlang_c(servers, arrival_rps / service_rps) / (capacity - arrival_rps)


def mmck_queue(arrival_rps: float, service_rps: float, servers: int, room: int) -> QueueState:
    """M/M/c/K with `room` waiting places: mean wait of admitted requests, blocking, load.

    State probabilities p_n ∝ a^n/n! for n ≤ c and p_c·rho^(n-c) above, normalised in log
    space so that a deep overload (rho^K) cannot overflow.
    """
    if servers < 1 or service_rps <= 0 or room < 0 or arrival_rps < 0:
        raise ValueError("need servers >= 1, service_rps > 0, room >= 0, arrival_rps >= 0")
    a = arrival_rps / service_rps
    if a == 0:  # no arrivals (or too few to represent)
        return QueueState(0.0, 0.0, 0.0)
    log_a, log_rho = math.log(a), math.log(a / servers)
    logs = [0.0]
    for n in range(1, servers + 1):
        logs.append(logs[-1] + log_a - math.log(n))
    for _ in range(room):
        logs.append(logs[-1] + log_rho)
    top = max(logs)
    weights = [math.exp(v - top) for v in logs]
    total = math.fsum(weights)
    blocking = weights[-1] / total
    queued = math.fsum((n - servers) * w for n, w in enumerate(weights) if n > servers) / total
    admitted = arrival_rps * (1.0 - blocking)
    wait = queued / admitted if admitted > 0 else 0.0
    return QueueState(wait, blocking, min(1.0, admitted / (servers * service_rps)))


def waiting_room(servers: int, service_rps: float, timeout_s: float) -> int:
    """K = ⌈c·μ·T⌉: the requests that can wait without exceeding the timeout."""
    return max(0, math.ceil(servers * service_rps * timeout_s - 1e-9))


def _model_queue(c: Conditions, model_rps: float) -> QueueState:
    timeout_s = c.queue_timeout_ms / 1000.0
    room = waiting_room(c.instances, c.model.capacity_rps, timeout_s)
    return mmck_queue(model_rps, c.model.capacity_rps, c.instances, room)


def expected_attempts(failure: float, max_retries: int) -> float:
    """E[attempts] = Σ_{k=0..r} e^k when each attempt fails independently with probability e."""
    return math.fsum(failure**k for k in range(max_retries + 1))


def expected_metrics(c: Conditions) -> Expected:
    """The service's expected metrics under `c` (see the module docstring for the model)."""
    model = c.model
    hit = min(max(c.cache_hit_rate, 0.0), 1.0)
    model_rps = c.arrival_rps * (1.0 - hit)
    timeout_s = c.queue_timeout_ms / 1000.0
    if c.instances < 1:  # nothing serves: every model request times out
        queue = QueueState(timeout_s, 1.0 if model_rps > 0 else 0.0, 0.0)
        first = queue
    else:
        first = _model_queue(c, model_rps)
        e_first = 1.0 - (1.0 - model.error_rate) * (1.0 - first.blocking)
        amplified = model_rps * expected_attempts(e_first, c.max_retries)
        queue = _model_queue(c, amplified) if c.max_retries else first
    e = 1.0 - (1.0 - model.error_rate) * (1.0 - queue.blocking)
    attempts = expected_attempts(e, c.max_retries)
    single_ms = model.latency_ms + queue.wait_s * 1000.0
    model_path_ms = single_ms * attempts + c.backoff_ms * (attempts - 1.0)
    error = (1.0 - hit) * e ** (c.max_retries + 1)
    latency = hit * c.cache_latency_ms + (1.0 - hit) * model_path_ms
    capacity = max(c.instances, 0) * model.capacity_rps
    offered = model_rps * attempts
    carried_rps = offered * (1.0 - queue.blocking)
    cost = carried_rps * c.tokens_per_request / 1000.0 * model.price_per_1k_tokens
    fill = min(max(c.cache_fill, 0.0), 1.0)
    return Expected(
        latency_ms=latency,
        throughput_rps=c.arrival_rps * (1.0 - error),
        accuracy=model.accuracy,
        cost_usd_per_s=cost,
        memory_mb=max(c.instances, 0) * model.memory_mb + c.cache_memory_mb * fill,
        cpu_percent=100.0 * queue.utilization,
        error_rate=error,
        success_rate=1.0 - error,
        utilization=offered / capacity if capacity > 0 else math.inf,
        queue_wait_ms=queue.wait_s * 1000.0,
        timeout_share=queue.blocking,
    )


def cache_hit_rate(base_rate: float, *, since_clear: float | None, recovery_s: float) -> float:
    """h0·(1 - e^(-t/τ)) t seconds after a cache clear; h0 when never cleared."""
    if since_clear is None or recovery_s <= 0:
        return base_rate
    return base_rate * (1.0 - math.exp(-max(since_clear, 0.0) / recovery_s))


@dataclass(frozen=True, slots=True)
class Noise:
    """Relative spread of each reported figure (log-normal), and of request counts (Poisson)."""

    latency: float = 0.02
    cpu: float = 0.02
    memory: float = 0.005
    accuracy: float = 0.005
    errors: float = 0.10


def observe(
    expected: Expected, *, arrival_rps: float, interval_s: float, rng: random.Random, noise: Noise
) -> dict[str, float]:
    """One interval's reported values: the expected ones with seeded noise.

    Draws exactly six numbers from `rng` whatever the inputs, so a run's noise depends only on
    the seed and the number of intervals, not on the state the service was in.
    """
    z_latency, z_cpu, z_memory, z_accuracy, z_errors, z_count = (
        rng.gauss(0.0, 1.0) for _ in "123456"
    )
    mean_count = arrival_rps * interval_s
    count = max(0.0, mean_count + math.sqrt(mean_count) * z_count)  # Poisson, normal approx.
    load = count / mean_count if mean_count > 0 else 0.0  # this interval's traffic vs expected
    error = min(1.0, expected.error_rate * math.exp(noise.errors * z_errors))
    return {
        "latency": expected.latency_ms * math.exp(noise.latency * z_latency),
        "throughput": count / interval_s * (1.0 - error),
        "accuracy": min(1.0, expected.accuracy * math.exp(noise.accuracy * z_accuracy)),
        "cost": expected.cost_usd_per_s * interval_s * load,
        "memory": expected.memory_mb * math.exp(noise.memory * z_memory),
        "cpu": min(100.0, expected.cpu_percent * math.exp(noise.cpu * z_cpu)),
        "error_rate": error,
        "success_rate": 1.0 - error,
    }
