"""Simulated time without waiting: step one or more simulations in lockstep, push, poll the
desired state and tick the engine at simulated times, as fast as the server answers.

For tests and benchmarks that run the server in-process and drive its engine's ticks
(`EngineRunner.tick_now`): the autoscaler then sees the same time as the samples, which a
wall-clock run compressed into the past (run.py) cannot give it. Samples are stamped in
simulated time; place the run in the past (start + duration <= now) so none is in the future.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from perfpilot.simulator.client import PerfpilotClient
from perfpilot.simulator.run import Simulation

Tick = Callable[[float], Awaitable[None]]


async def run_stepped(
    simulations: Sequence[Simulation],
    client: PerfpilotClient,
    *,
    start: float,
    duration: float,
    tick: Tick,
    tick_every: float = 5.0,
    push_every: float = 5.0,
    poll_every: float = 5.0,
    after_push: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Steps of 1 s from `start`: each second every simulation's samples; every `push_every`
    s one batch of all of them (then `after_push`, e.g. wait for the engine); every
    `tick_every` s `tick(t)`; every `poll_every` s each simulation follows its desired state."""
    buffer: list[dict[str, Any]] = []
    steps = int(duration)
    for step in range(1, steps + 1):
        t = start + step
        if step % int(poll_every) == 0:
            for sim in simulations:
                target = await client.desired_state(sim.config.service)
                if target is not None:
                    sim.apply(target, t)
        for sim in simulations:
            buffer.extend(sim.step(t))
            sim.summary.steps = step
            sim.summary.last_sample_at = t
        if step % int(push_every) == 0 or step == steps:
            await client.push(buffer)
            for sim in simulations:
                sim.summary.samples_pushed += len(buffer) // len(simulations)
            buffer = []
            if after_push is not None:
                await after_push()
        if step % int(tick_every) == 0:
            await tick(t)
