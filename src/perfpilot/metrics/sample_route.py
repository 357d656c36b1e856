"""The route class of POST /metrics: one sample without FastAPI's per-request machinery.

A single POST is the hottest request there is, and most of its CPU went to the framework:
solving the dependency tree, json.loads, MetricIn's Python validators, wrapping the endpoint's
response. For a body that `parse_sample` accepts (pydantic-core parses and validates the JSON
bytes in one pass, then one plain check of unit, range, time and metadata), this route's
handler does what the dependencies and the endpoint do, in the same order: the principal that
RequestFrameMiddleware authenticated, the ingest rate limit and the role check
(`authorize_ingest`, the very dependency), the idempotency key, the commit, the 201. Anything
else (a body it does not accept, an Idempotency-Key FastAPI would refuse, no principal yet) is
handed to FastAPI's own handler of the route, so errors, their order (400 before
authentication, 422 after) and their envelopes are exactly FastAPI's. The OpenAPI document is
the APIRoute's, unchanged. Same technique as batch_route.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from perfpilot.core.auth import Principal
from perfpilot.core.deps import authorize_ingest, get_context
from perfpilot.core.schemas import Envelope
from perfpilot.metrics import idempotency, service
from perfpilot.metrics.canonical import parse_sample
from perfpilot.metrics.idempotency import RequestKey
from perfpilot.metrics.schemas import MetricOut
from perfpilot.metrics.stream import SampleRow

_HEADER = idempotency.HEADER.lower()
# IdempotencyKeyHeader's constraints: 1-255 printable ASCII characters
_VALID_KEY = re.compile(rf"[\x20-\x7e]{{1,{idempotency.MAX_KEY_LENGTH}}}")


def sample_body(rows: list[SampleRow]) -> bytes:
    [row] = rows
    message = "Performance metric recorded successfully"
    envelope = Envelope[MetricOut](data=service.row_out(row), message=message)
    return envelope.model_dump_json(by_alias=True).encode()


async def request_key(request: Request, principal: Principal, key: str | None) -> RequestKey | None:
    if key is None:
        return None
    body = await request.body()  # read and kept by the body's parsing: no second read
    return RequestKey.of(principal.subject, key, route=request.url.path, body=body)


class SampleRoute(APIRoute):
    """An APIRoute whose handler records a valid single sample itself."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def sample_handler(request: Request) -> Response:
            state = request.scope.get("state")
            if not state or not isinstance(state.get("principal"), Principal):
                return await handler(request)
            keys = request.headers.getlist(_HEADER)
            key = keys[0] if keys else None
            if len(keys) > 1 or (key is not None and not _VALID_KEY.fullmatch(key)):
                return await handler(request)
            sample = parse_sample(await request.body())
            if sample is None:
                return await handler(request)
            principal = await authorize_ingest(request, None)
            ctx = get_context(request)
            result = await service.record_once(
                ctx.ingest,
                ctx.read_engine,  # the key lookup only reads
                [sample],
                key=await request_key(request, principal, key),
                render=sample_body,
            )
            return result.response()

        return sample_handler
