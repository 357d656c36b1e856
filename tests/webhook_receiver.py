"""A real HTTP/1.1 webhook receiver for tests: records every request, fails or stalls on demand.

Built on asyncio.start_server (keep-alive, Content-Length bodies: what httpx sends), listening
on 127.0.0.1 with an ephemeral port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

_REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 500: "Internal Server Error"}


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    received_at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class WebhookReceiver:
    """`async with WebhookReceiver() as receiver:` then point a webhook at `receiver.url`."""

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.default_status = 200
        self.delay = 0.0  # seconds before each answer, to keep deliveries in flight
        self._fail_next: list[int] = []
        self._stall_next = 0
        self._stalled = asyncio.Event()
        self._release = asyncio.Event()
        self._arrived = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._port = 0
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/hook"

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next `count` requests with `status`."""
        self._fail_next.extend([status] * count)

    def stall_next(self, count: int = 1) -> None:
        """Record the next `count` requests but answer none until `release()`."""
        self._stall_next += count
        self._release.clear()

    def release(self) -> None:
        self._release.set()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Wait until at least `count` requests arrived; return them all."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return list(self.requests)

    async def __aenter__(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._release.set()
        assert self._server is not None
        self._server.close()
        for writer in list(self._connections):
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    return
                status = self._fail_next.pop(0) if self._fail_next else self.default_status
                stall = self._stall_next > 0
                if stall:
                    self._stall_next -= 1
                async with self._arrived:
                    self.requests.append(request)
                    self._arrived.notify_all()
                if stall:
                    await self._release.wait()
                if self.delay:
                    await asyncio.sleep(self.delay)
                body = b'{"ok": true}' if status < 300 else b'{"error": "receiver told to fail"}'
                reason = _REASONS.get(status, "Status")
                head = (
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                )
                writer.write(head.encode() + body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._connections.discard(writer)
            writer.close()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> ReceivedRequest | None:
        line = await reader.readline()
        if not line:
            return None
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            raw = (await reader.readline()).decode("latin-1").rstrip("\r\n")
            if not raw:
                break
            name, _, value = raw.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        return ReceivedRequest(method=method, path=path, headers=headers, body=body)
