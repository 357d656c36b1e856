"""One pure-ASGI middleware for what every request needs: ids, limits, headers, logs, timing.

Pure ASGI (not BaseHTTPMiddleware) because it sits on the ingestion hot path.
"""

from __future__ import annotations

import time
from secrets import token_hex
from typing import Any, Protocol
from urllib.parse import parse_qsl

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from perfpilot.core.config import API_PREFIX, Settings
from perfpilot.core.deps import authenticate
from perfpilot.core.errors import (
    HeadersTooLarge,
    InvalidField,
    PayloadTooLarge,
    PerfpilotError,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
    error_body,
)
from perfpilot.monitoring.telemetry import Telemetry

_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
# /docs and /redoc (apidocs/): every script and style from this origin, no inline script.
# Swagger UI and ReDoc set inline styles and use data: images; ReDoc searches in a worker
# built from a blob.
_DOCS_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    b"worker-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
)
# /ui/ (the dashboard): scripts, styles, fonts and data from this origin only, nothing inline
# (charts set element styles through the CSSOM, which style-src does not restrict)
_UI_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    b"frame-ancestors 'none'",
)
_NO_STORE = (b"cache-control", b"no-store")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# names and values of all header fields of a request; a bearer token is at most 8 KiB
MAX_HEADER_BYTES = 16 * 1024


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _route_template(route: Any, *, is_api: bool) -> str:
    """The matched route's path template, e.g. `/v1/ai-performance-optimization/metrics`.

    Never the raw path: unmatched URLs would give unbounded label cardinality. FastAPI may
    report an included router's route without its include prefix; every API router is
    included under API_PREFIX, so put it back (else API /metrics and the probe collide).
    """
    path = getattr(route, "path", None)
    if not isinstance(path, str) or not path:
        return "unmatched"
    if is_api and not path.startswith(API_PREFIX):
        return API_PREFIX + path
    return path


def _nul_query_parameter(query_string: bytes) -> str | None:
    """The first query parameter whose name or value holds a NUL character, or None."""
    if b"%00" not in query_string and b"\x00" not in query_string:
        return None
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return None


class ShortPath(Protocol):
    """A request handled in plain ASGI when it can be (metrics/sample_route.py): None when it
    answered, else the receive the app reads the request from (what was read, replayed)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> Receive | None: ...


class RequestFrameMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        telemetry: Telemetry,
        short_paths: dict[tuple[str, str], ShortPath] | None = None,
    ) -> None:
        self.app = app
        # (method, path) -> a handler for requests that passed the checks below (auth, body)
        self.short_paths = short_paths or {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.settings = settings
        self.telemetry = telemetry
        self.log_requests = settings.access_log
        # one logger per app, bound after create_app configured logging (module-level proxies
        # cache the configuration of their first use)
        self.access_log = structlog.get_logger("perfpilot.access")

    def _body_cap(self, path: str) -> int:
        if path.endswith("/batch"):
            return self.settings.max_batch_body_bytes
        return self.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        headers = dict(scope["headers"])
        # a client's id, else 32 random hex digits (uuid4().hex's form, without the object)
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:100] or token_hex(16)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        is_api = path.startswith(API_PREFIX)
        status_holder = [500]
        response_started = [False]

        extra_headers = [*_SECURITY_HEADERS, (b"x-request-id", request_id.encode())]
        if path.startswith(("/docs", "/redoc")):
            extra_headers.append(_DOCS_CSP)
        elif path.startswith("/ui"):
            extra_headers.append(_UI_CSP)
        else:
            extra_headers.append(_API_CSP)
        if is_api or (path.startswith("/ui") and not path.startswith("/ui/static/")):
            extra_headers.append(_NO_STORE)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_started[0] = True
                status_holder[0] = message["status"]
                raw = list(message.get("headers", []))
                own = {name.lower() for name, _ in raw}
                # a response with its own policy (the HTML report) keeps it
                raw.extend(h for h in extra_headers if h[0] not in own)
                rate = state.get("ratelimit")
                if rate is not None:
                    raw.extend((k.lower().encode(), v.encode()) for k, v in rate.items())
                message["headers"] = raw
            await send(message)

        try:
            rejection: PerfpilotError | None = None
            header_bytes = sum(len(name) + len(value) for name, value in scope["headers"])
            if header_bytes > MAX_HEADER_BYTES:
                rejection = HeadersTooLarge(
                    f"Request header fields exceed the {MAX_HEADER_BYTES} byte limit"
                )
            elif is_api and (nul := _nul_query_parameter(scope["query_string"])) is not None:
                # PostgreSQL cannot hold NUL in text: refuse it here, on every store alike,
                # rather than let the database turn it into a 503
                rejection = InvalidField(
                    f"Invalid request: {nul}",
                    details=[
                        {
                            "field": nul,
                            "in": "query",
                            "message": "must not contain NUL (%00)",
                            "type": "value_error",
                        }
                    ],
                )
            elif is_api and method in _BODY_METHODS:
                # authenticate before the body is read or parsed: every such route needs a
                # token, and an anonymous client learns nothing from how its body is judged
                rejection = await self._authenticate(scope, headers, state)
                if rejection is None:
                    rejection, receive = await self._check_body(scope, headers, receive)
            if rejection is not None:
                await self._send_error(rejection, send_with_headers)
            else:
                short = self.short_paths.get((method, path))
                if short is not None:
                    replay = await short.handle(scope, receive, send_with_headers)
                    if replay is None:
                        return
                    receive = replay
                await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette's outermost error middleware would send this 500 without our headers;
            # send the envelope here, then re-raise so the error is still logged as unhandled.
            if not response_started[0]:
                await self._send_error(PerfpilotError("Internal error"), send_with_headers)
            raise
        finally:
            duration = time.perf_counter() - started
            template = _route_template(scope.get("route"), is_api=is_api)
            status = status_holder[0]
            self._count(template, method, status, duration)
            if self.log_requests:
                principal = state.get("principal")
                self.access_log.info(
                    "request",
                    request_id=request_id,
                    method=method,
                    route=template,
                    status=status,
                    duration_ms=round(duration * 1000, 2),
                    subject=getattr(principal, "subject", None),
                )

    def _count(self, template: str, method: str, status: int, duration: float) -> None:
        # the labelled children, looked up once per (route, method, status): a bounded set,
        # since templates are the app's routes or "unmatched"
        key = (template, method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.telemetry.requests.labels(template, method, str(status)),
                self.telemetry.request_duration.labels(template, method),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(duration)

    @staticmethod
    async def _authenticate(
        scope: Scope, headers: dict[bytes, bytes], state: dict[str, Any]
    ) -> PerfpilotError | None:
        ctx = scope["app"].state.ctx
        raw = headers.get(b"authorization")
        client = scope.get("client")
        try:
            await authenticate(
                ctx,
                None if raw is None else raw.decode("latin-1"),
                client=client[0] if client else "unknown",
                state=state,
            )
        except (Unauthorized, RateLimited) as exc:
            return exc
        return None

    async def _check_body(
        self, scope: Scope, headers: dict[bytes, bytes], receive: Receive
    ) -> tuple[PerfpilotError | None, Receive]:
        cap = self._body_cap(scope["path"])
        length_raw = headers.get(b"content-length")
        if length_raw is not None:
            try:
                length = int(length_raw)
            except ValueError:
                length = -1
            if length > cap:
                return PayloadTooLarge(f"Request body exceeds the {cap} byte limit"), receive
            if length == 0:
                return None, receive
            chunked = False
        else:
            chunked = True
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if not _is_json(content_type):
            return (
                UnsupportedMediaType("Request body must be JSON (Content-Type: application/json)"),
                receive,
            )
        if not chunked:
            return None, receive
        # No Content-Length: read up to the cap now, then replay the body to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                return PayloadTooLarge(f"Request body exceeds the {cap} byte limit"), receive
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return None, replay

    @staticmethod
    async def _send_error(exc: PerfpilotError, send: Send) -> None:
        body = orjson.dumps(error_body(exc.code, exc.message, exc.details))
        await send(
            {
                "type": "http.response.start",
                "status": exc.status_code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *((k.lower().encode(), v.encode()) for k, v in exc.headers.items()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
