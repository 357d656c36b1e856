"""JWT bearer authentication and role checks.

HS256 with a shared secret (generated on first start and kept in the data directory when not
configured), and RS256/ES256 with a configured public key for tokens from an identity provider.
The algorithm a token may use is decided by which key we hold for it, never by the token alone,
so `none` and HS256-signed-with-the-public-key (algorithm confusion) are rejected.
"""

from __future__ import annotations

import math
import os
import secrets
import time
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt

from perfpilot.core.config import Settings
from perfpilot.core.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from jwt.types import Options

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
_VERIFIED_CACHE_SIZE = 4096
# Real tokens are well under 2 KiB; a longer one is refused before any decoding or caching.
MAX_TOKEN_BYTES = 8 * 1024
_TIME_CLAIMS = ("exp", "nbf", "iat")


class Role(IntEnum):
    viewer = 1
    operator = 2
    admin = 3


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: Role


def load_or_create_secret(settings: Settings) -> tuple[str, bool]:
    """The HS256 secret, and whether it was generated (not configured)."""
    if settings.jwt_secret:
        return settings.jwt_secret, False
    path = settings.data_dir / "jwt_secret"
    if path.exists():
        return path.read_text().strip(), True
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # created with 0600 from the start: never world-readable, not even briefly
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret, True


def _load_public_key(value: str | None) -> str | None:
    if not value:
        return None
    if "-----BEGIN" in value:
        return value
    return Path(value).read_text()


class TokenAuthority:
    """Verifies bearer tokens and mints HS256 ones."""

    def __init__(self, settings: Settings, *, secret: str) -> None:
        self._secret = secret
        self._public_key = _load_public_key(settings.jwt_public_key)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_seconds
        # token -> (principal, valid from, valid until): a token that verified once verifies
        # again, with the same result, for as long as its time claims allow (the signature,
        # issuer, audience and role checks do not depend on time). Saves a full JWT decode
        # per request on the ingestion path; only successes are kept, and a bounded number.
        self._verified: dict[str, tuple[Principal, float, float]] = {}

    def mint(
        self,
        *,
        role: Role | str,
        subject: str,
        ttl_seconds: int,
        extra: dict[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        role_name = role.name if isinstance(role, Role) else Role[role].name
        claims: dict[str, Any] = {
            "sub": subject,
            "role": role_name,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
        }
        if self._issuer:
            claims["iss"] = self._issuer
        if self._audience:
            claims["aud"] = self._audience
        claims.update(extra or {})
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthorized(f"Bearer token is longer than {MAX_TOKEN_BYTES} bytes")
        cached = self._verified.get(token)
        if cached is not None:
            principal, valid_from, valid_until = cached
            if valid_from <= time.time() < valid_until:
                return principal
        principal, claims = self._verify(token)
        # PyJWT's time checks: iat and nbf <= now + leeway, exp > now - leeway
        starts = [int(claims[c]) for c in ("iat", "nbf") if c in claims]
        valid_from = max(starts) - self._leeway if starts else -math.inf
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = (principal, valid_from, int(claims["exp"]) + self._leeway)
        return principal

    def _verify(self, token: str) -> tuple[Principal, dict[str, Any]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("Malformed bearer token") from exc
        alg = header.get("alg")
        key: Any
        if alg == "HS256":
            key = self._secret
        elif alg in ASYMMETRIC_ALGORITHMS and self._public_key:
            key = self._public_key
        else:
            raise Unauthorized(f"Token algorithm {alg!r} is not accepted")
        options: Options = {"require": ["exp", "sub"]}
        if self._issuer:
            options["require"].append("iss")
        if self._audience:
            options["require"].append("aud")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options=options,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token has expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"Invalid token: {exc}") from exc
        for claim in _TIME_CLAIMS:
            # PyJWT takes int(value), so "9999999999" and true would pass as times
            value = claims.get(claim)
            if claim in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise Unauthorized(f"Token claim {claim!r} must be a number (seconds since epoch)")
        role_name = claims.get("role")
        if not isinstance(role_name, str) or role_name not in Role.__members__:
            raise Unauthorized("Token has no valid 'role' claim (viewer, operator or admin)")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise Unauthorized("Token has no valid 'sub' claim")
        return Principal(subject=subject, role=Role[role_name]), claims


def check_role(principal: Principal, required: Role) -> None:
    if principal.role < required:
        raise Forbidden(
            f"This operation needs the {required.name} role; the token has {principal.role.name}"
        )
