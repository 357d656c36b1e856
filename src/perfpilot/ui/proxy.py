"""/ui/api/...: the dashboard's JSON, through the real API with the session's token.

The browser holds only the session cookie; each request here is re-dispatched in process to
the same path under the API prefix with `Authorization: Bearer <the session's JWT>`, so the
dashboard sees exactly what an API client sees (validation errors, roles, rate limits) and no
route is written twice. Unsafe methods must carry the session's CSRF token.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from perfpilot.core.config import API_PREFIX
from perfpilot.core.errors import error_body
from perfpilot.ui.sessions import SessionStore

COOKIE_NAME = "perfpilot_session"
CSRF_HEADER = b"x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PROXY_PREFIX = "/ui/api"


def cookie_value(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            k, _, v = part.strip().partition("=")
            if k == name:
                return v
    return None


class UiApiProxy:
    def __init__(self, app: ASGIApp, sessions: SessionStore) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        session = self.sessions.get(cookie_value(headers, COOKIE_NAME))
        if session is None:
            await _error(send, 401, "unauthorized", "Sign in again: the session ended")
            return
        if scope["method"] not in SAFE_METHODS:
            offered = next((v.decode("latin-1") for k, v in headers if k == CSRF_HEADER), None)
            if not session.csrf_matches(offered):
                await _error(send, 403, "csrf_failed", "Missing or wrong CSRF token")
                return
        suffix = scope["path"][len(PROXY_PREFIX) :] or "/"
        path = API_PREFIX + suffix
        forwarded: list[tuple[bytes, bytes]] = [
            (k, v) for k, v in headers if k not in (b"cookie", b"authorization", CSRF_HEADER)
        ]
        forwarded.append((b"authorization", f"Bearer {session.token}".encode()))
        inner: dict[str, Any] = {
            **scope,
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "headers": forwarded,
            "state": {},
        }
        inner.pop("route", None)
        inner.pop("endpoint", None)
        inner.pop("path_params", None)
        await self.app(inner, receive, send)


async def _error(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps(error_body(code, message))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
