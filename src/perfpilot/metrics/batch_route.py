"""The route class of POST /metrics/batch: one pass of pydantic-core over the body.

FastAPI reads a JSON body with `await request.json()` (json.loads), then validates the Python
objects. For a batch, the JSON bytes go to `parse_batch` instead (parse and validate in one
pass, in Rust); `json()` then returns the finished IngestBatch, which the body's validation
passes through. When `parse_batch` declines, `json()` is Starlette's own, so a malformed or
invalid body meets FastAPI's usual parsing, ordering (400 before authentication, 422 after)
and errors, and the reference validation. This is FastAPI's documented way to customise the
request of a route (a Request subclass installed by an APIRoute subclass).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from perfpilot.metrics.canonical import IngestBatch, parse_batch


class _BatchRequest(Request):
    async def json(self) -> Any:
        samples = parse_batch(await self.body())
        if samples is None:
            return await super().json()
        return IngestBatch(samples)


class BatchRoute(APIRoute):
    """An APIRoute whose handler sees the request as a _BatchRequest."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def batch_handler(request: Request) -> Response:
            return await handler(_BatchRequest(request.scope, request.receive))

        return batch_handler
