"""The simulation loop: step the model, push batches, follow the desired state.

Time. Simulated time advances in steps of `sample_interval`; a `SimClock` maps it to the wall
clock, `speed` simulated seconds per wall second. Perfpilot evaluates rules and measures
actions on sample timestamps and rejects timestamps more than 5 minutes ahead of its clock, so
a compressed run (speed > 1) is placed in the past: it starts at now - duration·(1 - 1/speed)
and ends at about now (`SimClock.compressed`), and no step is ever emitted with a timestamp
after the wall clock (the loop waits instead). A real-time run (speed 1) starts now.

Each step (interval (t - dt, t], samples stamped t):
1. follow the desired state: poll GET /services/:name every `poll_interval` (webhook mode: apply
   what the receiver got, and poll every `resync_interval` as a safety net);
2. compute the model's expected metrics under the current runtime state and the profile's
   rate, add the seeded noise, and buffer one sample per metric type (metadata: model,
   instances serving, state version, cache hit rate);
3. every `push_interval`, POST the buffer to /metrics/batch; a retryable failure keeps it (at
   most 10,000 samples, the oldest dropped first).

Reproducibility: `random.Random(seed)` draws the same numbers at every step whatever the
state, so two runs with the same seed and the same state changes at the same simulated times
emit identical samples (`Simulation.step` is what the unit tests drive).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import structlog

from perfpilot.simulator.actuator import ServiceRuntime, TargetState
from perfpilot.simulator.client import REFUSED, PerfpilotClient, PushFailed
from perfpilot.simulator.model import Noise, expected_metrics, observe
from perfpilot.simulator.profiles import RateProfile, Steady
from perfpilot.simulator.webhook import StateReceiver

log = structlog.get_logger("perfpilot.simulator")

MAX_BUFFER = 10_000
METRIC_TYPES = (
    "latency",
    "throughput",
    "accuracy",
    "cost",
    "memory",
    "cpu",
    "error_rate",
    "success_rate",
)
Follow = Literal["poll", "webhook"]


class SimClock:
    """sim time = start + speed·(wall - wall_start); never ahead of the wall clock."""

    def __init__(
        self, *, start: float, speed: float = 1.0, wall: Callable[[], float] = time.time
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.start = start
        self.speed = speed
        self._wall = wall
        self.wall_start = wall()

    @classmethod
    def compressed(
        cls, *, duration: float, speed: float, wall: Callable[[], float] = time.time
    ) -> SimClock:
        """A clock whose run of `duration` simulated seconds ends at about the wall clock."""
        return cls(start=wall() - duration * (1.0 - 1.0 / speed), speed=speed, wall=wall)

    def wall_time_of(self, sim_t: float) -> float:
        """When (wall clock) simulated time `sim_t` is due: scheduled, and not in the future."""
        return max(self.wall_start + (sim_t - self.start) / self.speed, sim_t)

    def now(self) -> float:
        """Simulated time now (capped at the wall clock)."""
        wall = self._wall()
        return min(self.start + (wall - self.wall_start) * self.speed, wall)

    async def wait_until(self, sim_t: float) -> None:
        delay = self.wall_time_of(sim_t) - self._wall()
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    service: str = "demo-chat"
    model: str = "gpt-large"
    instances: int = 2
    profile: RateProfile = field(default_factory=lambda: Steady(5.0))
    seed: int = 0
    sample_interval: float = 1.0
    push_interval: float = 5.0
    poll_interval: float = 5.0
    resync_interval: float = 60.0  # webhook mode: poll this often anyway
    startup_seconds: float = 5.0
    cache_hit_rate: float = 0.2
    cache_recovery_seconds: float = 60.0
    queue_timeout_ms: float = 10_000.0
    tokens_per_request: float = 500.0
    noise: Noise = field(default_factory=Noise)
    follow: Follow = "poll"
    listen_host: str = "127.0.0.1"
    listen_port: int = 0


@dataclass(frozen=True, slots=True)
class StateApplied:
    """The simulator converging to a new desired state, at simulated time `at`."""

    at: float
    version: int
    changes: tuple[str, ...]


@dataclass
class SimulationSummary:
    steps: int = 0
    samples_pushed: int = 0
    push_failures: int = 0
    samples_dropped: int = 0
    first_sample_at: float | None = None
    last_sample_at: float | None = None
    applied: list[StateApplied] = field(default_factory=list)


class Simulation:
    """One simulated service. `step` is pure given the runtime; `run` drives it over HTTP."""

    def __init__(self, config: SimulationConfig, *, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.rng = random.Random(config.seed)  # noqa: S311 - a simulation, not secrets
        self.runtime = ServiceRuntime(
            base_model=config.model,
            instances=config.instances,
            startup_seconds=config.startup_seconds,
            base_cache_hit_rate=config.cache_hit_rate,
            cache_recovery_seconds=config.cache_recovery_seconds,
            queue_timeout_ms=config.queue_timeout_ms,
            tokens_per_request=config.tokens_per_request,
        )
        self.summary = SimulationSummary()
        self._buffer: list[dict[str, Any]] = []

    def apply(self, target: TargetState, at: float) -> None:
        changes = self.runtime.apply(target, at)
        if changes:
            self.summary.applied.append(StateApplied(at, target.version, tuple(changes)))
            log.info(
                "state_applied",
                service=self.config.service,
                version=target.version,
                changes=changes,
                sim_time=datetime.fromtimestamp(at, UTC).isoformat(),
            )

    def step(self, t: float) -> list[dict[str, Any]]:
        """The samples of the interval ending at simulated time `t`."""
        dt = self.config.sample_interval
        rate = max(0.0, self.config.profile.rate(t - self.clock.start))
        conditions = self.runtime.conditions(t, rate)
        values = observe(
            expected_metrics(conditions),
            arrival_rps=rate,
            interval_s=dt,
            rng=self.rng,
            noise=self.config.noise,
        )
        stamp = datetime.fromtimestamp(t, UTC).isoformat()
        metadata = {
            "model": self.runtime.model_name,
            "instances": conditions.instances,
            "stateVersion": self.runtime.version,
            "cacheHitRate": round(conditions.cache_hit_rate, 4),  # not a metric type of its own
        }
        return [
            {
                "serviceName": self.config.service,
                "metricType": metric,
                "value": values[metric],
                "timestamp": stamp,
                "metadata": metadata,
            }
            for metric in METRIC_TYPES
        ]

    async def run(
        self,
        client: PerfpilotClient,
        *,
        duration: float | None,
        stop: asyncio.Event | None = None,
        flush_on_exit: bool = True,
    ) -> SimulationSummary:
        """Run for `duration` simulated seconds (None: until `stop` is set or cancelled);
        `flush_on_exit` pushes what is buffered when the run ends (even by cancellation)."""
        cfg = self.config
        receiver = None
        webhook_id = None
        try:
            if cfg.follow == "webhook":
                receiver = StateReceiver(cfg.service, host=cfg.listen_host, port=cfg.listen_port)
                await receiver.start()
                webhook_id, receiver.secret = await client.create_webhook(receiver.url, cfg.service)
            poll_every = cfg.poll_interval if receiver is None else cfg.resync_interval
            await self._loop(client, receiver, poll_every, duration, stop)
        finally:
            if flush_on_exit:
                await self._push(client, final=True)
            if receiver is not None:
                await receiver.stop()
            if webhook_id is not None:
                try:
                    await client.delete_webhook(webhook_id)
                except Exception as exc:  # the server may be gone; say so, keep the cause
                    log.warning("webhook_not_deleted", webhook_id=webhook_id, error=repr(exc))
        return self.summary

    async def _loop(
        self,
        client: PerfpilotClient,
        receiver: StateReceiver | None,
        poll_every: float,
        duration: float | None,
        stop: asyncio.Event | None,
    ) -> None:
        cfg, start = self.config, self.clock.start
        next_poll, next_push = 0.0, cfg.push_interval
        step = 0
        while duration is None or step * cfg.sample_interval < duration:
            if stop is not None and stop.is_set():
                break
            step += 1
            elapsed = step * cfg.sample_interval
            t = start + elapsed
            await self.clock.wait_until(t)
            if receiver is not None and (target := receiver.take()) is not None:
                self.apply(target, t)
            if elapsed >= next_poll:
                next_poll += poll_every
                await self._poll(client, t)
            self._buffer.extend(self.step(t))
            self.summary.steps = step
            if self.summary.first_sample_at is None:
                self.summary.first_sample_at = t
            self.summary.last_sample_at = t
            if elapsed >= next_push:
                next_push += cfg.push_interval
                await self._push(client)

    async def _poll(self, client: PerfpilotClient, t: float) -> None:
        try:
            target = await client.desired_state(self.config.service)
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code in REFUSED:
                raise
            log.warning("state_poll_failed", service=self.config.service, error=repr(exc))
            return
        except Exception as exc:  # the server may be restarting: keep the current state
            log.warning("state_poll_failed", service=self.config.service, error=repr(exc))
            return
        if target is not None:
            self.apply(target, t)

    async def _push(self, client: PerfpilotClient, *, final: bool = False) -> None:
        batch, self._buffer = self._buffer, []
        try:
            await client.push(batch)
        except PushFailed as exc:
            self.summary.push_failures += 1
            if exc.status in REFUSED and not final:
                raise
            log.warning("push_failed", service=self.config.service, error=str(exc), final=final)
            if exc.retryable and not final:
                kept = (batch + self._buffer)[-MAX_BUFFER:]
                self.summary.samples_dropped += len(batch) + len(self._buffer) - len(kept)
                self._buffer = kept
            else:
                self.summary.samples_dropped += len(batch)
            return
        self.summary.samples_pushed += len(batch)


async def simulate(
    config: SimulationConfig,
    *,
    url: str,
    token: str,
    duration: float | None,
    speed: float = 1.0,
    stop: asyncio.Event | None = None,
) -> SimulationSummary:
    """Run one simulated service against a Perfpilot server (what `perfpilot simulate` does)."""
    if speed != 1.0 and duration is None:
        raise ValueError("a time-compressed run (speed != 1) needs a duration")
    if speed > 1.0:
        assert duration is not None
        clock = SimClock.compressed(duration=duration, speed=speed)
    else:
        clock = SimClock(start=time.time(), speed=speed)
    async with PerfpilotClient(url, token) as client:
        return await Simulation(config, clock=clock).run(client, duration=duration, stop=stop)
