"""Keyset pages over service names: the cursor is the last name of the previous page."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Response

from perfpilot.core.pagination import invalid_cursor
from perfpilot.core.schemas import ListEnvelope

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
        raise invalid_cursor()
    return name


def next_cursor(names: list[str], limit: int) -> str | None:
    """The cursor after the first `limit` of `names` (read as `limit + 1` to know whether
    more follow); None when there are no more."""
    return encode_name_cursor(names[limit - 1]) if len(names) > limit else None


async def render_off_loop(build: Callable[[], ListEnvelope[Any]]) -> Response:
    """The JSON response of the list `build()` returns, built and serialised in a worker thread.

    A page of 1,000 services is some 9,000 models and 850 KB of JSON: ~100 ms of CPU that, on
    the event loop, would delay every other request (and /healthz) by as much. In a thread the
    loop runs between the interpreter's switches; items are dumped one by one so that no
    single call holds the GIL for the whole page. The body is what FastAPI renders for the
    route's response_model (by alias), without validating the page a second time.
    """

    def render() -> bytes:
        envelope = build()
        rest = envelope.model_dump(mode="json", by_alias=True, exclude={"data"})
        data = [item.model_dump(mode="json", by_alias=True) for item in envelope.data]
        return orjson.dumps({"success": rest.pop("success"), "data": data, **rest})

    return Response(await asyncio.to_thread(render), media_type="application/json")
