"""How webhook requests are signed, and how a receiver checks them.

Every delivery carries
    X-Perfpilot-Timestamp: <unix seconds when this attempt was sent>
    X-Perfpilot-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>
where body is the exact request body bytes. Signing the timestamp with the body lets a receiver
reject replays: accept only when the signature matches and the timestamp is within a tolerance
(5 minutes) of its clock. The header may list several comma-separated `v1=` values (reserved
for secret rotation); one match is enough. Each retry is signed afresh (new timestamp), over the
same body bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SCHEME = "v1"
TIMESTAMP_HEADER = "X-Perfpilot-Timestamp"
SIGNATURE_HEADER = "X-Perfpilot-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def generate_secret() -> str:
    """A new random signing secret (256 bits)."""
    return "whsec_" + secrets.token_urlsafe(32)


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def compute_signature(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """`v1=<hex>` for this timestamp and body."""
    message = f"{timestamp}.".encode() + _as_bytes(body)
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def signature_headers(
    secret: str, body: bytes | str, *, timestamp: int | None = None
) -> dict[str, str]:
    """The timestamp and signature headers for one attempt."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: compute_signature(secret, ts, body),
    }


def verify_signature(
    secret: str,
    timestamp: int | str,
    body: bytes | str,
    signature: str,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> bool:
    """True when `signature` (the header value) signs `timestamp.body` with `secret` and the
    timestamp is within `tolerance` seconds of now. Comparison is constant-time."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        return False
    expected = compute_signature(secret, ts, body)
    matched = False
    for candidate in signature.split(","):
        # no early exit: every candidate is compared, so timing says nothing about which matched
        matched |= hmac.compare_digest(candidate.strip().encode(), expected.encode())
    return matched
