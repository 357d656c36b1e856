"""Shared fixtures: a real database per backend and the real app served over real HTTP.

Integration tests run once on SQLite and, when PERFPILOT_TEST_DATABASE_URL is set, once more
on PostgreSQL. The schema is built by the Alembic migrations (the app upgrades on start); each
test gets a fresh app process state and empty tables.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi.dependencies.models
import httpx
import pytest
import uvicorn
from sqlalchemy import make_url, text

from perfpilot.app import create_app
from perfpilot.core.auth import Role
from perfpilot.core.config import API_PREFIX, Settings
from perfpilot.core.context import AppContext
from perfpilot.core.db import create_engine
from perfpilot.core.server import uvicorn_options
from perfpilot.engine.runner import EngineRunner
from perfpilot.models import Base

TEST_JWT_SECRET = "test-secret-" + "x" * 40
PG_URL = os.environ.get("PERFPILOT_TEST_DATABASE_URL")


@pytest.fixture(autouse=True)
def _forget_apps_after_each_test() -> Any:
    """FastAPI keeps, in module-level lru_caches of 4,096 entries (fastapi.dependencies.models),
    every endpoint and dependency callable it classified; the app's own closures (docs routes,
    per-app dependencies) hold the app. One server process makes one app, but this session
    makes hundreds: without this, each test's app with its engine state stayed alive (2 M
    objects by mid-suite, full collections of 3-5 s with the event loop stopped, and a 10 s
    /healthz probe timeout in CI). Clearing the caches after each test lets its app go."""
    yield
    for value in vars(fastapi.dependencies.models).values():
        if isinstance(value, functools._lru_cache_wrapper):
            value.cache_clear()
    _freeze_survivors_now_and_then()


FREEZE_EVERY_TESTS = 50
_tests_since_freeze = 0


def _freeze_survivors_now_and_then() -> None:
    """Every FREEZE_EVERY_TESTS tests: collect, then freeze what survives (the modules imported
    so far, hypothesis' and the libraries' caches) out of the collector's reach. A full
    collection walks every tracked object; this session's process holds several hundred
    thousand that outlive any one test, and its servers share the process: without this, a
    full collection stopped the event loop for up to a second mid-suite, and several in a row
    for longer than a /healthz probe's 10 s. A server process freezes what its start-up built
    the same way (perfpilot.cli.tune_gc)."""
    global _tests_since_freeze
    _tests_since_freeze += 1
    if _tests_since_freeze >= FREEZE_EVERY_TESTS:
        _tests_since_freeze = 0
        gc.collect()
        gc.freeze()


def _backends() -> list[Any]:
    params: list[Any] = ["sqlite"]
    params.append(
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(not PG_URL, reason="PERFPILOT_TEST_DATABASE_URL not set"),
        )
    )
    return params


@pytest.fixture(scope="session", params=_backends())
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "perfpilot.db"
        yield f"sqlite+aiosqlite:///{path}"
        return
    assert PG_URL
    # A database of its own per test session, so concurrent runs never see each other's rows.
    name = f"perfpilot_test_{os.getpid()}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def _empty_tables(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
    await engine.dispose()


@pytest.fixture
async def clean_database(database_url: str) -> AsyncIterator[str]:
    """The database URL, emptied after the test (for tests that run their own servers)."""
    yield database_url
    await _empty_tables(database_url)


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "jwt_secret": TEST_JWT_SECRET,
        "rate_limit_read": "100000/minute",
        "rate_limit_write": "100000/minute",
        "rate_limit_ingest": "100000/minute",
        "rate_limit_anonymous": "100000/minute",
        "access_log": False,
        # ticks only when a test asks (runner.tick_now), so time is driven by the test
        "engine_tick_seconds": 3600.0,
        "log_level": "WARNING",
        # the local webhook receivers listen on loopback; the SSRF tests narrow this
        "outbound_allow": ["127.0.0.0/8"],
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class LiveServer:
    """The real app on a real socket; `client` talks HTTP to it."""

    base_url: str
    ctx: AppContext
    client: httpx.AsyncClient

    def token(self, role: str = "admin", subject: str = "tester", ttl: int = 3600) -> str:
        return self.ctx.tokens.mint(role=Role[role], subject=subject, ttl_seconds=ttl)

    def auth(self, role: str = "admin", subject: str = "tester") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, subject)}"}

    def api(self, path: str) -> str:
        return f"{API_PREFIX}{path}"

    @property
    def runner(self) -> EngineRunner:
        runner = self.ctx.loops["engine"]
        assert isinstance(runner, EngineRunner)
        return runner

    async def settle(self) -> None:
        """Wait until the engine has evaluated everything committed so far."""
        await self.runner.drain()

    async def push(self, *samples: dict[str, Any]) -> None:
        response = await self.client.post(
            self.api("/metrics/batch"), json={"samples": list(samples)}, headers=self.auth()
        )
        assert response.status_code == 201, response.text
        await self.settle()


async def start_server(settings: Settings) -> tuple[uvicorn.Server, asyncio.Task[None], Any]:
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", **uvicorn_options()
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    else:
        raise RuntimeError("test server did not start")
    return server, task, (app, sock.getsockname()[1])


@pytest.fixture
async def live_server(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[LiveServer]:
    marker = request.node.get_closest_marker("settings")
    overrides = dict(marker.kwargs) if marker else {}
    settings = make_settings(database_url, tmp_path, **overrides)
    server, task, (app, port) = await start_server(settings)
    base_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        yield LiveServer(base_url=base_url, ctx=app.state.ctx, client=client)
    server.should_exit = True
    await task
    await _empty_tables(database_url)
