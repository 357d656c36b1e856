"""The webhook follow mode: a small HTTP/1.1 endpoint that receives `state.changed` events.

Only what Perfpilot's dispatcher sends is understood: POST with a Content-Length body, keep-alive.
Each request's signature (X-Perfpilot-Signature over timestamp and body, see webhooks/signing.py)
is checked with the subscription's secret; unsigned or stale requests get a 401 and are not
applied. The newest state by version is kept for the simulator to apply on its next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from perfpilot.simulator.actuator import TargetState
from perfpilot.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

MAX_BODY = 1024 * 1024
_STATUS = {204: "No Content", 400: "Bad Request", 401: "Unauthorized", 413: "Too Large"}


class StateReceiver:
    """`await receiver.start()`; point a state.changed webhook at `receiver.url`."""

    def __init__(self, service: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = service
        self.secret: str | None = None  # set once the subscription exists
        self.received = 0
        self.rejected = 0
        self._host, self._port = host, port
        self._server: asyncio.Server | None = None
        self._latest: TargetState | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}/state"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2)

    def take(self) -> TargetState | None:
        """The newest state received since the last call, if any."""
        latest, self._latest = self._latest, None
        return latest

    def _accept(self, headers: dict[str, str], body: bytes) -> int:
        if self.secret is None or not verify_signature(
            self.secret,
            headers.get(TIMESTAMP_HEADER.lower(), ""),
            body,
            headers.get(SIGNATURE_HEADER.lower(), ""),
        ):
            self.rejected += 1
            return 401
        try:
            payload = json.loads(body)
            if payload.get("event") != "state.changed" or payload["serviceName"] != self.service:
                return 204  # not ours: acknowledge, ignore
            state = TargetState.from_api(payload["state"], version=int(payload["version"]))
        except (ValueError, KeyError, TypeError):
            return 400
        self.received += 1
        if self._latest is None or state.version > self._latest.version:
            self._latest = state
        return 204

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                if length > MAX_BODY:
                    status = 413
                else:
                    body = await reader.readexactly(length)
                    status = self._accept(headers, body)
                writer.write(
                    f"HTTP/1.1 {status} {_STATUS[status]}\r\nContent-Length: 0\r\n\r\n".encode()
                )
                await writer.drain()
                if status == 413 or headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except ValueError:  # a malformed Content-Length
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
