"""Dashboard sign-in: one-time links and server-side sessions.

A session holds the JWT it was made from (a pasted one, or one minted for a sign-in link),
the principal, a CSRF token and its expiry; the browser only holds a random id in an
HttpOnly, SameSite=Strict cookie. Only hashes of ids and link codes are kept, so a memory
dump does not yield a usable cookie.

Kept in this process's memory: right for one server process (SQLite allows no other). With
several replicas on PostgreSQL, a sticky load balancer keeps a browser on its replica; a
shared table would lift that (the store's interface is all the rest of the UI uses).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from perfpilot.core.auth import Principal

LINK_TTL_SECONDS = 600.0
MAX_SESSIONS = 10_000
MAX_LINKS = 100


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class UiSession:
    principal: Principal
    token: str  # the bearer JWT the session's API calls carry
    csrf: str
    expires_at: float

    def csrf_matches(self, offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(self.csrf, offered)


class SessionStore:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._sessions: dict[str, UiSession] = {}

    def create(
        self, principal: Principal, *, token: str, expires_at: float
    ) -> tuple[str, UiSession]:
        """A new session; returns the cookie value (the only copy of the id) and the session."""
        self._expire()
        if len(self._sessions) >= MAX_SESSIONS:  # drop the oldest (dicts keep insertion order)
            self._sessions.pop(next(iter(self._sessions)))
        session_id = secrets.token_urlsafe(32)
        session = UiSession(principal, token, secrets.token_urlsafe(32), expires_at)
        self._sessions[_digest(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> UiSession | None:
        if not session_id or len(session_id) > 100:
            return None
        key = _digest(session_id)
        session = self._sessions.get(key)
        if session is not None and session.expires_at <= self._clock():
            del self._sessions[key]
            return None
        return session

    def revoke(self, session_id: str | None) -> bool:
        if not session_id:
            return False
        return self._sessions.pop(_digest(session_id), None) is not None

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[key]


class SignInLinks:
    """Single-use codes for `/ui/login?token=...`, valid for LINK_TTL_SECONDS."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._codes: dict[str, float] = {}

    def issue(self) -> str:
        now = self._clock()
        self._codes = {k: t for k, t in self._codes.items() if t > now}
        if len(self._codes) >= MAX_LINKS:
            self._codes.pop(next(iter(self._codes)))
        code = secrets.token_urlsafe(32)
        self._codes[_digest(code)] = now + LINK_TTL_SECONDS
        return code

    def redeem(self, code: str | None) -> bool:
        """True once per issued code, within its lifetime."""
        if not code or len(code) > 100:
            return False
        expires = self._codes.pop(_digest(code), None)
        return expires is not None and expires > self._clock()
