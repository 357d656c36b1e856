"""A real server process killed with SIGKILL mid-lifecycle loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from perfpilot.core.auth import Role, TokenAuthority
from perfpilot.core.config import API_PREFIX
from tests.conftest import TEST_JWT_SECRET, make_settings
from tests.webhook_receiver import WebhookReceiver

SERVICE = "ai-chat-service"
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """`perfpilot serve` in its own process, on the test's database."""

    def __init__(self, database_url: str, data_dir: Path) -> None:
        self.port = free_port()
        self.env = os.environ | {
            "PERFPILOT_DATABASE_URL": database_url,
            "PERFPILOT_DATA_DIR": str(data_dir),
            "PERFPILOT_JWT_SECRET": TEST_JWT_SECRET,
            "PERFPILOT_PORT": str(self.port),
            "PERFPILOT_OUTBOUND_ALLOW": "127.0.0.0/8",  # the test's webhook receiver
            "PERFPILOT_ENGINE_TICK_SECONDS": "3600",
            "PERFPILOT_WEBHOOK_POLL_INTERVAL_SECONDS": "0.05",
            "PERFPILOT_LOG_LEVEL": "ERROR",
        }
        self.process: asyncio.subprocess.Process | None = None
        self.log = (data_dir.parent / "server.log").open("ab")

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "perfpilot.cli",
            "serve",
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self.log,
        )
        # a start imports the whole app and upgrades the store: 15 s was not always enough
        # for it on a loaded 2-core machine
        deadline = time.monotonic() + READY_TIMEOUT_S
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"server process did not become ready in {READY_TIMEOUT_S:g} s")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def test_sigkill_between_samples_never_loses_or_duplicates_an_alert(
    clean_database: str, tmp_path: Path
) -> None:
    settings = make_settings(clean_database, tmp_path)
    token = TokenAuthority(settings, secret=TEST_JWT_SECRET).mint(
        role=Role.admin, subject="t", ttl_seconds=600
    )
    headers = {"Authorization": f"Bearer {token}"}
    server = ServerProcess(clean_database, tmp_path / "data")
    base = datetime.now(UTC) - timedelta(seconds=250)

    def sample(second: int, value: float) -> dict[str, Any]:
        return {
            "serviceName": SERVICE,
            "metricType": "latency",
            "value": value,
            "timestamp": (base + timedelta(seconds=second)).isoformat(),
        }

    async with WebhookReceiver() as receiver, httpx.AsyncClient(headers=headers) as client:

        async def api(method: str, path: str, **kwargs: Any) -> Any:
            r = await client.request(method, f"{server.url}{API_PREFIX}{path}", **kwargs)
            assert r.is_success, r.text
            return r.json()["data"]

        await server.start()
        await api(
            "POST",
            "/webhooks",
            json={"url": receiver.url, "events": ["alert.fired", "alert.resolved"]},
        )
        await api(
            "POST",
            "/rules",
            json={
                "name": "slow",
                "serviceName": SERVICE,
                "condition": {
                    "metric": "latency",
                    "operator": "gt",
                    "threshold": 5000,
                    "duration": 30,
                },
                "action": {"type": "cache_clear"},
            },
        )
        await api("POST", "/metrics", json=sample(0, 6000))  # pending from 0 s
        await asyncio.sleep(1.0)  # the engine persists the pending timer after the commit
        await server.kill()

        await server.start()
        await api("POST", "/metrics", json=sample(31, 6100))  # fires: pending since 0 s
        [fired] = await receiver.wait_for(1)
        await server.kill()

        await server.start()
        for second in (40, 50):
            await api("POST", "/metrics", json=sample(second, 7000))
        for _ in range(100):  # the engine evaluates after the commit: wait for it
            alerts = await api("GET", "/alerts")
            if alerts and alerts[0]["currentValue"] == 7000:
                break
            await asyncio.sleep(0.05)
        assert len(alerts) == 1
        assert alerts[0]["status"] == "active"
        assert alerts[0]["currentValue"] == 7000
        await api("POST", "/metrics", json=sample(60, 100))  # recovers
        requests = await receiver.wait_for(2)
        await asyncio.sleep(0.5)  # anything duplicated would arrive now
        await server.kill()

    events = [r.header("x-perfpilot-event") for r in receiver.requests]
    keys = {r.header("idempotency-key") for r in receiver.requests}
    assert events.count("alert.fired") >= 1 and events.count("alert.resolved") >= 1
    assert len(keys) == 2  # at-least-once, but one alert: exactly two distinct events
    assert fired.json()["alerts"][0]["status"] == "firing"
    assert requests[-1].json()["status"] == "resolved"
