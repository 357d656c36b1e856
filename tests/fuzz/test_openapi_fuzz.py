"""The bounded fuzz stage: schemathesis generates requests for every operation of the OpenAPI
document and sends them to a real `perfpilot serve` over HTTP, on SQLite and (when
PERFPILOT_TEST_DATABASE_URL is set) on PostgreSQL. Any server error or any response the
document does not describe (status, content type, headers, body schema) fails the suite.

Bounded: a fixed seed and a fixed number of examples per operation, so a run is repeatable
and takes a few minutes at most.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import make_url, text

from perfpilot.app import create_app
from perfpilot.core.auth import Role, TokenAuthority
from perfpilot.core.db import create_engine
from tests.conftest import PG_URL, TEST_JWT_SECRET, make_settings

SEED = 20261130
MAX_EXAMPLES = 20  # per operation and store, positive and negative cases mixed
PERFPILOT = str(Path(sys.executable).parent / "perfpilot")

pytestmark = pytest.mark.fuzz

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "max-stream-events": 1,
        "request-timeout": 30,
        "generation": {"max-examples": MAX_EXAMPLES, "with-security-parameters": False},
        "phases": {"stateful": {"enabled": False}},
    }
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin_token(data_dir: Path) -> str:
    authority = TokenAuthority(make_settings("sqlite://", data_dir), secret=TEST_JWT_SECRET)
    return authority.mint(role=Role.admin, subject="fuzz", ttl_seconds=3600)


async def _recreate_database(name: str, *, drop_only: bool = False) -> str:
    assert PG_URL
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if not drop_only:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _serve(database_url: str | None, data_dir: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`perfpilot serve` as a real process, and the schema it documents, ready to call."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERFPILOT_")}
    env.update(
        PERFPILOT_DATA_DIR=str(data_dir),
        PERFPILOT_JWT_SECRET=TEST_JWT_SECRET,
        PERFPILOT_PORT=str(port),
        PERFPILOT_LOG_LEVEL="ERROR",
        PERFPILOT_ACCESS_LOG="false",
        PERFPILOT_RATE_LIMIT_ENABLED="false",
    )
    if database_url:
        env["PERFPILOT_DATABASE_URL"] = database_url
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen([PERFPILOT, "serve"], env=env, stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (data_dir / "server.log").read_text()
            try:
                if httpx.get(f"{base_url}/readyz", timeout=30).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "perfpilot serve did not become ready"
            time.sleep(0.1)
        # the live server documents what the collected operations were generated from
        assert httpx.get(f"{base_url}/openapi.json", timeout=60).json() == DOCUMENT
        yield base_url, {"Authorization": f"Bearer {_admin_token(data_dir)}"}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def sqlite_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    yield from _serve(None, tmp_path_factory.mktemp("fuzz-sqlite"))


@pytest.fixture(scope="module")
def postgres_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    if not PG_URL:
        pytest.skip("PERFPILOT_TEST_DATABASE_URL not set")
    name = f"perfpilot_fuzz_{os.getpid()}"
    url = asyncio.run(_recreate_database(name))
    try:
        yield from _serve(url, tmp_path_factory.mktemp("fuzz-postgres"))
    finally:
        asyncio.run(_recreate_database(name, drop_only=True))


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _document() -> dict[str, Any]:
    """The OpenAPI document the app serves (built without a server, for collection)."""
    settings = make_settings("sqlite+aiosqlite://", Path(tempfile.gettempdir()))
    return create_app(settings, migrate=False).openapi()


DOCUMENT = _document()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def _fuzz(operation: APIOperation, api: tuple[str, dict[str, str]]) -> None:
    base_url, headers = api
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @hypothesis.seed(SEED)
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
        verbosity=hypothesis.Verbosity.quiet,
    )
    @hypothesis.given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

    run()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_operation_on_sqlite(
    operation: APIOperation, sqlite_api: tuple[str, dict[str, str]]
) -> None:
    _fuzz(operation, sqlite_api)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_operation_on_postgresql(
    operation: APIOperation, postgres_api: tuple[str, dict[str, str]]
) -> None:
    _fuzz(operation, postgres_api)
