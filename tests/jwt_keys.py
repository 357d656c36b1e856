"""Key pairs and hand-built JWTs for the auth tests, independent of TokenAuthority.mint.

Tokens an identity provider would issue (RS256, ES256) and the classic attacks: `alg: none`
and algorithm confusion (HS256 signed with the server's *public* key as the HMAC secret),
which PyJWT refuses to produce, so they are assembled by hand here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


RSA_PUBLIC_PEM = public_pem(RSA_KEY)
EC_PUBLIC_PEM = public_pem(EC_KEY)


def claims(
    *, role: str = "viewer", sub: str = "idp-user", ttl: int = 300, **extra: Any
) -> dict[str, Any]:
    """Claims of a token valid for `ttl` seconds (negative: expired that long ago)."""
    now = int(time.time())
    values: dict[str, Any] = {"sub": sub, "role": role, "iat": now, "exp": now + ttl}
    values.update(extra)
    return {k: v for k, v in values.items() if v is not None}


def sign(payload: dict[str, Any], key: Any, alg: str) -> str:
    return jwt.encode(payload, key, algorithm=alg)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _segments(payload: dict[str, Any], alg: str) -> str:
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(payload).encode())}"


def unsigned_token(payload: dict[str, Any]) -> str:
    """`alg: none`, empty signature."""
    return _segments(payload, "none") + "."


def hs256_with_secret_bytes(payload: dict[str, Any], secret: bytes) -> str:
    """HS256 over any bytes, e.g. a PEM public key (the algorithm-confusion attack)."""
    signing_input = _segments(payload, "HS256")
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"
