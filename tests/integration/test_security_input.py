"""Hostile input at the door, over real HTTP: oversized headers (431), oversized tokens and
non-numeric time claims (401), and authentication before the body is read or parsed."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from perfpilot.core.auth import MAX_TOKEN_BYTES
from perfpilot.core.config import API_PREFIX
from tests.conftest import TEST_JWT_SECRET, LiveServer
from tests.envelope import assert_error, assert_security_headers
from tests.integration.test_restart_kill import ServerProcess
from tests.jwt_keys import claims, sign

SAMPLE = {"serviceName": "svc-input", "metricType": "latency", "value": 12}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def stored(s: LiveServer) -> int:
    response = await s.client.get(s.api("/metrics"), headers=s.auth("admin", "auditor"))
    assert response.status_code == 200, response.text
    return int(response.json()["count"])


# --- token claims and size ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "value"),
    [("exp", "9999999999"), ("nbf", True), ("nbf", "0"), ("iat", "0"), ("iat", False)],
)
async def test_time_claims_that_are_not_json_numbers_are_401(
    live_server: LiveServer, claim: str, value: Any
) -> None:
    s = live_server
    token = sign(claims(role="admin", **{claim: value}), TEST_JWT_SECRET, "HS256")
    for method, path in (("GET", "/metrics"), ("POST", "/metrics")):
        body = SAMPLE if method == "POST" else None
        response = await s.client.request(method, s.api(path), json=body, headers=bearer(token))
        error = assert_error(response, 401, "unauthorized")
        assert f"'{claim}' must be a number" in error["message"]
    assert await stored(s) == 0


async def test_a_token_longer_than_the_cap_is_401_and_not_cached(live_server: LiveServer) -> None:
    s = live_server
    # validly signed, so only its length can refuse it
    padding = "p" * (MAX_TOKEN_BYTES + 100)
    token = sign(claims(role="admin", padding=padding), TEST_JWT_SECRET, "HS256")
    assert MAX_TOKEN_BYTES < len(token) < 12 * 1024  # under the header cap
    for _ in range(2):
        response = await s.client.get(s.api("/metrics"), headers=bearer(token))
        error = assert_error(response, 401, "unauthorized")
        assert f"longer than {MAX_TOKEN_BYTES} bytes" in error["message"]
    assert token not in s.ctx.tokens._verified  # the verified-token cache never saw it
    # a token just under the cap still works
    fits = sign(claims(role="viewer", padding="p" * 6000), TEST_JWT_SECRET, "HS256")
    assert len(fits) <= MAX_TOKEN_BYTES
    assert (await s.client.get(s.api("/metrics"), headers=bearer(fits))).status_code == 200


# --- header size --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", f"{API_PREFIX}/metrics"])
async def test_header_fields_over_16_kib_are_431_in_the_envelope(
    live_server: LiveServer, path: str
) -> None:
    s = live_server
    headers = s.auth() | {"X-Padding": "a" * (17 * 1024)}
    response = await s.client.get(path, headers=headers)
    error = assert_error(response, 431, "headers_too_large")
    assert "16384 byte limit" in error["message"]
    assert_security_headers(response, api=path.startswith(API_PREFIX))
    # the same request with ordinary headers is fine
    assert (await s.client.get(path, headers=s.auth())).status_code == 200


async def test_a_30_mb_authorization_header_is_cut_off_with_431(live_server: LiveServer) -> None:
    s = live_server
    huge = {"Authorization": "Bearer " + "a" * (30 * 1024 * 1024)}
    response = await s.client.post(s.api("/metrics"), json=SAMPLE, headers=huge)
    assert_error(response, 431, "headers_too_large")
    assert response.headers["connection"] == "close"
    # the server is fine afterwards
    assert (await s.client.get("/healthz")).status_code == 200
    assert await stored(s) == 0


async def test_perfpilot_serve_caps_request_heads(clean_database: str, tmp_path: Path) -> None:
    """The same cap in the real `perfpilot serve` process (its uvicorn options)."""
    server = ServerProcess(clean_database, tmp_path / "data")
    server.process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "perfpilot.cli", "serve", env=server.env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            # a loaded machine can take tens of seconds to import and start
            for _ in range(1200):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{server.url}/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.05)
            huge = {"Authorization": "Bearer " + "a" * (30 * 1024 * 1024)}
            response = await client.get(f"{server.url}{API_PREFIX}/metrics", headers=huge)
            assert_error(response, 431, "headers_too_large")
            assert (await client.get(f"{server.url}/healthz")).status_code == 200
    finally:
        await server.kill()


# --- authentication before the body -------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{not json", {"Content-Type": "application/json"}),
        (b"", {"Content-Type": "application/json"}),
        (b"serviceName=x", {"Content-Type": "application/x-www-form-urlencoded"}),
        (b"[" * 5000 + b"]" * 5000, {"Content-Type": "application/json"}),
    ],
    ids=["invalid-json", "empty", "not-json-media-type", "deeply-nested"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/metrics"), ("POST", "/metrics/batch"), ("POST", "/rules"), ("PUT", "/rules/x")],
)
async def test_a_bad_body_without_a_token_is_401_not_400(
    live_server: LiveServer, method: str, path: str, content: bytes, headers: dict[str, str]
) -> None:
    s = live_server
    for auth in ({}, {"Authorization": "Bearer not.a.jwt"}):
        response = await s.client.request(
            method, s.api(path), content=content, headers=headers | auth
        )
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_an_oversized_body_without_a_token_is_401_and_not_read(
    live_server: LiveServer,
) -> None:
    s = live_server
    body = b'{"samples": [' + b" " * (9 * 1024 * 1024) + b"]}"
    response = await s.client.post(
        s.api("/metrics/batch"), content=body, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 401, "unauthorized")
    # with a token, the same body is judged: too large
    response = await s.client.post(
        s.api("/metrics/batch"),
        content=body,
        headers={"Content-Type": "application/json"} | s.auth("operator"),
    )
    assert_error(response, 413, "payload_too_large")


async def test_with_a_token_a_bad_body_is_still_400_or_422(live_server: LiveServer) -> None:
    s = live_server
    bad_json = await s.client.post(
        s.api("/metrics"),
        content=b"{not json",
        headers={"Content-Type": "application/json"} | s.auth("operator"),
    )
    assert_error(bad_json, 400, "malformed_json")
    invalid = await s.client.post(s.api("/metrics"), json={"value": 1}, headers=s.auth())
    assert_error(invalid, 422, "validation_error")


@pytest.mark.settings(rate_limit_anonymous="2/minute")
async def test_unauthenticated_writes_count_against_the_anonymous_limit(
    live_server: LiveServer,
) -> None:
    s = live_server
    for _ in range(2):
        response = await s.client.post(s.api("/metrics"), content=b"{not json")
        assert_error(response, 401, "unauthorized")
    limited = await s.client.post(s.api("/metrics"), content=b"{not json")
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    # an authenticated write is limited by its subject and its route class, once
    ok = await s.client.post(s.api("/metrics"), json=SAMPLE, headers=s.auth("operator"))
    assert ok.status_code == 201, ok.text


# --- NUL in query parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/metrics", "serviceName=A%00c&limit=5"),
        ("/realtime", "serviceName=A%00c"),
        ("/alerts", "service=x%00"),
    ],
)
async def test_a_nul_in_a_query_parameter_is_a_422_naming_it(
    live_server: LiveServer, path: str, query: str
) -> None:
    # found by the fuzz stage: PostgreSQL cannot hold NUL in text and answered 503
    s = live_server
    response = await s.client.get(f"{s.api(path)}?{query}", headers=s.auth("viewer"))
    error = assert_error(response, 422, "validation_error")
    name = query.split("=")[0]
    assert error["details"][0]["field"] == name
    assert error["details"][0]["in"] == "query"
    # the same request without the NUL is answered (200, or 404 for an unknown service)
    clean = query.replace("%00", "")
    response = await s.client.get(f"{s.api(path)}?{clean}", headers=s.auth("viewer"))
    assert response.status_code in (200, 404), response.text
