"""The closed loop end to end: a real `perfpilot serve` process, the simulated service pushing to
it (time-compressed), and every assertion made through the HTTP API.

Time: the simulator runs 10-12x faster than the wall clock, dated in the past so that sample
time catches up with the wall clock as the run ends (simulator/run.py). Rules fire, actions
execute and impact is measured on sample timestamps, so the loop runs as it would in real time;
the server's wall-clock ticks are off (PERFPILOT_ENGINE_TICK_SECONDS=3600, as in every
subprocess test): they would evaluate windows at wall time, ahead of the compressed samples.
The autoscaler runs on those ticks, so here scaling comes from a rule (scale_up on p95 latency)
and the services' autoscaling configurations are disabled (they still bound the instances).
Impact is measured after a 15 s settle over a 30 s window of sample time.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from perfpilot.core.auth import Role, TokenAuthority
from perfpilot.core.config import API_PREFIX
from perfpilot.engine.windows import percentile_cont
from perfpilot.simulator import SimClock, Simulation, SimulationConfig, Spike, Steady
from perfpilot.simulator.client import PerfpilotClient
from tests.conftest import TEST_JWT_SECRET, make_settings
from tests.integration.test_restart_kill import ServerProcess

SETTLE, WINDOW = 15.0, 30.0
SPEED = 10.0


class LoopServer(ServerProcess):
    def __init__(self, database_url: str, data_dir: Path) -> None:
        super().__init__(database_url, data_dir)
        self.env |= {
            "PERFPILOT_IMPACT_SETTLE_SECONDS": str(SETTLE),
            "PERFPILOT_IMPACT_WINDOW_SECONDS": str(WINDOW),
        }

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await self.process.wait()


class Api:
    def __init__(self, http: httpx.AsyncClient, base: str) -> None:
        self.http, self.base = http, f"{base}{API_PREFIX}"

    async def __call__(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = await self.http.request(
            method, f"{self.base}{path}", json=body, params=params or None
        )
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()["data"]

    async def samples(self, service: str, metric: str) -> list[dict[str, Any]]:
        """Every stored sample of a series, oldest first (GET /metrics pages newest first)."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"serviceName": service, "metricType": metric, "limit": 1000}
            response = await self.http.get(
                f"{self.base}/metrics", params=params | ({"cursor": cursor} if cursor else {})
            )
            assert response.status_code == 200, response.text
            body = response.json()
            out.extend(body["data"])
            cursor = body.get("nextCursor")
            if not cursor:
                return sorted(out, key=lambda s: s["timestamp"])

    async def measured_actions(self, service: str, count: int) -> list[dict[str, Any]]:
        """The service's executed actions, oldest first, once `count` of them are measured."""
        for _ in range(200):
            actions = await self("GET", "/actions", serviceName=service, status="executed")
            measured = [a for a in actions if a["outcome"] is not None]
            if len(measured) >= count:
                return sorted(actions, key=lambda a: a["executedAt"])
            await asyncio.sleep(0.05)
        raise AssertionError(f"only {len(measured)} of {count} actions measured: {actions}")


def ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def p95(values: list[float]) -> float:
    return percentile_cont(sorted(values), 0.95)


async def run_loop(
    database_url: str, tmp_path: Path, config: SimulationConfig, duration: float, speed: float,
    setup: list[tuple[str, str, dict[str, Any], dict[str, Any]]],
) -> tuple[Api, httpx.AsyncClient, LoopServer, Simulation]:  # fmt: skip
    """Start the server, apply `setup` calls, run the simulation to its end."""
    settings = make_settings(database_url, tmp_path)
    token = TokenAuthority(settings, secret=TEST_JWT_SECRET).mint(
        role=Role.admin, subject="e2e", ttl_seconds=900
    )
    server = LoopServer(database_url, tmp_path / "data")
    await server.start()
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    try:
        api = Api(http, server.url)
        for method, path, body, params in setup:
            await api(method, path, body, **params)
        simulation = Simulation(config, clock=SimClock.compressed(duration=duration, speed=speed))
        async with PerfpilotClient(server.url, token) as client:
            summary = await simulation.run(client, duration=duration)
        assert summary.push_failures == 0 and summary.samples_dropped == 0
    except BaseException:
        await http.aclose()
        await server.stop()
        raise
    return api, http, server, simulation


# --- scenario 1: a load spike that scaling fixes ---------------------------------------------

SPIKY = "e2e-chat"
THRESHOLD, RESOLVE_AT, DURATION = 3000.0, 2500.0, 10.0
SPIKE_AT = 40.0
LATENCY_RULE = {
    "name": "High p95 latency",
    "serviceName": SPIKY,
    "condition": {"metric": "latency", "operator": "gt", "threshold": THRESHOLD,
                  "aggregation": "p95", "window": 30, "duration": DURATION,
                  "resolveThreshold": RESOLVE_AT},
    "action": {"type": "scale_up", "parameters": {"instances": 2}, "priority": "high",
               "cooldown": 120},
}  # fmt: skip


async def test_a_load_spike_is_detected_scaled_away_and_measured(
    clean_database: str, tmp_path: Path
) -> None:
    config = SimulationConfig(
        service=SPIKY, model="gpt-large", instances=2, seed=7,
        profile=Spike(base=5.0, peak=12.0, start=SPIKE_AT, duration=10_000.0),  # stays high
        sample_interval=1.0, push_interval=2.0, poll_interval=1.0, startup_seconds=3.0,
    )  # fmt: skip
    setup = [
        ("PUT", "/autoscaling/config", {"minInstances": 2, "maxInstances": 8, "enabled": False},
         {"serviceName": SPIKY}),
        ("POST", "/rules", LATENCY_RULE, {}),
    ]  # fmt: skip
    api, http, server, sim = await run_loop(clean_database, tmp_path, config, 110.0, SPEED, setup)
    try:
        [action] = await api.measured_actions(SPIKY, 1)
        latency = await api.samples(SPIKY, "latency")
        [alert] = await api("GET", "/alerts", serviceName=SPIKY)
        service = await api("GET", f"/services/{SPIKY}")
        [latest_cpu] = await api("GET", "/metrics", serviceName=SPIKY, metricType="cpu", limit=1)
        end = ts(latency[-1]["timestamp"])
        report = await api("POST", "/reports", {
            "serviceName": SPIKY, "reportType": "custom",
            "period": {"start": latency[0]["timestamp"],
                       "end": datetime.fromtimestamp(end + 1, UTC).isoformat()}})  # fmt: skip
    finally:
        await http.aclose()
        await server.stop()

    # the rule fired within its duration plus one evaluation of the spike's first bad sample
    first_bad = next(ts(s["timestamp"]) for s in latency if s["value"] > THRESHOLD)
    assert first_bad == pytest.approx(sim.clock.start + SPIKE_AT)
    fired = ts(alert["triggeredAt"])
    # (p95 of a 30-sample window needs two bad samples: the second starts the pending timer)
    assert DURATION <= fired - first_bad <= DURATION + config.sample_interval + 1e-3

    # scale_up executed on that alert, and the simulator followed it
    assert action["type"] == "scale_up" and action["source"] == "rule"
    assert action["alertId"] == alert["id"]
    assert ts(action["executedAt"]) == pytest.approx(fired)
    assert (action["stateBefore"]["instances"], action["stateAfter"]["instances"]) == (2, 4)
    assert service["state"]["instances"] == 4
    assert latest_cpu["metadata"]["instances"] == 4
    [applied] = sim.summary.applied
    assert applied.changes == ("instances 2 -> 4",)
    assert 0 < applied.at - fired <= 10.0  # push and poll: 2 s and 1 s, plus the engine's step

    # latency p95 came back under the threshold, and the alert resolved by itself
    last_window = [s["value"] for s in latency if ts(s["timestamp"]) > end - 30]
    assert p95(last_window) < RESOLVE_AT
    assert alert["status"] == "resolved" and alert["resolveReason"] == "recovered"
    assert alert["resolvedBy"] == "perfpilot"  # the engine, not an operator
    assert service["status"] == "healthy"

    # measured: improved, with the figures it rests on
    assert action["outcome"] == "improved"
    assert action["baseline"] > THRESHOLD and action["measuredValue"] < RESOLVE_AT
    expected = (action["baseline"] - action["measuredValue"]) / action["baseline"]
    assert action["measuredImpact"] == pytest.approx(expected)
    assert action["measuredImpact"] > 0.5
    assert action["measuredSamples"] == pytest.approx(WINDOW, abs=1)

    # the report for the run holds the action and its measured impact
    [scale_up] = [o for o in report["optimizations"] if o["type"] == "scale_up"]
    assert (scale_up["executed"], scale_up["improved"], scale_up["measured"]) == (1, 1, 1)
    assert scale_up["impact"] == pytest.approx(action["measuredImpact"])
    assert report["summary"]["alertCounts"]["bySeverity"]["high"] == 1
    assert report["summary"]["latencyP95"] > THRESHOLD  # the spike is in the period


# --- scenario 2: a slow model that scaling cannot fix ----------------------------------------

SLOW = "e2e-slow-model"
SLOW_THRESHOLD = 3000.0
ADD_CAPACITY = {
    "name": "Slow answers: add capacity",
    "serviceName": SLOW,
    "condition": {"metric": "latency", "operator": "gt", "threshold": SLOW_THRESHOLD,
                  "aggregation": "avg", "window": 30, "duration": 30, "resolveThreshold": 2500},
    "action": {"type": "scale_up", "parameters": {"instances": 1}, "priority": "medium",
               "cooldown": 48},
}  # fmt: skip
SWITCH_MODEL = {
    "name": "Slow answers: switch model",
    "serviceName": SLOW,
    "condition": {"metric": "latency", "operator": "gt", "threshold": SLOW_THRESHOLD,
                  "aggregation": "avg", "window": 30, "duration": 125, "resolveThreshold": 2500},
    "action": {"type": "model_switch", "parameters": {"model": "gpt-large"}, "priority": "high",
               "cooldown": 300, "revertOnResolve": False},
}  # fmt: skip


async def test_a_slow_model_is_fixed_by_a_model_switch_not_by_instances(
    clean_database: str, tmp_path: Path
) -> None:
    """gpt-xl answers in ~4.5 s at 20 % cpu. scale_up (at 30 s, again at 78 s; then at its
    maximum of 4) is measured before the model switch (at 125 s) can touch its windows, and
    neither scale-up executes inside the other's measurement window (30-75 s, 78-123 s), so
    each is measured on its own and credited (no overlapsWith)."""
    config = SimulationConfig(
        service=SLOW, model="gpt-xl", instances=2, seed=11, profile=Steady(0.6),
        sample_interval=1.0, push_interval=2.0, poll_interval=1.0, startup_seconds=3.0,
    )  # fmt: skip
    setup = [
        ("PUT", "/autoscaling/config", {"minInstances": 2, "maxInstances": 4, "enabled": False},
         {"serviceName": SLOW}),
        ("POST", "/rules", ADD_CAPACITY, {}),
        ("POST", "/rules", SWITCH_MODEL, {}),
    ]  # fmt: skip
    api, http, server, sim = await run_loop(clean_database, tmp_path, config, 180.0, 12.0, setup)
    try:
        actions = await api.measured_actions(SLOW, 3)
        cpu = await api.samples(SLOW, "cpu")
        alerts = await api("GET", "/alerts", serviceName=SLOW)
        service = await api("GET", f"/services/{SLOW}")
        skipped = await api("GET", "/actions", serviceName=SLOW, status="skipped")
        optimize = await api("POST", "/optimize", {
            "serviceName": SLOW, "metricType": "latency", "value": 950.0})  # fmt: skip
        report = await api("POST", "/reports", {
            "serviceName": SLOW, "reportType": "custom",
            "period": {"start": cpu[0]["timestamp"],
                       "end": (datetime.now(UTC) + timedelta(seconds=1)).isoformat()}})  # fmt: skip
    finally:
        await http.aclose()
        await server.stop()

    # cpu stayed low: the service was never short of capacity
    assert max(s["value"] for s in cpu) < 30
    scale_ups = [a for a in actions if a["type"] == "scale_up"]
    [switch] = [a for a in actions if a["type"] == "model_switch"]
    assert [(a["stateBefore"]["instances"], a["stateAfter"]["instances"]) for a in scale_ups] == [
        (2, 3),
        (3, 4),
    ]
    assert any("at max instances" in (a["reason"] or "") for a in skipped)
    # more instances: measured, no change; the other model: measured, improved
    for scale_up in scale_ups:
        assert (scale_up["overlapsWith"], scale_up["credited"]) == ([], True)
        assert scale_up["outcome"] == "no_change", scale_up
        assert abs(scale_up["measuredImpact"]) < 0.02
        assert ts(scale_up["measureDueAt"]) <= ts(switch["executedAt"])
    assert switch["outcome"] == "improved"
    assert switch["measuredImpact"] > 0.5
    assert switch["measuredValue"] < SLOW_THRESHOLD < switch["baseline"]
    assert service["state"]["model"] == "gpt-large" and service["state"]["instances"] == 4
    assert sim.runtime.model_name == "gpt-large"
    assert {a["status"] for a in alerts} == {"resolved"}

    # /optimize recommends the model change over more instances, citing the measurements
    [advice] = [r for r in optimize["recommendationDetails"] if r["kind"] == "ineffective_action"]
    evidence = advice["evidence"]
    assert evidence["actionType"] == "scale_up" and evidence["measured"] == 2
    assert evidence["outcomes"] == {"no_change": 2}
    assert evidence["better"]["actionType"] == "model_switch"
    assert evidence["better"]["meanImpact"] == pytest.approx(switch["measuredImpact"])
    assert "change the model rather than add instances" in advice["message"]
    assert f"{switch['measuredImpact']:+.1%}" in advice["message"]
    assert advice["message"] in optimize["recommendations"]

    # the report: both action types with their measured outcomes; scale_up flagged
    by_type = {o["type"]: o for o in report["optimizations"]}
    assert (by_type["scale_up"]["measured"], by_type["scale_up"]["noChange"]) == (2, 2)
    assert (by_type["model_switch"]["measured"], by_type["model_switch"]["improved"]) == (1, 1)
    assert by_type["model_switch"]["impact"] == pytest.approx(switch["measuredImpact"])
    [flagged] = [r for r in report["recommendations"] if r["kind"] == "ineffective_action"]
    assert flagged["evidence"]["actionType"] == "scale_up"
    assert flagged["evidence"]["noChange"] == 2
    assert flagged["evidence"]["better"]["actionType"] == "model_switch"
    assert "change the model rather than add instances" in flagged["message"]
