"""POST /metrics for one valid sample, in plain ASGI: no framework between the socket and the
group commit.

A single POST is the hottest request there is, and most of its CPU went to the framework:
Starlette's error and exception middleware, routing, FastAPI's dependency tree, its request
and response objects, MetricIn's Python validators. RequestFrameMiddleware (which has already
authenticated the token and checked the body's size and media type, as for every request with
a body) hands POST /metrics to `SamplePath.handle` first. For a body that `parse_sample`
accepts (pydantic-core parses and validates the JSON bytes in one pass, then one plain check of
unit, range, time and metadata) and at most one well-formed Idempotency-Key, it does what the
route's dependencies and endpoint do, in the same order: the ingest rate limit and the role
check (`authorize_ingest.admit`, the very dependency's code), the idempotency key, the commit,
the 201. Errors raised on the way are answered as the app's exception handlers answer them
(`errors.client_error`).

Anything else (a body it does not accept, an Idempotency-Key FastAPI would refuse, several
keys) goes to the app with the body replayed, so errors, their order (400 before
authentication, 422 after) and their envelopes are exactly FastAPI's, and the route's OpenAPI
document is the APIRoute's, unchanged. The batch route takes a similar shortcut inside FastAPI
(batch_route.py), where its per-request cost is small against its 10,000 samples.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import Request
from starlette.types import Message, Receive, Scope, Send

from perfpilot.core.auth import Principal
from perfpilot.core.deps import authorize_ingest
from perfpilot.core.errors import DATABASE_ERRORS, PerfpilotError, client_error, error_response
from perfpilot.core.schemas import Envelope
from perfpilot.metrics import idempotency, service
from perfpilot.metrics.canonical import parse_sample
from perfpilot.metrics.idempotency import IngestResponse, RequestKey
from perfpilot.metrics.schemas import MetricOut
from perfpilot.metrics.stream import SampleRow

# the errors the app's exception handlers answer (errors.install_error_handlers)
_ANSWERED: tuple[type[Exception], ...] = (PerfpilotError, *DATABASE_ERRORS)
_HEADER = idempotency.HEADER.lower().encode()
_REPLAYED = idempotency.REPLAYED_HEADER.lower().encode()
# IdempotencyKeyHeader's constraints: 1-255 printable ASCII characters
_VALID_KEY = re.compile(rf"[\x20-\x7e]{{1,{idempotency.MAX_KEY_LENGTH}}}")


_MESSAGE = "Performance metric recorded successfully"


def rendered_sample_body(rows: list[SampleRow]) -> bytes:
    """Envelope[MetricOut] as FastAPI renders the route's response model."""
    [row] = rows
    envelope = Envelope[MetricOut](data=service.row_out(row), message=_MESSAGE)
    return envelope.model_dump_json(by_alias=True).encode()


def sample_body(rows: list[SampleRow]) -> bytes:
    """The 201's body: rendered_sample_body's bytes, written by orjson without building the
    models (a value sample's fields are already what MetricOut holds: validated, canonical,
    metadata storable as JSON). tests/unit/test_metrics_canonical.py checks the bytes."""
    [row] = rows
    if "histogram" in row:
        return rendered_sample_body(rows)
    data = {
        "id": row["id"],
        "serviceName": row["service_name"],
        "metricType": row["metric_type"],
        "value": float(row["value"]),
        "histogram": None,
        "intervalSeconds": None,
        "unit": row["unit"],
        "timestamp": row["timestamp"],
        "metadata": row["metadata"],
        "labels": dict(row["labels"]),
    }
    envelope = {"success": True, "data": data, "message": _MESSAGE}
    return orjson.dumps(envelope, option=orjson.OPT_UTC_Z)


async def request_key(request: Request, principal: Principal, key: str | None) -> RequestKey | None:
    if key is None:
        return None
    body = await request.body()  # read and kept by the body's parsing: no second read
    return RequestKey.of(principal.subject, key, route=request.url.path, body=body)


def _replay(first: Message, receive: Receive) -> Receive:
    """A receive that gives the app the message already read, then what the client sends."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return first
        return await receive()

    return replay


async def _send(send: Send, response: IngestResponse) -> None:
    # the headers Starlette's Response(media_type="application/json") sends, in its order
    headers = [(_REPLAYED, b"true")] if response.replayed else []
    headers.append((b"content-length", str(len(response.content)).encode()))
    headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})


class SamplePath:
    """POST /metrics in plain ASGI for valid samples; `route` is the APIRoute it stands for
    (set in the scope, so metrics and logs name the route as for any other request)."""

    def __init__(self, route: Any) -> None:
        self.route = route

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """None when the request was answered; otherwise the receive to give the app (the
        body, if it was read, replayed)."""
        state: dict[str, Any] = scope["state"]
        principal = state.get("principal")
        if not isinstance(principal, Principal):
            return receive
        keys = [value for name, value in scope["headers"] if name == _HEADER]
        key = keys[0].decode("latin-1") if keys else None
        if len(keys) > 1 or (key is not None and not _VALID_KEY.fullmatch(key)):
            return receive
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: the app sees so
                return _replay(message, receive)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        sample = parse_sample(body)
        if sample is None:
            return _replay({"type": "http.request", "body": body, "more_body": False}, receive)
        scope["route"] = self.route
        ctx = scope["app"].state.ctx
        try:
            await authorize_ingest.admit(ctx, principal, state)
            request_key = None
            if key is not None:  # hashed with the path as Starlette reports it (as the route)
                path = Request(scope).url.path
                request_key = RequestKey.of(principal.subject, key, route=path, body=body)
            result = await service.record_once(
                ctx.ingest,
                ctx.read_engine,  # the key lookup only reads
                [sample],
                key=request_key,
                render=sample_body,
            )
        except _ANSWERED as exc:
            # answered as the app's exception handlers answer; anything else propagates to
            # RequestFrameMiddleware and Starlette's error middleware, as from the route
            await error_response(client_error(exc))(scope, receive, send)
            return None
        await _send(send, result)
        return None
