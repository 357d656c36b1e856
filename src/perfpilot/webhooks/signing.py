"""How webhook requests are signed, and how a receiver checks them.

Every delivery carries
    X-Perfpilot-Timestamp: <unix seconds when this attempt was sent>
    X-Perfpilot-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>
where body is the exact request body bytes. Signing the timestamp with the body lets a receiver
reject replays: accept only when the signature matches and the timestamp is within a tolerance
(5 minutes) of its clock. The header may list several comma-separated `v1=` values (reserved
for secret rotation); one match is enough. Each retry is signed afresh (new timestamp), over the
same body bytes.

Deliveries are also signed per the Standard Webhooks specification, so receivers can verify
them with an off-the-shelf library (`standardwebhooks` and its ports):
    webhook-id: <the delivery's id, the same on every retry>
    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64 HMAC-SHA256(key, f"{id}.{timestamp}.{body}")>
The key is the subscription's secret as UTF-8 bytes; `standard_secret` gives it in the
library's `whsec_<base64>` form (returned once, with the secret, on creation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook as StandardWebhook

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


def standard_secret(secret: str) -> str:
    """The secret as Standard Webhooks libraries take it: `whsec_` + base64 of its bytes."""
    return "whsec_" + base64.b64encode(secret.encode()).decode()


def standard_headers(
    secret: str, message_id: str, body: bytes | str, *, timestamp: int
) -> dict[str, str]:
    """webhook-id, webhook-timestamp, webhook-signature for one attempt."""
    data = body.decode() if isinstance(body, bytes) else body
    signature = StandardWebhook(secret.encode()).sign(
        msg_id=message_id, timestamp=datetime.fromtimestamp(timestamp, UTC), data=data
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
