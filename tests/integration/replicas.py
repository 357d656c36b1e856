"""Several real `perfpilot serve` processes with scale-out on, on the test's PostgreSQL
database, and what their tests ask of them over HTTP (test_scale_out*.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from perfpilot.core.auth import Role, TokenAuthority
from perfpilot.core.config import API_PREFIX
from tests.conftest import TEST_JWT_SECRET, make_settings
from tests.integration.test_restart_kill import free_port

SHARDS = 64


class Replica:
    """One `perfpilot serve --` process with scale-out on, on the test's database."""

    def __init__(self, name: str, database_url: str, tmp: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = os.environ | {
            "PERFPILOT_DATABASE_URL": database_url,
            "PERFPILOT_DATA_DIR": str(tmp / name),
            "PERFPILOT_JWT_SECRET": TEST_JWT_SECRET,
            "PERFPILOT_PORT": str(self.port),
            "PERFPILOT_OUTBOUND_ALLOW": "127.0.0.0/8",  # the test's webhook receiver
            "PERFPILOT_SCALE_OUT": "true",
            "PERFPILOT_SHARDS": str(SHARDS),
            "PERFPILOT_SHARD_CHECK_SECONDS": "0.3",
            "PERFPILOT_SHARD_POLL_SECONDS": "0.2",
            "PERFPILOT_ENGINE_TICK_SECONDS": "1",
            "PERFPILOT_WEBHOOK_POLL_INTERVAL_SECONDS": "0.1",
            "PERFPILOT_RATE_LIMIT_ENABLED": "false",
            "PERFPILOT_UI": "false",
            "PERFPILOT_LOG_LEVEL": "WARNING",
        }
        self.log = (tmp / f"{name}.log").open("ab")
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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
        async with httpx.AsyncClient() as client:
            for _ in range(1200):
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError(f"replica {self.name} did not become ready")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


class Api:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def __call__(self, replica: Replica, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, f"{replica.url}{API_PREFIX}{path}", **kwargs)
        assert response.is_success, response.text
        return response.json()["data"]


def client_for(database_url: str, tmp: Path) -> httpx.AsyncClient:
    settings = make_settings(database_url, tmp)
    token = TokenAuthority(settings, secret=TEST_JWT_SECRET).mint(
        role=Role.admin, subject="t", ttl_seconds=900
    )
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)


async def eventually(check: Any, *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def owners_of(api: Api, replica: Replica) -> dict[int, str | None]:
    data = await api(replica, "GET", "/cluster/shards")
    return {s["shard"]: s["owner"] for s in data["shards"]}


async def balanced(api: Api, alive: list[Replica]) -> dict[int, str] | None:
    """Shard owners once every shard is owned and each live replica holds a fair share."""
    owners = await owners_of(api, alive[0])
    per_replica = Counter(owners.values())
    share = -(-SHARDS // len(alive))
    if None in per_replica or len(per_replica) != len(alive):
        return None
    if any(count > share for count in per_replica.values()):
        return None
    return {k: str(v) for k, v in owners.items()}


async def replica_ids(api: Api, group: list[Replica]) -> dict[str, Replica]:
    ids = {}
    for replica in group:
        health = await api(replica, "GET", "/health")
        ids[health["replica"]["id"]] = replica
    return ids
