"""`perfpilot serve --demo`: the server plus a simulated service, rules and autoscaling.

What the demo sets up, so a new user sees data, alerts and actions within the first minute:
- service `demo-chat`: gpt-large on 2 instances, 4 requests/s, with a load spike to 11
  requests/s starting 20 s after start and every 7 minutes after, for 150 s each (more than
  the 2 instances serve: latency and errors climb);
- three rules scoped to `demo-chat`, created when no rule of that name exists:
  p95 latency > 3 s for 10 s -> scale_up by 2; p99 latency > 6 s for 5 s -> fallback to
  small-fast (reverted when it resolves); error rate > 5 % for 20 s -> retry twice;
- its autoscaling configuration (when it has none of its own): cpu, 2-8 instances, target
  60 %, thresholds 30 %/80 %, 120 s stabilisation; it scales back down after a spike;
- impact settle/window of 15 s/60 s unless PERFPILOT_IMPACT_* are set, so measured outcomes
  show within two minutes.
The simulator runs in real time as a task of the server's lifespan, over HTTP against the same
server with a minted admin token; it stops with the server. The demo uses the configured
database like any client would: its rows are the `demo-chat` service's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import structlog
from fastapi import FastAPI

from perfpilot.core.auth import Role
from perfpilot.core.config import API_PREFIX, Settings
from perfpilot.core.context import AppContext
from perfpilot.simulator.client import PerfpilotClient
from perfpilot.simulator.profiles import Spike
from perfpilot.simulator.run import SimClock, Simulation, SimulationConfig

log = structlog.get_logger("perfpilot.demo")

SERVICE = "demo-chat"
TOKEN_TTL_SECONDS = 30 * 86400
IMPACT_SETTLE_SECONDS = 15.0
IMPACT_WINDOW_SECONDS = 60.0

DEMO_CONFIG = SimulationConfig(
    service=SERVICE,
    model="gpt-large",
    instances=2,
    profile=Spike(base=4.0, peak=11.0, start=20.0, duration=150.0, ramp=5.0, every=420.0),
    seed=42,
)

DEMO_RULES: list[dict[str, Any]] = [
    {
        "name": "Demo: high p95 latency",
        "description": "p95 latency above 3 s for 10 s: add two instances",
        "serviceName": SERVICE,
        "condition": {"metric": "latency", "operator": "gt", "threshold": 3000,
                      "aggregation": "p95", "window": 30, "duration": 10,
                      "resolveThreshold": 2500},
        "action": {"type": "scale_up", "parameters": {"instances": 2}, "priority": "high",
                   "cooldown": 60},
    },
    {
        "name": "Demo: very slow answers",
        "description": "p99 latency above 6 s: serve with the small model until it recovers",
        "serviceName": SERVICE,
        "condition": {"metric": "latency", "operator": "gt", "threshold": 6000,
                      "aggregation": "p99", "window": 30, "duration": 5},
        "action": {"type": "fallback", "parameters": {"models": ["small-fast"]},
                   "priority": "critical", "cooldown": 120},
    },
    {
        "name": "Demo: error rate",
        "description": "more than 5 % of requests failing for 20 s: retry twice",
        "serviceName": SERVICE,
        "condition": {"metric": "error_rate", "operator": "gt", "threshold": 0.05,
                      "aggregation": "avg", "window": 30, "duration": 20,
                      "resolveThreshold": 0.02},
        "action": {"type": "retry", "parameters": {"maxRetries": 2, "backoffMs": 200},
                   "priority": "medium", "cooldown": 300},
    },
]  # fmt: skip

DEMO_AUTOSCALING: dict[str, Any] = {
    "enabled": True,
    "metric": "cpu",
    "minInstances": 2,
    "maxInstances": 8,
    "targetUtilization": 60,
    "scaleUpThreshold": 80,
    "scaleDownThreshold": 30,
    "cooldownPeriod": 120,
}


def demo_settings(settings: Settings) -> None:
    """Shorter impact measurement for the demo, unless configured explicitly."""
    if "impact_settle_seconds" not in settings.model_fields_set:
        settings.impact_settle_seconds = IMPACT_SETTLE_SECONDS
    if "impact_window_seconds" not in settings.model_fields_set:
        settings.impact_window_seconds = IMPACT_WINDOW_SECONDS


async def wait_ready(base_url: str, *, within: float = 60.0) -> None:
    """Until GET /readyz answers 200 (the server starts listening after its lifespan)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2.0) as http:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{base_url}/readyz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{base_url} did not become ready in {within:g}s")
            await asyncio.sleep(0.2)


async def set_up(client: PerfpilotClient) -> list[str]:
    """Create the demo rules that do not exist yet and the service's autoscaling config;
    returns the names of the rules created."""
    existing = {rule["name"] for rule in await client.get("/rules", serviceName=SERVICE)}
    created = []
    for rule in DEMO_RULES:
        if rule["name"] not in existing:
            await client.send("POST", "/rules", rule)
            created.append(str(rule["name"]))
    config = await client.get("/autoscaling/config", serviceName=SERVICE)
    if config.get("inherited", True):
        await client.send("PUT", "/autoscaling/config", DEMO_AUTOSCALING, serviceName=SERVICE)
    return created


async def run_demo(ctx: AppContext, base_url: str) -> None:
    """Set up the demo, then simulate `demo-chat` in real time until cancelled."""
    token = ctx.tokens.mint(role=Role.admin, subject="demo", ttl_seconds=TOKEN_TTL_SECONDS)
    try:
        await wait_ready(base_url)
        async with PerfpilotClient(base_url, token) as client:
            created = await set_up(client)
            log.info("demo_started", service=SERVICE, rules_created=created)
            simulation = Simulation(DEMO_CONFIG, clock=SimClock(start=time.time()))
            # the server stops listening before its lifespan ends: nothing to flush to
            await simulation.run(client, duration=None, flush_on_exit=False)
    except asyncio.CancelledError:
        raise
    except Exception:  # the server keeps serving; the demo says why it stopped
        log.exception("demo_failed")


def local_url(settings: Settings) -> str:
    """Where this process's server is reachable from itself."""
    host = settings.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - recognising a wildcard, not binding one
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def install_demo(app: FastAPI, *, settings: Settings) -> str:
    """Run the demo as a task of the app's lifespan (started after the rest, stopped before);
    returns what to tell the user."""
    ctx: AppContext = app.state.ctx
    inner = app.router.lifespan_context
    base_url = local_url(settings)

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as state:
            task = asyncio.create_task(run_demo(ctx, base_url), name="perfpilot-demo")
            try:
                yield state
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app.router.lifespan_context = lifespan
    api = f"{base_url}{API_PREFIX}"
    lines = [
        f"Demo: simulating {SERVICE} (gpt-large, 2 instances, 4 req/s; a spike to 11 req/s "
        "20 s from now and every 7 min), with demo rules and autoscaling. Watch it:",
        f'  curl -s {api}/services/{SERVICE} -H "Authorization: Bearer $TOKEN"',
        f"  curl -s '{api}/alerts?serviceName={SERVICE}' -H \"Authorization: Bearer $TOKEN\"",
        f"  curl -s '{api}/actions?serviceName={SERVICE}' -H \"Authorization: Bearer $TOKEN\"",
    ]
    if not ctx.secret_generated:
        token = ctx.tokens.mint(role=Role.viewer, subject="demo-viewer", ttl_seconds=86400)
        lines.append(f"A viewer token for the demo (valid 1 day): {token}")
    return "\n".join(lines)
