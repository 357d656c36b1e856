"""DESIGN §4's error statuses over real HTTP: the envelope, the field path, and no side effects.

After every bad request the process must keep serving, and the bad request must have stored
nothing: `assert_unharmed` checks both with a good push and a read-back.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from perfpilot.core.db import create_engine, create_sessionmaker
from tests.conftest import LiveServer
from tests.envelope import assert_error, assert_security_headers

GOOD = {"serviceName": "svc-good", "metricType": "latency", "value": 42}
BAD = {"serviceName": "svc-bad", "metricType": "latency", "value": 10}
DROP = object()
MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}


async def assert_unharmed(s: LiveServer) -> None:
    """A good push still succeeds and it is the only sample stored."""
    pushed = await s.client.post(s.api("/metrics"), json=GOOD, headers=s.auth("operator"))
    assert pushed.status_code == 201, pushed.text
    listed = await s.client.get(s.api("/metrics"), headers=s.auth("viewer"))
    assert listed.status_code == 200, listed.text
    assert [m["serviceName"] for m in listed.json()["data"]] == ["svc-good"]


def sample(**changes: Any) -> dict[str, Any]:
    merged = BAD | changes
    return {k: v for k, v in merged.items() if v is not DROP}


def field_of(error: dict[str, Any], field: str) -> dict[str, Any]:
    fields = [d["field"] for d in error["details"]]
    assert field in fields, fields
    return next(d for d in error["details"] if d["field"] == field)


async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def in_minutes(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"serviceName":', id="truncated"),
        pytest.param(b"\xff\xfe{", id="not-utf8"),
        pytest.param(b"[" * 100_000, id="nested-too-deep"),
    ],
)
async def test_malformed_json_is_400(live_server: LiveServer, body: bytes) -> None:
    s = live_server
    for path in ("/metrics", "/metrics/batch"):
        response = await s.client.post(s.api(path), content=body, headers=s.auth("operator") | JSON)
        assert_error(response, 400, "malformed_json")
    await assert_unharmed(s)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_json_is_415(
    live_server: LiveServer, content_type: str | None
) -> None:
    s = live_server
    headers = s.auth("operator") | ({"Content-Type": content_type} if content_type else {})
    response = await s.client.post(s.api("/metrics"), content=json.dumps(BAD), headers=headers)
    assert_error(response, 415, "unsupported_media_type")
    await assert_unharmed(s)


async def test_bodies_over_the_caps_are_413_with_or_without_content_length(
    live_server: LiveServer,
) -> None:
    s = live_server
    headers = s.auth("operator") | JSON
    single = json.dumps(sample(metadata={"pad": "x" * MIB})).encode()
    batch = json.dumps({"samples": [sample(metadata={"pad": "x" * 8000})] * 1100}).encode()
    assert len(single) > MIB and len(batch) > 8 * MIB
    for path, body in (("/metrics", single), ("/metrics/batch", batch)):
        sized = await s.client.post(s.api(path), content=body, headers=headers)
        assert_error(sized, 413, "payload_too_large")
        assert_security_headers(sized, api=True)
        streamed = await s.client.post(s.api(path), content=chunked(body), headers=headers)
        assert "content-length" not in streamed.request.headers
        assert_error(streamed, 413, "payload_too_large")
    await assert_unharmed(s)


async def test_batch_cap_is_8_mib_and_chunked_bodies_are_read_whole(
    live_server: LiveServer,
) -> None:
    s = live_server
    headers = s.auth("operator") | JSON
    items = [{"serviceName": "svc-good", "metricType": "latency", "value": i} for i in range(2000)]
    for item in items:
        item["metadata"] = {"pad": "y" * 600}
    body = json.dumps({"samples": items}).encode()
    assert MIB < len(body) < 8 * MIB  # too big for one sample, fine for a batch
    created = await s.client.post(s.api("/metrics/batch"), content=chunked(body), headers=headers)
    assert created.status_code == 201, created.text[:500]
    assert created.json()["data"]["accepted"] == 2000
    one = await s.client.post(
        s.api("/metrics"), content=chunked(json.dumps(GOOD).encode(), 7), headers=headers
    )
    assert one.status_code == 201, one.text
    assert one.json()["data"]["value"] == 42


INVALID_SAMPLES = [
    pytest.param(sample(metricType="latency_p99"), "metricType", "latency", id="unknown-type"),
    pytest.param(sample(unit="hours"), "unit", "ms, s, us", id="unknown-unit"),
    pytest.param(sample(metricType="accuracy", value=1.2), "value", "between 0 and 1", id="acc"),
    pytest.param(sample(metricType="accuracy", value=120, unit="percent"), "value", "1", id="acc%"),
    pytest.param(sample(value=-0.5), "value", ">= 0", id="negative-latency"),
    pytest.param(sample(value="fast"), "value", "number", id="value-not-a-number"),
    pytest.param(sample(value=DROP), "value", "required", id="value-missing"),
    pytest.param(sample(serviceName="ai chat"), "serviceName", "pattern", id="name-space"),
    pytest.param(sample(serviceName="a" * 101), "serviceName", "100", id="name-101"),
    pytest.param(sample(serviceName="-svc"), "serviceName", "pattern", id="name-dash"),
    pytest.param(sample(serviceName=""), "serviceName", "1", id="name-empty"),
    pytest.param(sample(serviceName=DROP), "serviceName", "required", id="name-missing"),
    # a day ahead: the parameter is computed at collection, the test may run many minutes later
    pytest.param(sample(timestamp=in_minutes(24 * 60)), "timestamp", "future", id="future"),
    pytest.param(sample(timestamp="yesterday"), "timestamp", "datetime", id="bad-timestamp"),
    pytest.param(sample(metadata={"blob": "x" * 8300}), "metadata", "8192", id="metadata-8k"),
    pytest.param(sample(metadata=["a", "list"]), "metadata", "dict", id="metadata-list"),
    pytest.param(sample(metadata="text"), "metadata", "dict", id="metadata-string"),
    pytest.param(sample(latencyMs=10), "latencyMs", "not permitted", id="extra-field"),
]


@pytest.mark.parametrize(("payload", "field", "says"), INVALID_SAMPLES)
async def test_invalid_sample_is_422_naming_the_field(
    live_server: LiveServer, payload: dict[str, Any], field: str, says: str
) -> None:
    s = live_server
    response = await s.client.post(s.api("/metrics"), json=payload, headers=s.auth("operator"))
    error = assert_error(response, 422, "validation_error")
    detail = field_of(error, field)
    assert says.lower() in detail["message"].lower(), detail
    assert detail["in"] == "body"
    await assert_unharmed(s)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_are_422(live_server: LiveServer, literal: str) -> None:
    s = live_server
    raw = f'{{"serviceName": "svc-bad", "metricType": "latency", "value": {literal}}}'
    response = await s.client.post(
        s.api("/metrics"), content=raw, headers=s.auth("operator") | JSON
    )
    detail = field_of(assert_error(response, 422, "validation_error"), "value")
    assert "finite" in detail["message"]
    items = ",".join(['{"serviceName": "svc-bad", "metricType": "cpu", "value": 1}'] * 5)
    batch = f'{{"samples": [{items}, {raw}]}}'
    response = await s.client.post(
        s.api("/metrics/batch"), content=batch, headers=s.auth("operator") | JSON
    )
    detail = field_of(assert_error(response, 422, "validation_error"), "samples.5.value")
    assert detail["index"] == 5
    await assert_unharmed(s)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param({"samples": [BAD] * 10_001}, "10000", id="over-10000"),
        pytest.param({"samples": []}, "at least 1", id="empty"),
        pytest.param({"samples": BAD}, "list", id="not-a-list"),
        pytest.param({}, "required", id="missing"),
    ],
)
async def test_invalid_batch_is_422_and_stores_nothing(
    live_server: LiveServer, body: dict[str, Any], says: str
) -> None:
    s = live_server
    response = await s.client.post(s.api("/metrics/batch"), json=body, headers=s.auth("operator"))
    detail = field_of(assert_error(response, 422, "validation_error"), "samples")
    assert says in detail["message"].replace(",", ""), detail
    await assert_unharmed(s)


def cursor_of(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


INVALID_QUERIES = [
    pytest.param({"limit": 0}, "limit", id="limit-0"),
    pytest.param({"limit": 1001}, "limit", id="limit-1001"),
    pytest.param({"limit": "ten"}, "limit", id="limit-text"),
    pytest.param({"cursor": "not a cursor!"}, "cursor", id="cursor-garbage"),
    pytest.param({"cursor": cursor_of("2026-01-01T00:00:00+00:00|nope")}, "cursor", id="cursor-id"),
    pytest.param({"cursor": "A" * 501}, "cursor", id="cursor-long"),
    pytest.param({"metricType": "latency_p99"}, "metricType", id="metric-type"),
    pytest.param({"since": "last tuesday"}, "since", id="since-text"),
    pytest.param(
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        "since",
        id="since>until",
    ),
]


@pytest.mark.parametrize(("params", "field"), INVALID_QUERIES)
async def test_invalid_query_is_422_naming_the_parameter(
    live_server: LiveServer, params: dict[str, Any], field: str
) -> None:
    s = live_server
    response = await s.client.get(s.api("/metrics"), params=params, headers=s.auth("viewer"))
    detail = field_of(assert_error(response, 422, "validation_error"), field)
    assert detail["in"] == "query"
    await assert_unharmed(s)


async def test_unknown_routes_and_ids_are_404(live_server: LiveServer) -> None:
    s = live_server
    for path in ("/no-such-thing", "/metrics/latest/extra", f"/rules/{uuid.uuid4()}"):
        assert_error(await s.client.get(s.api(path), headers=s.auth()), 404, "not_found")
    assert_error(
        await s.client.get(s.api(f"/alerts/{uuid.uuid4()}"), headers=s.auth()), 404, "not_found"
    )
    assert_error(await s.client.get("/v2/whatever"), 404, "not_found")
    await assert_unharmed(s)


async def test_wrong_method_is_405_with_allow(live_server: LiveServer) -> None:
    s = live_server
    for method, path in (("DELETE", "/metrics"), ("PUT", "/metrics/batch"), ("POST", "/health")):
        response = await s.client.request(method, s.api(path), headers=s.auth())
        assert_error(response, 405, "method_not_allowed")
        assert response.headers["allow"]
    await assert_unharmed(s)


def unreachable_database(s: LiveServer, tmp_path: Path) -> str:
    if s.ctx.settings.is_sqlite:  # a file in a directory that does not exist
        return f"sqlite+aiosqlite:///{tmp_path / 'removed-dir' / 'perfpilot.db'}"
    return "postgresql+asyncpg://postgres@127.0.0.1:1/perfpilot"  # nothing listens on port 1


async def test_database_down_is_503_and_the_process_recovers(
    live_server: LiveServer, tmp_path: Path
) -> None:
    s = live_server
    ctx = s.ctx
    saved = ctx.engine, ctx.sessionmaker, ctx.read_engine, ctx.readers, ctx.ingest._engine
    down = create_engine(unreachable_database(s, tmp_path))
    # the ingest writer holds its own engine reference: point it at the dead database too
    down_sessions = create_sessionmaker(down)
    ctx.engine, ctx.sessionmaker, ctx.read_engine, ctx.readers, ctx.ingest._engine = (
        down, down_sessions, down, down_sessions, down
    )  # fmt: skip
    try:
        listed = await s.client.get(s.api("/metrics"), headers=s.auth("viewer"))
        assert_error(listed, 503, "database_unavailable")
        pushed = await s.client.post(s.api("/metrics"), json=BAD, headers=s.auth("operator"))
        assert_error(pushed, 503, "database_unavailable")
        health = await s.client.get(s.api("/health"), headers=s.auth("viewer"))
        assert health.status_code == 503
        assert health.json()["data"]["status"] == "unhealthy"
        assert health.json()["data"]["services"]["database"] is False
        ready = await s.client.get("/readyz")
        assert ready.status_code == 503
        assert (await s.client.get("/healthz")).status_code == 200  # alive, just not ready
    finally:
        ctx.engine, ctx.sessionmaker, ctx.read_engine, ctx.readers, ctx.ingest._engine = saved
        await down.dispose()
    assert (await s.client.get("/readyz")).status_code == 200
    health = await s.client.get(s.api("/health"), headers=s.auth("viewer"))
    assert health.json()["data"]["status"] == "healthy"
    await assert_unharmed(s)


# Bad input that once escaped validation (overflows, NaN and NUL in metadata): each is a 422.
KNOWN_BAD_INPUT = [
    pytest.param(
        "GET",
        {"cursor": cursor_of(f"2026-01-01T00:00:00|{uuid.uuid4()}")},
        None,
        id="naive-cursor-500",
    ),
    pytest.param(
        "GET",
        {"since": "9999-12-31T23:00:00-05:00"},
        None,
        id="since-overflow-500",
    ),
    pytest.param(
        "POST",
        None,
        '{"serviceName":"svc-bad","metricType":"latency","value":1,"metadata":{"x":NaN}}',
        id="nan-in-metadata",
    ),
    pytest.param(
        "POST",
        None,
        '{"serviceName":"svc-bad","metricType":"latency","value":1,'
        '"timestamp":"0001-01-01T00:00:00+01:00"}',
        id="timestamp-overflow-500",
    ),
    pytest.param(
        "POST",
        None,
        '{"serviceName":"svc-bad","metricType":"latency","value":1e308,"unit":"s"}',
        id="value-overflows-after-conversion",
    ),
]


@pytest.mark.parametrize(("method", "params", "raw"), KNOWN_BAD_INPUT)
async def test_bad_input_is_422_never_a_server_error(
    live_server: LiveServer, method: str, params: dict[str, Any] | None, raw: str | None
) -> None:
    s = live_server
    response = await s.client.request(
        method, s.api("/metrics"), params=params, content=raw, headers=s.auth("operator") | JSON
    )
    assert_error(response, 422, "validation_error")
    await assert_unharmed(s)


async def test_one_bad_sample_does_not_fail_concurrent_good_ones(
    live_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    s = live_server
    headers = s.auth("operator") | JSON
    poisoned = (
        '{"serviceName":"svc-bad","metricType":"latency","value":1,"metadata":{"n":"a\\u0000"}}'
    )
    good = [s.client.post(s.api("/metrics"), json=GOOD, headers=headers) for _ in range(20)]
    bad = s.client.post(s.api("/metrics"), content=poisoned, headers=headers)
    *responses, bad_response = await asyncio.gather(*good, bad)
    assert [r.status_code for r in responses] == [201] * 20
    assert bad_response.status_code == 422, bad_response.text  # NUL is refused everywhere
