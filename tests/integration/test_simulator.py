"""The simulator's ways in: `perfpilot simulate`, webhook follow mode, `perfpilot serve --demo`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from perfpilot.core.auth import Role, TokenAuthority
from perfpilot.core.config import API_PREFIX
from perfpilot.simulator import SimClock, Simulation, SimulationConfig, Steady
from perfpilot.simulator.client import PerfpilotClient
from perfpilot.simulator.demo import DEMO_RULES, SERVICE
from perfpilot.simulator.webhook import StateReceiver
from perfpilot.webhooks.signing import signature_headers
from tests.conftest import TEST_JWT_SECRET, LiveServer, make_settings
from tests.integration.test_restart_kill import free_port

# fires on the first cpu sample: the service's desired instances go 2 -> 3
GROW = {
    "name": "grow",
    "condition": {"metric": "cpu", "operator": "gte", "threshold": 0},
    "action": {"type": "scale_up", "parameters": {"instances": 1}, "cooldown": 3600},
}


async def create_rule(s: LiveServer, service: str) -> None:
    response = await s.client.post(
        s.api("/rules"), json=GROW | {"serviceName": service}, headers=s.auth()
    )
    assert response.status_code == 201, response.text


async def get(s: LiveServer, path: str, **params: Any) -> Any:
    response = await s.client.get(s.api(path), params=params, headers=s.auth("viewer"))
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_simulate_command_pushes_metrics_and_follows_the_state(
    live_server: LiveServer, tmp_path: Path
) -> None:
    s = live_server
    await create_rule(s, "cli-sim")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "perfpilot.cli", "simulate", "--url", s.base_url,
        "--token", s.token("operator"), "--service", "cli-sim", "--profile", "steady",
        "--seed", "3", "--speed", "10", "--duration", "40",
        env=os.environ | {"PERFPILOT_DATA_DIR": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    text = out.decode()
    assert process.returncode == 0, text
    assert "Simulating cli-sim (gpt-large, steady profile, seed 3) at 10x" in text
    assert "320 samples pushed, 0 dropped" in text
    assert "state v2: instances 2 -> 3" in text
    await s.settle()
    cpu = await get(s, "/metrics", serviceName="cli-sim", metricType="cpu", limit=100)
    assert len(cpu) == 40
    assert all(sample["timestamp"] <= cpu[0]["timestamp"] for sample in cpu)
    # newest: the third instance serves (it starts 5 simulated seconds after the state, which
    # has 3.5 s of real time to arrive: the run lasts 4 s at 10x; at 20x and 20 s a loaded
    # machine missed the 0.75 s this left)
    assert cpu[0]["metadata"]["instances"] == 3, text


async def test_simulate_command_rejects_bad_options(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "perfpilot.cli", "simulate", "--token", "x", "--speed", "5",
        env=os.environ | {"PERFPILOT_DATA_DIR": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 2
    assert "a speed other than 1 needs" in out.decode()


async def test_simulate_command_stops_when_the_token_is_refused(
    live_server: LiveServer, tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "perfpilot.cli", "simulate", "--url", live_server.base_url,
        "--token", "not-a-jwt", "--duration", "30",
        env=os.environ | {"PERFPILOT_DATA_DIR": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 1
    assert "answered 401" in out.decode()


async def test_webhook_mode_follows_signed_state_changes(live_server: LiveServer) -> None:
    s = live_server
    await create_rule(s, "hooked")
    config = SimulationConfig(
        service="hooked", profile=Steady(3.0), follow="webhook", push_interval=2.0
    )
    simulation = Simulation(config, clock=SimClock.compressed(duration=30.0, speed=10.0))
    async with PerfpilotClient(s.base_url, s.token("admin")) as client:
        summary = await simulation.run(client, duration=30.0)
    [applied] = summary.applied
    assert applied.version == 2 and applied.changes == ("instances 2 -> 3",)
    assert simulation.runtime.desired_instances == 3
    assert await get(s, "/webhooks") == []  # the subscription goes with the run


async def test_the_receiver_rejects_unsigned_and_foreign_requests() -> None:
    receiver = StateReceiver("svc")
    await receiver.start()
    receiver.secret = "whsec_" + "k" * 32
    body = (
        b'{"event": "state.changed", "serviceName": "svc", "version": 7,'
        b' "state": {"instances": 5, "model": null, "fallbackModels": [],'
        b' "fallbackActive": false, "retryPolicy": {}, "cacheEpoch": 0}}'
    )
    try:
        async with httpx.AsyncClient() as http:
            forged = await http.post(receiver.url, content=body, headers=signature_headers(
                "whsec_" + "z" * 32, body))  # fmt: skip
            assert forged.status_code == 401 and receiver.take() is None
            stale = signature_headers(receiver.secret, body, timestamp=int(time.time()) - 3600)
            assert (await http.post(receiver.url, content=body, headers=stale)).status_code == 401
            signed = await http.post(
                receiver.url, content=body, headers=signature_headers(receiver.secret, body)
            )
            assert signed.status_code == 204
    finally:
        await receiver.stop()
    state = receiver.take()
    assert state is not None and (state.version, state.instances) == (7, 5)
    assert receiver.rejected == 2 and receiver.take() is None


async def test_serve_demo_sets_up_rules_autoscaling_and_a_live_service(
    clean_database: str, tmp_path: Path
) -> None:
    port = free_port()
    env = os.environ | {
        "PERFPILOT_DATABASE_URL": clean_database,
        "PERFPILOT_DATA_DIR": str(tmp_path / "data"),
        "PERFPILOT_JWT_SECRET": TEST_JWT_SECRET,
        "PERFPILOT_PORT": str(port),
        "PERFPILOT_LOG_LEVEL": "ERROR",
    }
    token = TokenAuthority(make_settings(clean_database, tmp_path), secret=TEST_JWT_SECRET).mint(
        role=Role.viewer, subject="t", ttl_seconds=600
    )
    api = f"http://127.0.0.1:{port}{API_PREFIX}"

    async def demo_until(ready: Any) -> tuple[str, Any]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "perfpilot.cli", "serve", "--demo", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
                for _ in range(300):
                    try:
                        result = await ready(http)
                        if result:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("the demo did not get going in 30 s")
        finally:
            process.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(process.communicate(), timeout=30)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert process.returncode in (0, -signal.SIGTERM)
        return out.decode(), result

    async def data_arrived(http: httpx.AsyncClient) -> Any:
        samples = (await http.get(f"{api}/metrics", params={"serviceName": SERVICE})).json()
        if not samples.get("data"):
            return None
        scope = {"serviceName": SERVICE}
        return (
            (await http.get(f"{api}/services/{SERVICE}")).json()["data"],
            (await http.get(f"{api}/rules", params=scope)).json()["data"],
            (await http.get(f"{api}/autoscaling/config", params=scope)).json()["data"],
        )

    printed, (service, rules, config) = await demo_until(data_arrived)
    assert f"Demo: simulating {SERVICE}" in printed
    assert service["state"]["instances"] == 2
    assert sorted(r["name"] for r in rules) == sorted(r["name"] for r in DEMO_RULES)
    assert (config["inherited"], config["enabled"], config["maxInstances"]) == (False, True, 8)

    # a restart keeps them: nothing is created twice
    async def rules_listed(http: httpx.AsyncClient) -> Any:
        return (await http.get(f"{api}/rules", params={"serviceName": SERVICE})).json()["data"]

    await asyncio.sleep(0.5)
    _, again = await demo_until(rules_listed)
    assert len(again) == len(DEMO_RULES)
