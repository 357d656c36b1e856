"""DESIGN §5 over real HTTP: JWT checks, roles, rate limits, security headers, request logs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from perfpilot.core.config import API_PREFIX
from tests.conftest import TEST_JWT_SECRET, LiveServer, make_settings, start_server
from tests.envelope import assert_error, assert_security_headers
from tests.jwt_keys import (
    EC_KEY,
    EC_PUBLIC_PEM,
    OTHER_RSA_KEY,
    RSA_KEY,
    RSA_PUBLIC_PEM,
    claims,
    hs256_with_secret_bytes,
    sign,
    unsigned_token,
)

SAMPLE = {"serviceName": "svc-sec", "metricType": "latency", "value": 12}
ISSUER, AUDIENCE = "https://idp.example", "perfpilot-api"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def stored(s: LiveServer) -> int:
    response = await s.client.get(s.api("/metrics"), headers=s.auth("admin", "auditor"))
    assert response.status_code == 200, response.text
    return int(response.json()["count"])


async def assert_rejected(s: LiveServer, token: str) -> None:
    """401 with a Bearer challenge on a read and on a write, and the write stored nothing."""
    before = await stored(s)
    for method, path in (("GET", "/metrics"), ("POST", "/metrics")):
        body = SAMPLE if method == "POST" else None
        response = await s.client.request(method, s.api(path), json=body, headers=bearer(token))
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert await stored(s) == before


async def test_missing_token_is_401_with_a_bearer_challenge(live_server: LiveServer) -> None:
    s = live_server
    for method, path in (("GET", "/metrics"), ("GET", "/health"), ("POST", "/metrics/batch")):
        response = await s.client.request(method, s.api(path), json={"samples": [SAMPLE]})
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert_error(await s.client.get(s.api("/metrics"), headers=basic), 401, "unauthorized")
    assert await stored(s) == 0


BAD_HS256_TOKENS: list[Any] = [
    pytest.param(
        lambda: sign(claims(role="admin", ttl=-60), TEST_JWT_SECRET, "HS256"), id="expired"
    ),
    pytest.param(lambda: sign(claims(role="admin"), "forged-" + "f" * 60, "HS256"), id="forged"),
    pytest.param(lambda: unsigned_token(claims(role="admin")), id="alg-none"),
    pytest.param(
        lambda: sign(claims(role="admin", exp=None), TEST_JWT_SECRET, "HS256"), id="no-exp"
    ),
    pytest.param(lambda: sign(claims(role="root"), TEST_JWT_SECRET, "HS256"), id="unknown-role"),
    pytest.param(lambda: sign(claims(role="admin"), RSA_KEY, "RS256"), id="rs256-no-key-set"),
    pytest.param(lambda: "not.a.jwt", id="garbage"),
]


@pytest.mark.parametrize("make_token", BAD_HS256_TOKENS)
async def test_invalid_tokens_are_401(
    live_server: LiveServer, make_token: Callable[[], str]
) -> None:
    await assert_rejected(live_server, make_token())


async def test_expiry_leeway_is_30_seconds(live_server: LiveServer) -> None:
    s = live_server
    recent = sign(claims(role="viewer", ttl=-10), TEST_JWT_SECRET, "HS256")
    assert (await s.client.get(s.api("/metrics"), headers=bearer(recent))).status_code == 200
    await assert_rejected(s, sign(claims(role="admin", ttl=-45), TEST_JWT_SECRET, "HS256"))


@pytest.mark.settings(jwt_public_key=RSA_PUBLIC_PEM)
async def test_rs256_key_accepts_its_tokens_and_rejects_algorithm_confusion(
    live_server: LiveServer,
) -> None:
    s = live_server
    viewer = sign(claims(role="viewer", sub="idp-viewer"), RSA_KEY, "RS256")
    operator = sign(claims(role="operator", sub="idp-operator"), RSA_KEY, "RS256")
    assert (await s.client.get(s.api("/metrics"), headers=bearer(viewer))).status_code == 200
    denied = await s.client.post(s.api("/metrics"), json=SAMPLE, headers=bearer(viewer))
    assert_error(denied, 403, "forbidden")
    created = await s.client.post(s.api("/metrics"), json=SAMPLE, headers=bearer(operator))
    assert created.status_code == 201, created.text
    # the server's own HS256 tokens keep working beside the identity provider's key
    assert (await s.client.get(s.api("/health"), headers=s.auth("viewer"))).status_code == 200

    # the public key is public: HMAC-signing with it must not mint an admin
    await assert_rejected(s, hs256_with_secret_bytes(claims(role="admin"), RSA_PUBLIC_PEM.encode()))
    await assert_rejected(s, sign(claims(role="admin"), OTHER_RSA_KEY, "RS256"))
    await assert_rejected(s, sign(claims(role="admin"), EC_KEY, "ES256"))
    await assert_rejected(s, unsigned_token(claims(role="admin")))
    assert await stored(s) == 1


@pytest.mark.settings(jwt_public_key=EC_PUBLIC_PEM)
async def test_es256_key_accepts_its_tokens_and_rejects_algorithm_confusion(
    live_server: LiveServer,
) -> None:
    s = live_server
    operator = sign(claims(role="operator", sub="idp-ec"), EC_KEY, "ES256")
    created = await s.client.post(s.api("/metrics"), json=SAMPLE, headers=bearer(operator))
    assert created.status_code == 201, created.text
    viewer = sign(claims(role="viewer"), EC_KEY, "ES256")
    assert_error(
        await s.client.post(s.api("/metrics"), json=SAMPLE, headers=bearer(viewer)),
        403,
        "forbidden",
    )
    await assert_rejected(s, hs256_with_secret_bytes(claims(role="admin"), EC_PUBLIC_PEM.encode()))
    await assert_rejected(s, sign(claims(role="admin"), RSA_KEY, "RS256"))
    assert await stored(s) == 1


@pytest.mark.settings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
async def test_issuer_and_audience_are_checked_when_configured(live_server: LiveServer) -> None:
    s = live_server
    assert (await s.client.get(s.api("/metrics"), headers=s.auth("viewer"))).status_code == 200
    good = sign(claims(role="viewer", iss=ISSUER, aud=AUDIENCE), TEST_JWT_SECRET, "HS256")
    assert (await s.client.get(s.api("/metrics"), headers=bearer(good))).status_code == 200
    for wrong in (
        {"iss": "https://evil.example", "aud": AUDIENCE},
        {"aud": AUDIENCE},
        {"iss": ISSUER, "aud": "another-api"},
        {"iss": ISSUER},
    ):
        await assert_rejected(s, sign(claims(role="admin", **wrong), TEST_JWT_SECRET, "HS256"))


async def test_viewer_reads_but_only_operators_push(live_server: LiveServer) -> None:
    s = live_server
    viewer = s.auth("viewer", "watcher")
    for path, body in (("/metrics", SAMPLE), ("/metrics/batch", {"samples": [SAMPLE, SAMPLE]})):
        error = assert_error(
            await s.client.post(s.api(path), json=body, headers=viewer), 403, "forbidden"
        )
        assert "operator" in error["message"]
    assert (await s.client.get(s.api("/metrics"), headers=viewer)).status_code == 200
    assert (await s.client.get(s.api("/health"), headers=viewer)).status_code == 200
    assert await stored(s) == 0

    operator = s.auth("operator", "pusher")
    assert (
        await s.client.post(s.api("/metrics"), json=SAMPLE, headers=operator)
    ).status_code == 201
    batch = await s.client.post(
        s.api("/metrics/batch"), json={"samples": [SAMPLE, SAMPLE]}, headers=operator
    )
    assert batch.status_code == 201, batch.text
    assert await stored(s) == 3


def assert_ratelimit_headers(response: Any, *, limit: int, remaining: int) -> None:
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == str(remaining)
    assert 0 <= int(response.headers["ratelimit-reset"]) <= 60


@pytest.mark.settings(rate_limit_ingest="2/minute")
async def test_single_samples_are_rate_limited_like_batches(live_server: LiveServer) -> None:
    # POST /metrics answers valid samples outside FastAPI (metrics/sample_route.py): its 201s
    # and its 429 carry the same headers and envelope as any other route's
    s = live_server
    pusher = s.auth("operator", "pusher-1")
    for remaining in (1, 0):
        response = await s.client.post(s.api("/metrics"), json=SAMPLE, headers=pusher)
        assert response.status_code == 201, response.text
        assert_ratelimit_headers(response, limit=2, remaining=remaining)
        assert_security_headers(response, api=True)
    limited = await s.client.post(s.api("/metrics"), json=SAMPLE, headers=pusher)
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert_ratelimit_headers(limited, limit=2, remaining=0)
    assert_security_headers(limited, api=True)
    batch = await s.client.post(s.api("/metrics/batch"), json={"samples": [SAMPLE]}, headers=pusher)
    assert_error(batch, 429, "rate_limited")  # one budget for both ingest routes
    assert limited.json() == batch.json()  # the same envelope, word for word
    assert await stored(s) == 2


@pytest.mark.settings(rate_limit_read="3/minute")
async def test_reads_are_rate_limited_per_subject(live_server: LiveServer) -> None:
    s = live_server
    first = s.auth("viewer", "reader-1")
    for remaining in (2, 1, 0):
        response = await s.client.get(s.api("/metrics"), headers=first)
        assert response.status_code == 200
        assert_ratelimit_headers(response, limit=3, remaining=remaining)
    limited = await s.client.get(s.api("/metrics"), headers=first)
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert_ratelimit_headers(limited, limit=3, remaining=0)
    assert_security_headers(limited, api=True)
    assert_error(await s.client.get(s.api("/health"), headers=first), 429, "rate_limited")

    other = await s.client.get(s.api("/metrics"), headers=s.auth("viewer", "reader-2"))
    assert other.status_code == 200
    assert_ratelimit_headers(other, limit=3, remaining=2)
    # writes are another route class with their own budget
    pushed = await s.client.post(
        s.api("/metrics"), json=SAMPLE, headers=s.auth("operator", "reader-1")
    )
    assert pushed.status_code == 201, pushed.text


@pytest.mark.settings(rate_limit_anonymous="2/minute")
async def test_unauthenticated_requests_are_limited_per_client_address(
    live_server: LiveServer,
) -> None:
    s = live_server
    for remaining in (1, 0):
        response = await s.client.get(s.api("/metrics"))
        assert_error(response, 401, "unauthorized")
        assert_ratelimit_headers(response, limit=2, remaining=remaining)
    limited = await s.client.get(s.api("/metrics"))
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    # token guessing counts against the same budget
    forged = sign(claims(role="admin"), "guess-" + "g" * 60, "HS256")
    assert_error(await s.client.get(s.api("/metrics"), headers=bearer(forged)), 429, "rate_limited")
    # a valid token is limited by its subject, not by the address
    assert (await s.client.get(s.api("/metrics"), headers=s.auth("viewer"))).status_code == 200


async def test_security_headers_on_every_kind_of_response(live_server: LiveServer) -> None:
    s = live_server
    viewer, operator = s.auth("viewer"), s.auth("operator")
    text_plain = operator | {"Content-Type": "text/plain"}
    cases: list[tuple[str, str, dict[str, str], bytes | None, int]] = [
        ("GET", s.api("/metrics"), viewer, None, 200),
        ("GET", s.api("/metrics"), {}, None, 401),
        ("POST", s.api("/metrics"), viewer, json.dumps(SAMPLE).encode(), 403),
        ("GET", s.api("/no-such-route"), viewer, None, 404),
        ("DELETE", s.api("/metrics"), operator, None, 405),
        ("POST", s.api("/metrics"), text_plain, b"latency=12", 415),
        ("GET", s.api("/metrics?limit=0"), viewer, None, 422),
        ("GET", "/healthz", {}, None, 200),
        ("GET", "/readyz", {}, None, 200),
        ("GET", "/metrics", viewer, None, 200),
        ("GET", "/no-such-page", {}, None, 404),
    ]
    for method, url, headers, content, status in cases:
        if content is not None and "Content-Type" not in headers:
            headers = headers | {"Content-Type": "application/json"}
        response = await s.client.request(method, url, headers=headers, content=content)
        assert response.status_code == status, (method, url, response.text)
        assert_security_headers(response, api=url.startswith(API_PREFIX))
    echoed = await s.client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert echoed.headers["x-request-id"] == "trace-42"


async def test_an_unexpected_error_is_a_500_envelope_with_the_headers(
    database_url: str, tmp_path: Path
) -> None:
    server, task, (app, port) = await start_server(make_settings(database_url, tmp_path))

    async def explode() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route(f"{API_PREFIX}/test-explode", explode, methods=["GET"])
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            response = await client.get(f"{API_PREFIX}/test-explode")
            error = assert_error(response, 500, "internal_error")
            assert (
                "secret internals" not in response.text and "RuntimeError" not in error["message"]
            )
            assert_security_headers(response, api=True)
            assert (await client.get("/healthz")).status_code == 200  # still serving
    finally:
        server.should_exit = True
        await task


def log_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


@pytest.mark.settings(access_log=True, log_level="INFO", log_format="json")
async def test_request_log_line_has_the_fields_and_never_the_token(
    live_server: LiveServer, capfd: pytest.CaptureFixture[str]
) -> None:
    s = live_server
    token = s.token("operator", "log-tester")
    pushed = await s.client.post(
        s.api("/metrics"), json=SAMPLE, headers=bearer(token) | {"X-Request-ID": "req-log-1"}
    )
    assert pushed.status_code == 201
    forged = sign(claims(role="admin"), "forged-" + "f" * 60, "HS256")
    await s.client.get(s.api("/metrics"), headers=bearer(forged) | {"X-Request-ID": "req-log-2"})

    output = capfd.readouterr().err
    assert token not in output and forged not in output
    assert token.split(".")[2] not in output  # not even the signature part
    by_id = {
        line.get("request_id"): line for line in log_lines(output) if line.get("event") == "request"
    }
    ok = by_id["req-log-1"]
    assert ok["route"] == f"{API_PREFIX}/metrics"
    assert ok["method"] == "POST"
    assert ok["status"] == 201
    assert ok["subject"] == "log-tester"
    assert isinstance(ok["duration_ms"], int | float) and ok["duration_ms"] >= 0
    assert ok["level"] == "info" and ok["timestamp"]
    rejected = by_id["req-log-2"]
    assert (rejected["status"], rejected["subject"]) == (401, None)
