"""Opaque keyset cursors over (timestamp, id), newest first, and the predicate that seeks them.

Every list paged this way has an index ending in (timestamp, id) behind each of its filters, so
"the next page" is one index range: the row-value comparison below. SQLite (>= 3.15) and
PostgreSQL both use `(timestamp, id) < (?, ?)` as a range bound of such an index; the
`timestamp < ? OR (timestamp = ? AND id < ?)` it replaces is not one (SQLite scans and sorts).
tests/integration/test_query_plans.py reads the plans.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from perfpilot.core.errors import InvalidField


def encode_cursor(ts: datetime, row_id: uuid.UUID) -> str:
    raw = f"{ts.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def invalid_cursor() -> InvalidField:
    """The 422 for a cursor that no previous page of ours returned (every paged list)."""
    return InvalidField(
        "Invalid cursor",
        details=[
            {
                "field": "cursor",
                "message": "not a cursor from a previous page",
                "type": "value_error",
                "in": "query",
            }
        ],
    )


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
        raise invalid_cursor() from exc


def newest_first(
    timestamp: InstrumentedAttribute[datetime], row_id: InstrumentedAttribute[uuid.UUID]
) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """ORDER BY timestamp DESC, id DESC: an index ending in (timestamp, id) read backwards."""
    return timestamp.desc(), row_id.desc()


def after_cursor(
    timestamp: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[uuid.UUID],
    after: tuple[datetime, uuid.UUID],
) -> ColumnElement[bool]:
    """Rows after `after` in newest-first order: `(timestamp, id) < (?, ?)`.

    The values are bound with the columns' own types (UTCDateTime stores UTC on SQLite).
    """
    ts, last_id = after
    return tuple_(timestamp, row_id) < tuple_(
        literal(ts, timestamp.type), literal(last_id, row_id.type)
    )
