"""Step sizing against model sizing on one load spike, side by side in the same run.

    python bench/sizing.py          # about 60 s; prints the figures (BENCHMARKS.md "Sizing")

Same harness as bench/loop.py (a `perfpilot serve` on SQLite, engine ticks off, simulators
time-compressed SPEED x, seeded, pushing 1 s samples every 5 s, polling every 5 s, new
instances serve 5 s after they are asked for). Two services, same seed, model (gpt-large:
1200 ms, 4 requests/s per instance), 2 instances, traffic: 5 requests/s, a spike to 26
requests/s from t = 60 s to t = 300 s, then 5 again until t = 360 s. One rule each, the same
condition (avg latency > 3 s over 30 s for 10 s, cooldown 30 s); what differs:
- "step": scale_up by 1 (the fixed step rules have today);
- "model": scale_up with instances "auto" (M/M/c sized to the rule's 3 s mean).
Figures from the stored samples: seconds with latency above the 3 s SLO, failed requests
(error rate x arrival rate), instance-seconds (the serving instances the simulator reports in
each sample's metadata x 1 s), and the model's prediction vs the measured latency.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog
from loop import JWT_SECRET, start_server, ts

from perfpilot.core.auth import Role, TokenAuthority
from perfpilot.core.config import Settings
from perfpilot.simulator import SimClock, Simulation, SimulationConfig, Spike
from perfpilot.simulator.client import PerfpilotClient

SPEED = 8.0
DURATION = 360.0
SLO = 3000.0
PROFILE = Spike(base=5.0, peak=26.0, start=60.0, duration=240.0)
ARMS = {"step": {"instances": 1}, "model": {"instances": "auto"}}


def rule(service: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"slow {service}",
        "serviceName": service,
        "condition": {
            "metric": "latency",
            "operator": "gt",
            "threshold": SLO,
            "aggregation": "avg",
            "window": 30,
            "duration": 10,
        },
        "action": {"type": "scale_up", "parameters": parameters, "cooldown": 30},
    }


async def figures(client: PerfpilotClient, service: str, start: float) -> dict[str, float]:
    latency = await client.get_all(
        "/metrics", serviceName=service, metricType="latency", limit=1000
    )
    errors = await client.get_all(
        "/metrics", serviceName=service, metricType="error_rate", limit=1000
    )
    return {
        "above": sum(1.0 for s in latency if s["value"] > SLO),
        "failed": sum(
            s["value"] * PROFILE.rate(ts(s["timestamp"]) - start) for s in errors
        ),  # 1 s samples
        "instance_seconds": sum(float(s["metadata"]["instances"]) for s in latency),
        "peak_instances": max(float(s["metadata"]["instances"]) for s in latency),
    }


async def run(url: str, token: str) -> None:
    async with PerfpilotClient(url, token) as client:
        for service, parameters in ARMS.items():
            await client.send(
                "PUT",
                "/autoscaling/config",
                {"minInstances": 2, "maxInstances": 12, "enabled": False},
                serviceName=service,
            )
            await client.send("POST", "/rules", rule(service, parameters))
        clock = SimClock.compressed(duration=DURATION, speed=SPEED)
        sims = [
            Simulation(
                SimulationConfig(
                    service=service, model="gpt-large", instances=2, profile=PROFILE, seed=2026
                ),
                clock=clock,
            )
            for service in ARMS
        ]
        wall = time.monotonic()
        await asyncio.gather(*(s.run(client, duration=DURATION) for s in sims))
        wall = time.monotonic() - wall
        await asyncio.sleep(1.0)  # the engine evaluates the last batches after their commit
        out = {service: await figures(client, service, clock.start) for service in ARMS}
        actions = {
            service: await client.get("/actions", serviceName=service, status="executed")
            for service in ARMS
        }
    print(
        f"Sizing on a spike, SQLite, {SPEED:g}x compressed: {DURATION:g} simulated s in "
        f"{wall:.1f} s wall; 5 -> {PROFILE.peak:g} req/s for {PROFILE.duration:g} s on "
        f"gpt-large (4 req/s per instance), from 2 instances; SLO avg latency {SLO:g} ms"
    )
    print(
        f"  {'arm':6s} {'s above SLO':>12s} {'failed req':>11s} {'inst-s':>8s} {'peak':>5s} "
        f"{'scale-ups':>10s}"
    )
    for service in ARMS:
        f = out[service]
        print(
            f"  {service:6s} {f['above']:12.0f} {f['failed']:11.0f} {f['instance_seconds']:8.0f} "
            f"{f['peak_instances']:5.0f} {len(actions[service]):10d}"
        )
    step, model = out["step"], out["model"]
    print(
        f"  model / step: seconds above SLO x{model['above'] / max(step['above'], 1):.2f}, "
        f"instance-seconds x{model['instance_seconds'] / step['instance_seconds']:.2f}"
    )
    for action in actions["model"]:
        sizing = action.get("sizing") or {}
        prediction, check = sizing.get("prediction", {}), sizing.get("verification", {})
        inputs = sizing.get("inputs", {})
        print(
            f"  model sizing: lambda {inputs.get('arrivalRps', 0):.1f} rps, mu "
            f"{inputs.get('serviceRatePerInstance', 0):.2f} rps/instance, S "
            f"{inputs.get('serviceTimeMs', 0):.0f} ms -> {prediction.get('instances')} instances,"
            f" predicted {prediction.get('latencyMs') or 0:.0f} ms, measured "
            f"{check.get('measuredLatencyMs') or 0:.0f} ms"
        )


async def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    token = TokenAuthority(Settings(jwt_secret=JWT_SECRET), secret=JWT_SECRET).mint(
        role=Role.admin, subject="bench-sizing", ttl_seconds=3600
    )
    with tempfile.TemporaryDirectory(prefix="perfpilot-sizing-") as tmp:
        process, url = await start_server(Path(tmp))
        try:
            await run(url, token)
        finally:
            process.send_signal(signal.SIGINT)
            await process.wait()


if __name__ == "__main__":
    asyncio.run(main())
