"""How uvicorn serves the app: `perfpilot serve` and the tests' live server share these options.

uvicorn's httptools parser buffers a header of any size before the app sees it (a 30 MB
`Authorization` header was read whole and answered). The protocol below counts the bytes of
each request head as they arrive and answers 431 (in the error envelope) once the head passes
MAX_REQUEST_HEAD_BYTES without being complete, so memory stays bounded by the cap plus one read.
RequestFrameMiddleware applies the finer cap on header fields (MAX_HEADER_BYTES) under any server.

uvicorn writes a response's head and its body with one `transport.write` each: two `send`
calls, and on loopback two wake-ups of the client, per response. A head that declares a
Content-Length is followed by its body at once, so the protocol below holds it until the body
(or the end of the response, or a close) and sends both in one write. Chunked responses
(streams: their first chunk may be minutes away) are written as uvicorn writes them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from perfpilot.core.errors import HeadersTooLarge, error_body

# request line + header lines of one request; header fields alone are capped lower, in the
# middleware (16 KiB), so this only has to stop what never finishes arriving
MAX_REQUEST_HEAD_BYTES = 64 * 1024
# after a 431, what is still arriving is read and dropped (so the client, still sending, can
# read the answer instead of a reset) until it pauses this long, or sends this much
_LINGER_SECONDS = 2.0
_LINGER_MAX_BYTES = 64 * 1024 * 1024


def _too_large_response() -> bytes:
    error = HeadersTooLarge(f"Request head exceeds the {MAX_REQUEST_HEAD_BYTES} byte limit")
    body = orjson.dumps(error_body(error.code, error.message))
    head = (
        "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        "content-type: application/json\r\n"
        "x-content-type-options: nosniff\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class _OneWriteTransport:
    """The transport as one response cycle sees it: a head with a Content-Length waits for the
    next write, the first of its body, and leaves with it."""

    __slots__ = ("_held", "_started", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        if not self._started:
            self._started = True
            if b"\r\ncontent-length: " in data:  # uvicorn writes header names lower-case
                self._held = data
                return
        if self._held is not None:
            data, self._held = self._held + data, None
        self._transport.write(data)

    def flush(self) -> None:
        if self._held is not None:
            data, self._held = self._held, None
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HeadCappedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on the bytes of an incomplete request head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._heads_done = 0  # request heads parsed on this connection
        self._in_head = True  # not inside a request's body
        self._head_bytes = 0  # bytes received since the last complete head
        self._discarded: int | None = None  # bytes dropped since the 431, once answered
        self._linger: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self._discarded is not None:
            self._discarded += len(data)
            if self._discarded > _LINGER_MAX_BYTES:
                self.transport.close()
            else:
                self._linger_until_quiet()
            return
        heads_before, in_head_before = self._heads_done, self._in_head
        super().data_received(data)
        if self._heads_done != heads_before:
            self._head_bytes = 0  # a head completed in this chunk; the rest is body or a new head
            return
        if not (in_head_before and self._in_head):
            return  # body (the first bytes of a next head may go uncounted: one chunk at most)
        self._head_bytes += len(data)
        if self._head_bytes > MAX_REQUEST_HEAD_BYTES and not self.transport.is_closing():
            self._discarded = 0
            self.transport.write(_too_large_response())
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self._linger_until_quiet()

    def _linger_until_quiet(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
        self._linger = self.loop.call_later(_LINGER_SECONDS, self.transport.close)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        self._heads_done += 1
        self._in_head = False
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is None or cycle.transport is not self.transport:
            return  # an upgrade, or a cycle that is not this request's
        transport = _OneWriteTransport(self.transport)
        on_response = cycle.on_response

        def flush_then_complete() -> None:  # a HEAD response has a head and no body write
            transport.flush()
            on_response()

        cycle.transport = transport  # type: ignore[assignment]
        cycle.on_response = flush_then_complete

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True


def uvicorn_options() -> dict[str, Any]:
    """Options for uvicorn.run / uvicorn.Config shared by `serve` and the test server."""
    return {
        "http": HeadCappedHttpToolsProtocol,
        "server_header": False,
    }
