"""Opaque keyset cursors over (timestamp, id), newest first."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

from perfpilot.core.errors import InvalidField


def encode_cursor(ts: datetime, row_id: uuid.UUID) -> str:
    raw = f"{ts.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (timestamp, id) a cursor points after; 422 naming `cursor` when it is not ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        ts_raw, id_raw = base64.urlsafe_b64decode(padded).decode().split("|", 1)
        ts = datetime.fromisoformat(ts_raw)
        if ts.tzinfo is None:  # ours are UTC-aware; a naive one would fail in the query (500)
            raise ValueError("cursor timestamp has no time zone")
        return ts, uuid.UUID(id_raw)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidField(
            "Invalid cursor",
            details=[
                {
                    "field": "cursor",
                    "message": "not a cursor from a previous page",
                    "type": "value_error",
                    "in": "query",
                }
            ],
        ) from exc
