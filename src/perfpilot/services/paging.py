"""Keyset pages over service names: the cursor is the last name of the previous page."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable

from fastapi import Response
from pydantic import BaseModel

from perfpilot.core.errors import InvalidField

_PREFIX = "service:"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def encode_name_cursor(service_name: str) -> str:
    raw = f"{_PREFIX}{service_name}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_name_cursor(cursor: str | None) -> str:
    """The name a cursor points after ("" for the first page); 422 naming `cursor` when it is
    not one of ours."""
    if cursor is None:
        return ""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
    except (ValueError, binascii.Error, UnicodeError):
        raw = ""
    name = raw.removeprefix(_PREFIX)
    if not raw.startswith(_PREFIX) or not name or len(name) > 100:
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
        )
    return name


def next_cursor(names: list[str], limit: int) -> str | None:
    """The cursor after the first `limit` of `names` (read as `limit + 1` to know whether
    more follow); None when there are no more."""
    return encode_name_cursor(names[limit - 1]) if len(names) > limit else None


async def render_off_loop(build: Callable[[], BaseModel]) -> Response:
    """The JSON response of `build()`, built and serialised in a worker thread.

    A page of 1,000 services is some 9,000 models and 850 KB of JSON: ~100 ms of CPU that, on
    the event loop, would delay every other request (and /healthz) by as much. In a thread the
    loop still runs between the interpreter's switches. The body is what FastAPI would render
    for the route's response_model (by alias, compact), without validating it a second time.
    """
    body = await asyncio.to_thread(lambda: build().model_dump_json(by_alias=True))
    return Response(body, media_type="application/json")
