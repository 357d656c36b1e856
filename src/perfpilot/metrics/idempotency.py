"""`Idempotency-Key` on POST /metrics and /metrics/batch: a retried request is stored once.

A client that times out cannot know whether its batch was committed; with a key it can send
the same request again. Within 24 hours, a repeat from the same token subject gets the first
response (same status and body, header `Idempotent-Replayed: true`) and stores nothing. The
key is recorded in the transaction that commits the samples (see ingest.py), so a committed
request always has its key and a failed one never does: only successes are replayed, and a
request that failed (any 4xx or 5xx) may be retried with its key.

Two requests with one key in flight at once are both validated and submitted; the key's
primary key lets one commit, and the other, refused, answers with the first one's response
once it is committed (it waits for it, and never stores). A key reused for a different
request (another route or other body bytes) is a 422.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Header, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from perfpilot.core.errors import InvalidField
from perfpilot.core.schemas import ErrorEnvelope
from perfpilot.metrics import repository

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
MAX_SUBJECT_LENGTH = 255

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=r"^[\x20-\x7e]+$",
        description="Makes the request safe to retry: 1-255 printable ASCII characters, unique "
        "per request (e.g. a UUID). Within 24 hours, a repeat with the same key from the same "
        "token subject returns the first response (status and body, header "
        "`Idempotent-Replayed: true`) and stores nothing; the same key with a different body or "
        "route is a 422 (`idempotency_key_reused`). A concurrent repeat waits for the first and "
        "gets its response. Only a successful (201) response is recorded: after an error, the "
        "request may be retried with the same key.",
        examples=["9f1c2e4a-batch-000123"],
    ),
]

# OpenAPI: what a repeat may get besides the route's own responses.
RESPONSES: dict[int | str, dict[str, Any]] = {
    201: {
        "headers": {
            REPLAYED_HEADER: {
                "description": "`true` when this is the recorded response to an earlier "
                "request with the same `Idempotency-Key` (nothing was stored this time)",
                "schema": {"type": "string", "enum": ["true"]},
            }
        }
    },
    422: {
        "model": ErrorEnvelope,
        "description": "Invalid field (details name the field path), or (code "
        "`idempotency_key_reused`) the `Idempotency-Key` was already used for a different "
        "request",
    },
}


class IdempotencyKeyReused(InvalidField):
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        message = (
            f"{HEADER} was already used for a different request (another body or route) within "
            "the last 24 hours; use a new key for a new request"
        )
        detail = {"field": HEADER, "message": message, "type": "idempotency_key_reused"}
        super().__init__(message, details=[detail | {"in": "header"}])


@dataclass(frozen=True, slots=True)
class RequestKey:
    """A request's idempotency key: whose (token subject), which, and what request it names."""

    subject: str
    key: str
    request_hash: str

    @classmethod
    def of(cls, subject: str, key: str, *, route: str, body: bytes) -> RequestKey:
        if len(subject) > MAX_SUBJECT_LENGTH:  # keeps the primary key bounded
            subject = "sha256:" + hashlib.sha256(subject.encode()).hexdigest()
        digest = hashlib.sha256(route.encode() + b"\n" + body).hexdigest()
        return cls(subject, key, digest)


@dataclass(frozen=True, slots=True)
class IngestResponse:
    """An ingestion response as sent, and as recorded for a repeat."""

    status_code: int
    content: bytes
    replayed: bool = False

    def response(self) -> Response:
        headers = {REPLAYED_HEADER: "true"} if self.replayed else None
        return Response(
            self.content,
            status_code=self.status_code,
            headers=headers,
            media_type="application/json",
        )

    def key_row(self, key: RequestKey) -> dict[str, Any]:
        """The key's row, to be committed with the request's samples."""
        return {
            "subject": key.subject,
            "key": key.key,
            "request_hash": key.request_hash,
            "status_code": self.status_code,
            "response_body": self.content.decode(),
            "created_at": datetime.now(UTC),
        }


async def earlier_response(engine: AsyncEngine, key: RequestKey) -> IngestResponse | None:
    """The response recorded for this key in the last 24 hours, or None; raises
    IdempotencyKeyReused when the key was recorded for a different request."""
    async with engine.connect() as connection:
        row = await repository.find_idempotency_key(
            connection, subject=key.subject, key=key.key, now=datetime.now(UTC)
        )
    if row is None:
        return None
    request_hash, status_code, body = row
    if request_hash != key.request_hash:
        raise IdempotencyKeyReused()
    return IngestResponse(status_code, body.encode(), replayed=True)
