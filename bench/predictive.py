"""Predictive scaling against recurring spikes: three arms side by side in one run.

    python bench/predictive.py            # about 25 s to 1.5 min; figures in BENCHMARKS.md
    python bench/predictive.py --actions  # and the predictive arm's actions, timed per spike
    BENCH_LEAD=25 BENCH_STATISTIC=p95 BENCH_SEED=1 ...  # leadTime / target statistic / seed

One process, loopback only: the app served in-process (uvicorn) on SQLite in a temporary
directory, its engine ticked every 5 s of *simulated* time by this script
(EngineRunner.tick_now), so the autoscaler sees the samples' time; three simulated services
stepped in lockstep (simulator/stepped.py: 1 s steps, push/poll every 5 s, new instances
serve 5 s after they are asked for). Same seed, model (gpt-large, 4 req/s per instance,
2 instances to start) and traffic for all three: 4 req/s with a spike to 14 req/s for 40 s
every 180 s, SPIKES times. What differs, and nothing else:
- "reactive": the demo's rule (p95 latency > 3 s over 30 s for 10 s -> scale_up +2,
  cooldown 60 s) and the HPA autoscaler (cpu, 2-8 instances, target 60 %, 30/80 %,
  stabilisation 30 s) — the loop as it is without prediction;
- "hpa": the HPA autoscaler alone;
- "predictive": predictive + model sizing: the same autoscaler configuration with mode model
  (targetLatency 3 s on the mean latency, the statistic the SLO counts: a sample is an
  interval's mean) and predictive: true, leadTime 40 s (BENCH_LEAD, BENCH_STATISTIC).
Figures are read back from the stored samples (GET /metrics): seconds above the SLO (1 s
latency samples above 3 s), failed requests (error rate x arrival rate, per second) and
instance-seconds (the instances serving, from each sample's metadata), from the second spike
on (the first is a surprise for every arm) and over the whole run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
import uvicorn

from perfpilot.app import create_app
from perfpilot.core.auth import Role
from perfpilot.core.config import Settings
from perfpilot.core.server import uvicorn_options
from perfpilot.engine.runner import EngineRunner
from perfpilot.simulator import SimClock, Simulation, SimulationConfig, Spike
from perfpilot.simulator.client import PerfpilotClient
from perfpilot.simulator.stepped import run_stepped

SLO_MS = 3000.0
LEAD = float(os.environ.get("BENCH_LEAD", "40"))  # the predictive arm's leadTime
STATISTIC = os.environ.get("BENCH_STATISTIC", "mean")  # what its targetLatency bounds
SEED = int(os.environ.get("BENCH_SEED", "2026"))  # the simulations' noise (all three arms)
PERIOD, FIRST, PLATEAU, SPIKES = 180.0, 60.0, 40.0, 6
DURATION = FIRST + SPIKES * PERIOD - 40
PROFILE = Spike(base=4.0, peak=14.0, start=FIRST, duration=PLATEAU, ramp=2.0, every=PERIOD)
HPA = {
    "enabled": True, "metric": "cpu", "minInstances": 2, "maxInstances": 8,
    "targetUtilization": 60, "scaleUpThreshold": 80, "scaleDownThreshold": 30,
    "cooldownPeriod": 30,
}  # fmt: skip
RULE = {
    "name": "High p95 latency",
    "serviceName": "reactive",
    "condition": {"metric": "latency", "operator": "gt", "threshold": SLO_MS,
                  "aggregation": "p95", "window": 30, "duration": 10, "resolveThreshold": 2500},
    "action": {"type": "scale_up", "parameters": {"instances": 2}, "priority": "high",
               "cooldown": 60},
}  # fmt: skip
ARMS = {
    "reactive": (HPA, RULE),
    "hpa": (HPA, None),
    "predictive": (HPA | {"mode": "model", "targetLatency": SLO_MS, "latencyStatistic": STATISTIC,
                          "predictive": True, "leadTime": LEAD}, None),
}  # fmt: skip


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def serve(settings: Settings) -> tuple[uvicorn.Server, asyncio.Task[None], Any, int]:
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, **uvicorn_options())
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task, app, sock.getsockname()[1]


def figures(
    rows: list[dict[str, Any]], errors: dict[float, float], *, start: float, since: float
) -> dict[str, float]:
    """Per-second samples from `since`: seconds above the SLO, failed requests, instances."""
    kept = [(ts(r["timestamp"]), r) for r in rows if ts(r["timestamp"]) >= since]
    return {
        "above": sum(1 for _, r in kept if r["value"] > SLO_MS),
        "failed": sum(errors.get(t, 0.0) * PROFILE.rate(t - start) for t, _ in kept),
        "instance_s": sum(int(r["metadata"]["instances"]) for _, r in kept),
    }


async def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory(prefix="perfpilot-predictive-") as tmp:
        settings = Settings(
            data_dir=Path(tmp), jwt_secret="bench-predictive-" + "x" * 40,
            engine_tick_seconds=3600.0, log_level="WARNING", access_log=False,
            rate_limit_ingest="100000/minute", rate_limit_write="100000/minute",
            rate_limit_read="100000/minute",
        )  # fmt: skip
        server, task, app, port = await serve(settings)
        try:
            await run(app, f"http://127.0.0.1:{port}")
        finally:
            server.should_exit = True
            await task


async def run(app: Any, url: str) -> None:
    ctx = app.state.ctx
    runner = ctx.loops["engine"]
    assert isinstance(runner, EngineRunner)
    token = ctx.tokens.mint(role=Role.admin, subject="bench-predictive", ttl_seconds=3600)
    start = time.time() - DURATION - 60
    async with PerfpilotClient(url, token) as client:
        for name, (config, rule) in ARMS.items():
            await client.send("PUT", "/autoscaling/config", config, serviceName=name)
            if rule is not None:
                await client.send("POST", "/rules", rule)
        sims = [
            Simulation(
                SimulationConfig(
                    service=name,
                    model="gpt-large",
                    instances=2,
                    profile=PROFILE,
                    seed=SEED,
                    startup_seconds=5.0,
                ),
                clock=SimClock(start=start),
            )
            for name in ARMS
        ]

        async def tick(t: float) -> None:
            runner.tick_now(t)
            await runner.drain()

        wall = time.monotonic()
        await run_stepped(
            sims, client, start=start, duration=DURATION, tick=tick, after_push=runner.drain
        )
        wall = time.monotonic() - wall
        table: dict[str, tuple[dict[str, float], ...]] = {}
        second = start + FIRST + PERIOD - 30  # from 30 s before the second spike
        third = second + PERIOD  # the first spike with two cycles of history before it
        for name in ARMS:
            latency = await client.get_all("/metrics", serviceName=name, metricType="latency",
                                           limit=1000)  # fmt: skip
            error_rows = await client.get_all(
                "/metrics", serviceName=name, metricType="error_rate", limit=1000
            )
            errors = {ts(r["timestamp"]): r["value"] for r in error_rows}
            table[name] = (
                figures(latency, errors, start=start, since=second),
                figures(latency, errors, start=start, since=third),
                figures(latency, errors, start=start, since=start),
            )
        if "--actions" in sys.argv:
            spikes = [start + FIRST + k * PERIOD for k in range(SPIKES)]
            print_actions(await client.get("/actions", serviceName="predictive", limit=200), spikes)
    report(table, wall)


def print_actions(actions: list[dict[str, Any]], spikes: list[float]) -> None:
    """The predictive arm's executed actions, timed from the nearest spike's start."""
    done = sorted((a for a in actions if a.get("executedAt")), key=lambda a: a["executedAt"])
    for a in done:
        t = ts(a["executedAt"])
        k = min(range(len(spikes)), key=lambda i: abs(t - spikes[i]))
        print(
            f"spike {k + 1} {t - spikes[k]:+5.0f}s {a['type']:10s} {a['status']:9s} "
            f"{a['parameters'].get('instances')} {a['reason'][-260:]}"
        )


def report(table: dict[str, tuple[dict[str, float], ...]], wall: float) -> None:
    print(
        f"Recurring spikes: 4 -> 14 req/s for {PLATEAU:g} s every {PERIOD:g} s, {SPIKES} spikes, "
        f"{DURATION:g} simulated s per arm, 3 arms in {wall:.0f} s wall (SQLite, in-process)"
    )
    ranges = ("from the 2nd spike on", "from the 3rd spike on", "whole run")
    for index, label in enumerate(ranges):
        print(f"{label}:")
        print(f"  {'arm':11s} {'s above SLO':>12s} {'failed req':>11s} {'instance-s':>11s}")
        for name in ARMS:
            f = table[name][index]
            print(f"  {name:11s} {f['above']:12.0f} {f['failed']:11.1f} {f['instance_s']:11.0f}")
    for index, label in enumerate(ranges[:2]):
        reactive, predictive = table["reactive"][index], table["predictive"][index]
        above = reactive["above"]
        fewer = 1 - predictive["above"] / above if above else float("nan")
        more = predictive["instance_s"] / reactive["instance_s"] - 1
        verdict = "met" if fewer >= 0.8 and more <= 0.15 else "NOT met"
        print(
            f"predictive vs reactive {label}: {fewer:.0%} fewer seconds above the SLO, "
            f"{more:+.1%} instance-seconds (target: >= 80 % fewer at <= +15 %): {verdict}"
        )


if __name__ == "__main__":
    asyncio.run(main())
