"""Closed-loop benchmark: how fast the loop notices a load spike, acts, and the service recovers,
against the same spike with nothing acting.

    python bench/loop.py            # about 40 s; prints the figures (BENCHMARKS.md "Closed loop")

One invocation, loopback only: a `perfpilot serve` process on SQLite in a temporary directory
(engine ticks off, PERFPILOT_ENGINE_TICK_SECONDS=3600; impact settle 15 s, window 30 s), and two
simulated services run concurrently against it, time-compressed (SPEED simulated seconds per
wall second, dated in the past so sample time ends at about now; see simulator/run.py). Both
have the same seed, model (gpt-large on 2 instances, 8 requests/s of capacity), simulator
settings (push every 5 s, poll every 5 s, new instances serve 5 s after they are asked for)
and traffic: 5 requests/s, a spike to 12 requests/s from t = 60 s to t = 180 s, 5 again until
t = 240 s. What differs, and nothing else:
- "loop": a rule p95 latency > 3 s over 30 s for 10 s (resolve below 2.5 s) -> scale_up by 2,
  cooldown 120 s; and an autoscaling configuration that is enabled (cpu, 2-8 instances). The
  autoscaler acts on wall-clock ticks over the last 60 s of wall time, which a compressed run
  never has samples in (and ticks are off), so here all scaling comes from the rule.
- "no loop": no rule, and the service's autoscaling configuration disabled.
Timings are in sample time (simulated seconds) from the spike's first bad sample (latency above
the threshold): alert triggered, action executed, the simulator applying the new state (its
own log), recovery (the first sample from which latency stays under the threshold to the end
of the spike) and the alert resolved (its window back under the resolve threshold). The
comparison is over the spike's plateau: p95 of latency, mean error rate, and the requests that
failed (error rate x arrival rate, summed).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import structlog

from perfpilot.core.auth import Role, TokenAuthority
from perfpilot.core.config import Settings
from perfpilot.engine.windows import percentile_cont
from perfpilot.simulator import SimClock, Simulation, SimulationConfig, Spike
from perfpilot.simulator.client import PerfpilotClient

JWT_SECRET = "bench-loop-secret-" + "x" * 40
SPEED = 8.0
DURATION = 240.0
SPIKE_AT, SPIKE_FOR = 60.0, 120.0
THRESHOLD, RESOLVE_AT, HOLD = 3000.0, 2500.0, 10.0
PROFILE = Spike(base=5.0, peak=12.0, start=SPIKE_AT, duration=SPIKE_FOR)
RULE = {
    "name": "High p95 latency",
    "serviceName": "loop",
    "condition": {
        "metric": "latency",
        "operator": "gt",
        "threshold": THRESHOLD,
        "aggregation": "p95",
        "window": 30,
        "duration": HOLD,
        "resolveThreshold": RESOLVE_AT,
    },
    "action": {
        "type": "scale_up",
        "parameters": {"instances": 2},
        "priority": "high",
        "cooldown": 120,
    },
}
AUTOSCALING = {"minInstances": 2, "maxInstances": 8, "metric": "cpu"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def start_server(data_dir: Path) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    env = os.environ | {
        "PERFPILOT_DATA_DIR": str(data_dir),
        "PERFPILOT_PORT": str(port),
        "PERFPILOT_JWT_SECRET": JWT_SECRET,
        "PERFPILOT_ENGINE_TICK_SECONDS": "3600",
        "PERFPILOT_IMPACT_SETTLE_SECONDS": "15",
        "PERFPILOT_IMPACT_WINDOW_SECONDS": "30",
        "PERFPILOT_LOG_LEVEL": "WARNING",
    }
    env.pop("PERFPILOT_DATABASE_URL", None)
    log = (data_dir / "server.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "perfpilot.cli", "serve", env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"{url}/readyz")).status_code == 200:
                    return process, url
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


async def samples(client: PerfpilotClient, service: str, metric: str) -> list[tuple[float, float]]:
    rows = await client.get_all("/metrics", serviceName=service, metricType=metric, limit=1000)
    return sorted((ts(s["timestamp"]), s["value"]) for s in rows)


def spike_figures(
    latency: list[tuple[float, float]], errors: list[tuple[float, float]], start: float
) -> dict[str, float]:
    plateau = (start + SPIKE_AT, start + SPIKE_AT + SPIKE_FOR)

    def inside(t: float) -> bool:
        return plateau[0] <= t < plateau[1]

    lat = sorted(v for t, v in latency if inside(t))
    err = [(t, v) for t, v in errors if inside(t)]
    failed = sum(v * PROFILE.rate(t - start) for t, v in err)  # 1 s samples: requests failed
    return {
        "p50": percentile_cont(lat, 0.5),
        "p95": percentile_cont(lat, 0.95),
        "mean": sum(lat) / len(lat),
        "above": sum(1.0 for v in lat if v > THRESHOLD),  # 1 s samples: seconds above
        "error_rate": sum(v for _, v in err) / len(err),
        "failed": failed,
        "requests": sum(PROFILE.rate(t - start) for t, _ in err),
    }


async def main() -> None:
    # the simulators log each state they apply; the figures say it
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    token = TokenAuthority(Settings(jwt_secret=JWT_SECRET), secret=JWT_SECRET).mint(
        role=Role.admin, subject="bench-loop", ttl_seconds=3600
    )
    with tempfile.TemporaryDirectory(prefix="perfpilot-loop-") as tmp:
        process, url = await start_server(Path(tmp))
        try:
            await run(url, token)
        finally:
            process.send_signal(signal.SIGINT)
            await process.wait()


async def run(url: str, token: str) -> None:
    async with PerfpilotClient(url, token) as client:
        await client.send(
            "PUT", "/autoscaling/config", AUTOSCALING | {"enabled": True}, serviceName="loop"
        )
        await client.send(
            "PUT", "/autoscaling/config", AUTOSCALING | {"enabled": False}, serviceName="no-loop"
        )
        await client.send("POST", "/rules", RULE)
        clock = SimClock.compressed(duration=DURATION, speed=SPEED)
        sims = {
            name: Simulation(
                SimulationConfig(
                    service=name, model="gpt-large", instances=2, profile=PROFILE, seed=2026
                ),
                clock=clock,
            )
            for name in ("loop", "no-loop")
        }
        wall = time.monotonic()
        await asyncio.gather(*(s.run(client, duration=DURATION) for s in sims.values()))
        wall = time.monotonic() - wall
        for _ in range(200):  # the engine evaluates the last batches after their commit
            actions = await client.get("/actions", serviceName="loop", status="executed")
            if actions and all(a["outcome"] for a in actions):
                break
            await asyncio.sleep(0.05)
        [alert] = await client.get("/alerts", serviceName="loop")
        figures = {}
        for name in sims:
            latency = await samples(client, name, "latency")
            errors = await samples(client, name, "error_rate")
            figures[name] = (latency, spike_figures(latency, errors, clock.start))
    report(sims, figures, alert, actions, clock, wall)


def report(
    sims: dict[str, Simulation],
    figures: dict[str, tuple[list[tuple[float, float]], dict[str, float]]],
    alert: dict[str, Any],
    actions: list[dict[str, Any]],
    clock: SimClock,
    wall: float,
) -> None:
    latency = figures["loop"][0]
    first_bad = next(t for t, v in latency if v > THRESHOLD)
    spike_end = clock.start + SPIKE_AT + SPIKE_FOR
    executed = min(ts(a["executedAt"]) for a in actions)
    applied = next(a.at for a in sims["loop"].summary.applied if a.at >= executed)
    bad_after = [t for t, v in latency if executed <= t < spike_end and v > THRESHOLD]
    recovered = min(t for t, _ in latency if t > max(bad_after, default=executed))
    scale_up = actions[0]
    steps = [
        ("alert triggered", ts(alert["triggeredAt"])),
        ("scale_up executed", executed),
        ("simulator applied the state", applied),
        ("latency back under threshold", recovered),
        ("alert resolved", ts(alert["resolvedAt"])),
    ]
    print(
        f"Closed loop, SQLite, {SPEED:g}x compressed: {DURATION:g} simulated s in {wall:.1f} s "
        f"wall ({sum(s.summary.samples_pushed for s in sims.values())} samples pushed)"
    )
    print(
        f"Spike 5 -> 12 req/s at t={SPIKE_AT:g}s for {SPIKE_FOR:g}s on 2 x gpt-large "
        f"(capacity 8 req/s); rule: p95 latency > {THRESHOLD:g} ms for {HOLD:g}s -> scale_up +2"
    )
    print("From the spike's first bad sample (in sample time, as they would take in real time):")
    for label, at in steps:
        print(f"  {label:30s} +{at - first_bad:5.1f} s")
    print(
        f"  (the rule's duration {HOLD:g} s, +1 s: a 30-sample p95 needs two bad samples; then "
        "the simulator's push and poll intervals, 5 s each, and 5 s for new instances to start)"
    )
    print(
        f"  scale_up measured: {scale_up['outcome']}, p95 {scale_up['baseline']:.0f} -> "
        f"{scale_up['measuredValue']:.0f} ms ({scale_up['measuredImpact']:+.1%})"
    )
    print(f"Over the spike's plateau ({SPIKE_FOR:g} s):")
    print(
        f"  {'':8s} {'p50 latency':>12s} {'p95 latency':>12s} {'mean latency':>13s} "
        f"{'> 3 s for':>10s} {'error rate':>11s} {'failed requests':>16s}"
    )
    for name, label in (("loop", "loop"), ("no-loop", "no loop")):
        f = figures[name][1]
        print(
            f"  {label:8s} {f['p50']:9.0f} ms {f['p95']:9.0f} ms {f['mean']:10.0f} ms "
            f"{f['above']:8.0f} s {f['error_rate']:10.2%} {f['failed']:8.0f} of {f['requests']:.0f}"
        )
    with_loop, without = figures["loop"][1], figures["no-loop"][1]
    print(
        f"  loop / no loop: p50 x{with_loop['p50'] / without['p50']:.2f}, "
        f"p95 x{with_loop['p95'] / without['p95']:.2f}, "
        f"mean x{with_loop['mean'] / without['mean']:.2f}, "
        f"error rate x{with_loop['error_rate'] / without['error_rate']:.2f}"
    )
    share = (recovered - first_bad) / SPIKE_FOR
    print(
        f"  (a p95 over the whole plateau includes the {recovered - first_bad:.0f} s before the "
        f"loop had acted: {share:.0%} of it, more than the 5 % a p95 leaves out)"
    )


if __name__ == "__main__":
    asyncio.run(main())
