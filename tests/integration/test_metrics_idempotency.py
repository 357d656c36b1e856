"""`Idempotency-Key` on POST /metrics and /metrics/batch (issue 9, item 9), over real HTTP on
each backend: a retried request is stored once and answered as the first time.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from perfpilot.core.db import create_engine, create_sessionmaker
from perfpilot.metrics.retention import RetentionLoop
from perfpilot.models import IdempotencyKey
from tests.conftest import LiveServer
from tests.envelope import assert_error

JSON = {"Content-Type": "application/json"}


def batch_body(service: str, count: int, *, value: float = 1.0) -> bytes:
    samples = [
        {"serviceName": service, "metricType": "latency", "value": value + i} for i in range(count)
    ]
    return json.dumps({"samples": samples}).encode()


def sample_body(service: str, value: float = 7.0) -> bytes:
    return json.dumps({"serviceName": service, "metricType": "cpu", "value": value}).encode()


async def send(
    s: LiveServer,
    route: str,
    body: bytes,
    key: str | bytes | None,
    *,
    subject: str = "client-a",
) -> httpx.Response:
    headers: dict[str, Any] = s.auth("operator", subject) | JSON
    if key is not None:
        headers["Idempotency-Key"] = key
    return await s.client.post(s.api(route), content=body, headers=headers)


async def stored_values(s: LiveServer, service: str) -> list[float]:
    listed = await s.client.get(
        s.api("/metrics"), params={"serviceName": service, "limit": 1000}, headers=s.auth("viewer")
    )
    assert listed.status_code == 200, listed.text
    return sorted(m["value"] for m in listed.json()["data"])


ROUTES = [
    pytest.param("/metrics/batch", batch_body("svc-idem", 50), 50, id="batch"),
    pytest.param("/metrics", sample_body("svc-idem"), 1, id="single"),
]


@pytest.mark.parametrize(("route", "body", "count"), ROUTES)
async def test_a_repeat_gets_the_first_response_and_stores_nothing(
    live_server: LiveServer, route: str, body: bytes, count: int
) -> None:
    s = live_server
    first = await send(s, route, body, "retry-1")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    for _ in range(3):
        again = await send(s, route, body, "retry-1")
        assert again.status_code == 201, again.text
        assert again.content == first.content  # same ids, same everything
        assert again.headers["idempotent-replayed"] == "true"
    assert len(await stored_values(s, "svc-idem")) == count
    # without a key, the same body is a new request
    plain = await send(s, route, body, None)
    assert plain.status_code == 201
    assert plain.json()["data"] != first.json()["data"]
    assert len(await stored_values(s, "svc-idem")) == 2 * count


async def test_keys_belong_to_their_token_subject(live_server: LiveServer) -> None:
    s = live_server
    body = batch_body("svc-subjects", 3)
    mine = await send(s, "/metrics/batch", body, "shared-key", subject="client-a")
    theirs = await send(s, "/metrics/batch", body, "shared-key", subject="client-b")
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["data"]["ids"] != theirs.json()["data"]["ids"]
    assert len(await stored_values(s, "svc-subjects")) == 6


@pytest.mark.parametrize(
    ("route", "other_route", "other_body"),
    [
        pytest.param(
            "/metrics/batch", "/metrics/batch", batch_body("svc-reuse", 2, value=9), id="body"
        ),
        pytest.param("/metrics/batch", "/metrics", sample_body("svc-reuse"), id="route"),
        pytest.param("/metrics", "/metrics", sample_body("svc-reuse", 8.0), id="single-body"),
    ],
)
async def test_a_key_reused_for_another_request_is_422_naming_the_header(
    live_server: LiveServer, route: str, other_route: str, other_body: bytes
) -> None:
    s = live_server
    body = batch_body("svc-reuse", 2) if route == "/metrics/batch" else sample_body("svc-reuse")
    first = await send(s, route, body, "reused-key")
    assert first.status_code == 201, first.text
    before = await stored_values(s, "svc-reuse")
    reused = await send(s, other_route, other_body, "reused-key")
    error = assert_error(reused, 422, "idempotency_key_reused")
    [detail] = error["details"]
    assert detail["field"] == "Idempotency-Key"
    assert detail["in"] == "header"
    assert "different request" in error["message"]
    assert await stored_values(s, "svc-reuse") == before
    # the first request is still answered as before
    again = await send(s, route, body, "reused-key")
    assert again.content == first.content


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("k" * 256, id="256-chars"),
        pytest.param(b"caf\xc3\xa9", id="non-ascii"),
        pytest.param("tab\there", id="control-char"),
    ],
)
async def test_an_invalid_key_is_422_naming_the_header(
    live_server: LiveServer, key: str | bytes
) -> None:
    s = live_server
    for route, body in (
        ("/metrics/batch", batch_body("svc-k", 2)),
        ("/metrics", sample_body("svc-k")),
    ):
        response = await send(s, route, body, key)
        error = assert_error(response, 422, "validation_error")
        [detail] = error["details"]
        assert detail["field"] == "Idempotency-Key", detail
        assert detail["in"] == "header"
    assert await stored_values(s, "svc-k") == []
    longest = await send(s, "/metrics", sample_body("svc-k"), "k" * 255)
    assert longest.status_code == 201, longest.text


async def test_concurrent_repeats_store_once_and_all_get_the_first_response(
    live_server: LiveServer,
) -> None:
    s = live_server
    body = batch_body("svc-race", 200)
    responses = await asyncio.gather(
        *(send(s, "/metrics/batch", body, "race-key") for _ in range(12))
    )
    assert [r.status_code for r in responses] == [201] * 12, [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    fresh = [r for r in responses if "idempotent-replayed" not in r.headers]
    assert len(fresh) == 1  # one committed, eleven replayed it
    assert len(await stored_values(s, "svc-race")) == 200


async def test_concurrent_different_requests_with_one_key_store_one_of_them(
    live_server: LiveServer,
) -> None:
    s = live_server
    bodies = [batch_body("svc-race2", 5, value=100 * i) for i in range(6)]
    responses = await asyncio.gather(*(send(s, "/metrics/batch", b, "race-key-2") for b in bodies))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [422] * 5, [r.text for r in responses]
    [winner] = [b for b, r in zip(bodies, responses, strict=True) if r.status_code == 201]
    expected = sorted(float(v["value"]) for v in json.loads(winner)["samples"])
    assert await stored_values(s, "svc-race2") == expected


async def test_a_rejected_request_records_no_key(live_server: LiveServer) -> None:
    s = live_server
    bad = json.dumps({"samples": [{"serviceName": "svc-fix", "metricType": "latency"}]}).encode()
    rejected = await send(s, "/metrics/batch", bad, "fix-and-retry")
    assert_error(rejected, 422, "validation_error")
    fixed = await send(s, "/metrics/batch", batch_body("svc-fix", 2), "fix-and-retry")
    assert fixed.status_code == 201, fixed.text
    assert "idempotent-replayed" not in fixed.headers
    assert len(await stored_values(s, "svc-fix")) == 2


def unreachable_database(s: LiveServer, tmp_path: Path) -> str:
    if s.ctx.settings.is_sqlite:
        return f"sqlite+aiosqlite:///{tmp_path / 'removed-dir' / 'perfpilot.db'}"
    return "postgresql+asyncpg://postgres@127.0.0.1:1/perfpilot"


async def test_a_request_that_failed_to_commit_can_be_retried_with_its_key(
    live_server: LiveServer, tmp_path: Path
) -> None:
    s = live_server
    ctx = s.ctx
    body = batch_body("svc-down", 4)
    saved = ctx.engine, ctx.sessionmaker, ctx.ingest._engine
    down = create_engine(unreachable_database(s, tmp_path))
    ctx.engine, ctx.sessionmaker, ctx.ingest._engine = down, create_sessionmaker(down), down
    try:
        failed = await send(s, "/metrics/batch", body, "after-outage")
        assert_error(failed, 503, "database_unavailable")
    finally:
        ctx.engine, ctx.sessionmaker, ctx.ingest._engine = saved
        await down.dispose()
    retried = await send(s, "/metrics/batch", body, "after-outage")
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    replayed = await send(s, "/metrics/batch", body, "after-outage")
    assert replayed.content == retried.content
    assert len(await stored_values(s, "svc-down")) == 4


async def age_keys(s: LiveServer, hours: float) -> None:
    """Move every recorded key `hours` into the past (as if the repeat came that much later)."""
    async with s.ctx.sessionmaker() as session, session.begin():
        await session.execute(
            update(IdempotencyKey).values(created_at=datetime.now(UTC) - timedelta(hours=hours))
        )


async def recorded_keys(s: LiveServer) -> list[str]:
    async with s.ctx.sessionmaker() as session:
        return sorted((await session.execute(select(IdempotencyKey.key))).scalars().all())


async def test_a_key_is_honoured_for_24_hours_then_pruned(live_server: LiveServer) -> None:
    s = live_server
    body = batch_body("svc-ttl", 3)
    first = await send(s, "/metrics/batch", body, "day-old")
    assert first.status_code == 201
    await age_keys(s, 23.5)
    within = await send(s, "/metrics/batch", body, "day-old")
    assert within.content == first.content
    assert len(await stored_values(s, "svc-ttl")) == 3

    await age_keys(s, 24.5)  # past its 24 hours: the same key names a new request
    later = await send(s, "/metrics/batch", body, "day-old")
    assert later.status_code == 201
    assert "idempotent-replayed" not in later.headers
    assert later.json()["data"]["ids"] != first.json()["data"]["ids"]
    assert len(await stored_values(s, "svc-ttl")) == 6

    fresh = await send(s, "/metrics", sample_body("svc-ttl"), "fresh")
    assert fresh.status_code == 201
    await age_keys(s, 0)
    assert await recorded_keys(s) == ["day-old", "fresh"]
    async with s.ctx.sessionmaker() as session, session.begin():
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "day-old")
            .values(created_at=datetime.now(UTC) - timedelta(hours=25))
        )
    loop = s.ctx.loops["retention"]
    assert isinstance(loop, RetentionLoop)
    await loop.run_once()
    assert loop.keys_deleted_total == 1
    assert await recorded_keys(s) == ["fresh"]


async def test_the_header_is_documented_on_both_routes(live_server: LiveServer) -> None:
    s = live_server
    document = (await s.client.get("/openapi.json")).json()
    for path in ("/metrics", "/metrics/batch"):
        operation = document["paths"][s.api(path)]["post"]
        [header] = [p for p in operation["parameters"] if p["in"] == "header"]
        assert header["name"] == "Idempotency-Key"
        assert header["required"] is False
        [text] = [t for t in header["schema"].get("anyOf", [header["schema"]]) if "maxLength" in t]
        assert (text["minLength"], text["maxLength"]) == (1, 255)
        assert "24 hours" in header["description"]
        assert "idempotency_key_reused" in operation["responses"]["422"]["description"]
