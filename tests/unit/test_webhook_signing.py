"""Webhook signatures and retry backoff: pure functions, checked for all inputs."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from perfpilot.webhooks.dispatcher import backoff_ceiling, retry_delay
from perfpilot.webhooks.signing import (
    compute_signature,
    generate_secret,
    signature_headers,
    verify_signature,
)

SECRET = "whsec_test-secret-0123456789"
BODY = b'{"version":"4","status":"firing"}'
NOW = 1_800_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert compute_signature(SECRET, NOW, BODY) == f"v1={expected}"
    headers = signature_headers(SECRET, BODY, timestamp=NOW)
    assert headers == {"X-Perfpilot-Timestamp": str(NOW), "X-Perfpilot-Signature": f"v1={expected}"}


def test_verify_accepts_the_genuine_request() -> None:
    signature = compute_signature(SECRET, NOW, BODY)
    assert verify_signature(SECRET, str(NOW), BODY, signature, now=NOW)
    assert verify_signature(SECRET, NOW, BODY.decode(), signature, now=NOW + 299)


def test_verify_rejects_tampering_wrong_secret_and_stale_or_future_timestamps() -> None:
    signature = compute_signature(SECRET, NOW, BODY)
    assert not verify_signature(SECRET, NOW, BODY + b" ", signature, now=NOW)
    assert not verify_signature("another-secret-012345", NOW, BODY, signature, now=NOW)
    assert not verify_signature(SECRET, NOW + 1, BODY, signature, now=NOW)  # replayed, re-dated
    assert not verify_signature(SECRET, NOW, BODY, signature, now=NOW + 301)
    assert not verify_signature(SECRET, NOW, BODY, signature, now=NOW - 301)
    assert verify_signature(SECRET, NOW, BODY, signature, tolerance=600, now=NOW + 500)


def test_verify_rejects_malformed_headers() -> None:
    signature = compute_signature(SECRET, NOW, BODY)
    assert not verify_signature(SECRET, "yesterday", BODY, signature, now=NOW)
    assert not verify_signature(SECRET, NOW, BODY, "", now=NOW)
    assert not verify_signature(SECRET, NOW, BODY, signature.removeprefix("v1="), now=NOW)
    assert not verify_signature(SECRET, NOW, BODY, "v1=é", now=NOW)


def test_any_listed_signature_may_match_for_secret_rotation() -> None:
    old = compute_signature("old-secret-0123456789", NOW, BODY)
    new = compute_signature(SECRET, NOW, BODY)
    assert verify_signature(SECRET, NOW, BODY, f"{old}, {new}", now=NOW)
    assert not verify_signature(SECRET, NOW, BODY, f"{old},{old}", now=NOW)


def test_generated_secrets_are_long_and_distinct() -> None:
    secrets = {generate_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(s.startswith("whsec_") and len(s) >= 40 for s in secrets)


@given(
    secret=st.text(min_size=1, max_size=64),
    body=st.binary(max_size=512),
    timestamp=st.integers(min_value=0, max_value=2**40),
)
def test_sign_then_verify_round_trips(secret: str, body: bytes, timestamp: int) -> None:
    signature = compute_signature(secret, timestamp, body)
    assert verify_signature(secret, timestamp, body, signature, now=timestamp)
    assert not verify_signature(secret, timestamp, body + b"x", signature, now=timestamp)


bases = st.floats(min_value=1e-6, max_value=1e3, allow_nan=False, allow_infinity=False)
caps = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
attempts = st.integers(min_value=1, max_value=10_000)


@given(attempt=attempts, base=bases, cap=caps, u=st.floats(min_value=0, max_value=1))
def test_retry_delay_stays_within_zero_and_cap(
    attempt: int, base: float, cap: float, u: float
) -> None:
    delay = retry_delay(attempt, base=base, cap=cap, rng=lambda: u)
    assert 0 <= delay <= backoff_ceiling(attempt, base=base, cap=cap) <= cap


@given(attempt=attempts, base=bases, cap=caps)
def test_backoff_ceiling_never_decreases_and_doubles_until_the_cap(
    attempt: int, base: float, cap: float
) -> None:
    now, after = (backoff_ceiling(n, base=base, cap=cap) for n in (attempt, attempt + 1))
    assert after >= now
    if after < cap:
        assert after == 2 * now


def test_backoff_ceiling_examples() -> None:
    ceilings = [backoff_ceiling(n, base=2, cap=900) for n in range(1, 12)]
    assert ceilings == [2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert retry_delay(3, base=2, cap=900, rng=lambda: 0.5) == 4
