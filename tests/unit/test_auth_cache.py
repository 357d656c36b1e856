"""TokenAuthority remembers verified tokens: the same answers as a full verification, faster.

A token that verified keeps verifying only while its time claims allow; after that, the full
verification runs again and fails the way it always did. Time is driven by the test: the
authority's clock (time.time) and PyJWT's (datetime.now) move together.
"""

from __future__ import annotations

import time
import types
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt.api_jwt
import pytest

import perfpilot.core.auth as auth
from perfpilot.core.auth import Principal, Role, TokenAuthority
from perfpilot.core.config import Settings
from perfpilot.core.errors import Unauthorized

SECRET = "cache-secret-" + "k" * 60
LEEWAY = 30


class Clock:
    """Both clocks the authority consults, frozen at a whole second (`base`) plus `offset`:
    real time passing during a slow run must not move the test across a boundary."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.base = float(int(time.time()))
        self.offset = 0.0
        clock = self

        class ShiftedDatetime(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return datetime.fromtimestamp(clock.now(), tz)

        monkeypatch.setattr(jwt.api_jwt, "datetime", ShiftedDatetime)
        monkeypatch.setattr(auth, "time", types.SimpleNamespace(time=self.now))

    def now(self) -> float:
        return self.base + self.offset


def authority(tmp_path: Path) -> TokenAuthority:
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, jwt_leeway_seconds=LEEWAY)
    return TokenAuthority(settings, secret=SECRET)


def token(**claims: Any) -> str:
    return jwt.encode({"sub": "alice", "role": "operator", **claims}, SECRET, algorithm="HS256")


def test_a_cached_token_expires_when_the_full_check_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch)
    tokens = authority(tmp_path)
    now = int(clock.base)
    expiring = token(iat=now, nbf=now, exp=now + 60)
    assert tokens.verify(expiring) == Principal(subject="alice", role=Role.operator)
    clock.offset = 60 + LEEWAY - 1  # still inside the leeway: cached and uncached agree
    assert tokens.verify(expiring).subject == "alice"
    assert authority(tmp_path).verify(expiring).subject == "alice"
    clock.offset = 60 + LEEWAY + 1
    for fresh in (tokens, authority(tmp_path)):
        with pytest.raises(Unauthorized, match="Token has expired"):
            fresh.verify(expiring)


def test_a_token_not_yet_valid_is_refused_until_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch)
    tokens = authority(tmp_path)
    now = int(clock.base)
    later = token(iat=now, nbf=now + 600, exp=now + 3600)
    with pytest.raises(Unauthorized, match="not yet valid"):
        tokens.verify(later)
    clock.offset = 600 - LEEWAY
    assert tokens.verify(later).subject == "alice"
    clock.offset = 0  # a clock that goes back: the cached answer follows the claims too
    with pytest.raises(Unauthorized, match="not yet valid"):
        tokens.verify(later)


def test_only_successes_are_remembered_and_no_more_than_the_bound(tmp_path: Path) -> None:
    tokens = authority(tmp_path)
    now = int(time.time())
    forged = jwt.encode({"sub": "eve", "role": "admin", "exp": now + 60}, "x" * 64)
    for _ in range(2):
        with pytest.raises(Unauthorized):
            tokens.verify(forged)
    assert forged not in tokens._verified
    for i in range(auth._VERIFIED_CACHE_SIZE + 10):
        tokens.verify(token(exp=now + 60, jti=str(i)))
    assert len(tokens._verified) == auth._VERIFIED_CACHE_SIZE


def test_expiry_matches_pyjwt_to_the_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch)
    now = int(clock.base)
    exp = now + 100
    timed = token(exp=exp)
    cached = authority(tmp_path)
    cached.verify(timed)
    # PyJWT: expired when exp <= now - leeway
    for shift in (exp + LEEWAY - 0.5, exp + LEEWAY + 0.5):
        clock.offset = shift - clock.base
        outcomes = []
        for tokens in (cached, authority(tmp_path)):
            try:
                outcomes.append(tokens.verify(timed).subject)
            except Unauthorized as exc:
                outcomes.append(exc.message)
        assert outcomes[0] == outcomes[1], (shift - exp, outcomes)
