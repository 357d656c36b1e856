"""Predictive scaling end to end on the simulator: recurring spikes, the real app over HTTP,
the engine's ticks driven in simulated time (simulator/stepped.py). From the second
recurrence on (the third spike: two cycles of history are what a season needs), the
autoscaler has scaled up, and the simulated service has more instances serving, before the
spike starts — with the HPA recommendation scaled by the forecast (mode hpa) and with M/M/c
sizing on the forecast arrival rate (mode model, the bench's predictive arm)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from perfpilot.simulator import SimClock, Simulation, SimulationConfig, Spike
from perfpilot.simulator.client import PerfpilotClient
from perfpilot.simulator.stepped import run_stepped
from tests.conftest import LiveServer

SERVICE = "predictive-chat"
PERIOD, FIRST, PLATEAU = 180.0, 60.0, 40.0
SPIKES = 5
DURATION = FIRST + SPIKES * PERIOD - 60
LEAD = 40.0  # the simulator's start-up (5 s) + poll (5 s) + tick (5 s), with room
PROFILE = Spike(base=4.0, peak=14.0, start=FIRST, duration=PLATEAU, ramp=2.0, every=PERIOD)
CONFIG = {
    "enabled": True,
    "metric": "cpu",
    "minInstances": 2,
    "maxInstances": 8,
    "targetUtilization": 60,
    "scaleUpThreshold": 80,
    "scaleDownThreshold": 30,
    "cooldownPeriod": 30,
    "predictive": True,
    "leadTime": LEAD,
}


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


MODES: dict[str, dict[str, Any]] = {
    "hpa": {},
    "model": {"mode": "model", "targetLatency": 3000, "latencyStatistic": "mean"},
}


@pytest.mark.parametrize("mode", list(MODES))
async def test_predictive_autoscaler_scales_before_recurring_spikes(
    live_server: LiveServer, mode: str
) -> None:
    s = live_server
    r = await s.client.put(
        s.api("/autoscaling/config"), params={"serviceName": SERVICE}, json=CONFIG | MODES[mode],
        headers=s.auth(),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["predictive"], r.json()["data"]["leadTime"]) == (True, LEAD)
    start = datetime.now(UTC).timestamp() - DURATION - 60  # every sample in the past
    sim = Simulation(
        SimulationConfig(
            service=SERVICE, model="gpt-large", instances=2, profile=PROFILE, seed=3,
            startup_seconds=5.0,
        ),
        clock=SimClock(start=start),
    )  # fmt: skip

    async def tick(t: float) -> None:
        s.runner.tick_now(t)
        await s.settle()

    async with PerfpilotClient(s.base_url, s.token()) as client:
        await run_stepped(
            [sim], client, start=start, duration=DURATION, tick=tick, after_push=s.settle
        )
        actions: list[dict[str, Any]] = await client.get(
            "/actions", serviceName=SERVICE, source="autoscaler", limit=200
        )
    ups = sorted(
        (ts(a["executedAt"]), a) for a in actions
        if a["type"] == "scale_up" and a["status"] == "executed"
    )  # fmt: skip
    spike_starts = [start + FIRST + k * PERIOD for k in range(SPIKES)]
    applied = [(a.at, a.changes) for a in sim.summary.applied]

    def scaled_ahead(spike: float) -> bool:
        before = [a for t, a in ups if spike - LEAD - 10 <= t < spike]
        return any("predictive" in a["reason"] and "x" in a["reason"] for a in before)

    def serving_ahead(spike: float) -> bool:
        return any(
            spike - LEAD - 10 <= at < spike and "instances" in " ".join(changes)
            for at, changes in applied
        )

    # the first spike is a surprise: nothing scaled ahead of it
    assert not scaled_ahead(spike_starts[0])
    for k, spike in enumerate(spike_starts[2:], start=3):
        assert scaled_ahead(spike), (
            k,
            "\n".join(f"{t - spike:+.0f} {a['reason']}" for t, a in ups),
        )
        assert serving_ahead(spike), (k, [(at - spike, c) for at, c in applied])
    # and it scaled in between spikes: not simply parked at the maximum
    downs = [a for a in actions if a["type"] == "scale_down" and a["status"] == "executed"]
    assert len(downs) >= SPIKES - 2
