"""Fixtures of the scale-out tests (test_scale_out*.py): three real replicas on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.replicas import Replica


@pytest.fixture
def postgres(database_url: str, request: pytest.FixtureRequest) -> str:
    """The emptied-after-the-test PostgreSQL database; skips on SQLite."""
    if database_url.startswith("sqlite"):
        pytest.skip("scale-out is PostgreSQL only (SQLite: one server per data directory)")
    url: str = request.getfixturevalue("clean_database")
    return url


@pytest.fixture
async def replicas(postgres: str, tmp_path: Path) -> AsyncIterator[list[Replica]]:
    clean_database = postgres
    group = [Replica(name, clean_database, tmp_path) for name in ("a", "b", "c")]
    try:
        await asyncio.gather(*(r.start() for r in group))
        yield group
    finally:
        await asyncio.gather(*(r.stop() for r in group))
