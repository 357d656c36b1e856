"""Rate limits across replicas: with PERFPILOT_REDIS_URL the counters live in Redis, so two
replicas admit the limit between them; without it each counts alone (README, "Running several
replicas"). Each RateLimiter here is the one a replica's create_app builds from its settings.

Needs Redis at 127.0.0.1:6379 (PERFPILOT_TEST_REDIS_URL to change): skipped when it is not
there, failed instead when PERFPILOT_REQUIRE_EXTERNAL=1."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from perfpilot.core.errors import RateLimited
from perfpilot.core.ratelimit import RateLimiter
from tests.conftest import make_settings

REDIS_URL = os.environ.get("PERFPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_or_skip() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return
    except OSError:
        if os.environ.get("PERFPILOT_REQUIRE_EXTERNAL") == "1":
            raise
        pytest.skip("Redis is not running at 127.0.0.1:6379")


async def _admitted(limiters: list[RateLimiter], key: str, tries: int) -> int:
    admitted = 0
    for n in range(tries):
        try:
            await limiters[n % len(limiters)].hit("write", key)
            admitted += 1
        except RateLimited:
            pass
    return admitted


async def test_two_replicas_share_one_limit_through_redis(tmp_path: Path) -> None:
    _redis_or_skip()
    settings = make_settings(
        f"sqlite:///{tmp_path}/x.db", tmp_path, redis_url=REDIS_URL, rate_limit_write="5/minute"
    )
    replicas = [RateLimiter(settings), RateLimiter(settings)]
    assert await replicas[0].check_storage()
    key = f"subject-{uuid.uuid4()}"  # a fresh counter per run
    assert await _admitted(replicas, key, 10) == 5


async def test_without_redis_each_replica_counts_alone(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/x.db", tmp_path, rate_limit_write="5/minute")
    replicas = [RateLimiter(settings), RateLimiter(settings)]
    assert await _admitted(replicas, "subject", 20) == 10  # N replicas: N x the limit
