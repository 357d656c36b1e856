"""TokenAuthority and the HS256 secret, without HTTP."""

from __future__ import annotations

import stat
import time
from pathlib import Path
from typing import Any

import pytest

from perfpilot.core.auth import (
    Principal,
    Role,
    TokenAuthority,
    check_role,
    load_or_create_secret,
)
from perfpilot.core.config import Settings
from perfpilot.core.errors import Forbidden, Unauthorized
from tests.jwt_keys import (
    EC_KEY,
    EC_PUBLIC_PEM,
    OTHER_RSA_KEY,
    RSA_KEY,
    RSA_PUBLIC_PEM,
    claims,
    hs256_with_secret_bytes,
    sign,
    unsigned_token,
)

SECRET = "unit-secret-" + "k" * 60  # long enough for HS512 too


def authority(tmp_path: Path, **overrides: Any) -> TokenAuthority:
    settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, **overrides)
    return TokenAuthority(settings, secret=SECRET)


def rejected(tokens: TokenAuthority, token: str) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        tokens.verify(token)
    assert caught.value.status_code == 401
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")
    return caught.value


@pytest.mark.parametrize("role", list(Role))
def test_minted_token_verifies_to_its_subject_and_role(tmp_path: Path, role: Role) -> None:
    tokens = authority(tmp_path)
    token = tokens.mint(role=role, subject="alice", ttl_seconds=60)
    assert tokens.verify(token) == Principal(subject="alice", role=role)


def test_mint_accepts_role_names(tmp_path: Path) -> None:
    tokens = authority(tmp_path)
    assert tokens.verify(tokens.mint(role="operator", subject="bob", ttl_seconds=60)).role is (
        Role.operator
    )


def test_expiry_has_a_30_second_leeway(tmp_path: Path) -> None:
    tokens = authority(tmp_path)
    assert tokens.verify(sign(claims(ttl=-10), SECRET, "HS256")).subject == "idp-user"
    error = rejected(tokens, sign(claims(ttl=-60), SECRET, "HS256"))
    assert "expired" in error.message


def test_not_before_in_the_future_is_rejected(tmp_path: Path) -> None:
    tokens = authority(tmp_path)
    rejected(tokens, sign(claims(nbf=int(time.time()) + 120), SECRET, "HS256"))


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("other secret", sign(claims(), "another-secret-" + "z" * 40, "HS256")),
        ("alg none", unsigned_token(claims(role="admin"))),
        ("no exp", sign(claims(exp=None), SECRET, "HS256")),
        ("no sub", sign(claims(sub=None), SECRET, "HS256")),
        ("empty sub", sign(claims(sub=""), SECRET, "HS256")),
        ("unknown role", sign(claims(role="superuser"), SECRET, "HS256")),
        ("no role", sign(claims(role=None), SECRET, "HS256")),
        ("role not a string", sign(claims(role=3), SECRET, "HS256")),
        ("HS512", sign(claims(), SECRET, "HS512")),
        ("RS256 without a configured key", sign(claims(), RSA_KEY, "RS256")),
        ("garbage", "not-a-jwt"),
        ("tampered payload", sign(claims(), SECRET, "HS256")[:-4] + "AAAA"),
    ],
)
def test_invalid_tokens_are_rejected(tmp_path: Path, name: str, token: str) -> None:
    rejected(authority(tmp_path), token)


def test_rs256_from_the_configured_key_is_accepted(tmp_path: Path) -> None:
    tokens = authority(tmp_path, jwt_public_key=RSA_PUBLIC_PEM)
    token = sign(claims(role="operator", sub="svc@idp"), RSA_KEY, "RS256")
    assert tokens.verify(token) == Principal(subject="svc@idp", role=Role.operator)
    # HS256 with the shared secret keeps working next to the identity provider's key
    assert tokens.verify(tokens.mint(role=Role.admin, subject="cli", ttl_seconds=60)).role is (
        Role.admin
    )


def test_public_key_may_be_given_as_a_path(tmp_path: Path) -> None:
    key_file = tmp_path / "idp.pem"
    key_file.write_text(EC_PUBLIC_PEM)
    tokens = authority(tmp_path, jwt_public_key=str(key_file))
    assert tokens.verify(sign(claims(role="viewer"), EC_KEY, "ES256")).role is Role.viewer


@pytest.mark.parametrize(
    ("public_pem", "token"),
    [
        # algorithm confusion: the public key, which anyone may have, used as an HMAC secret
        (RSA_PUBLIC_PEM, hs256_with_secret_bytes(claims(role="admin"), RSA_PUBLIC_PEM.encode())),
        (EC_PUBLIC_PEM, hs256_with_secret_bytes(claims(role="admin"), EC_PUBLIC_PEM.encode())),
        (RSA_PUBLIC_PEM, sign(claims(), OTHER_RSA_KEY, "RS256")),
        (RSA_PUBLIC_PEM, sign(claims(), EC_KEY, "ES256")),
        (EC_PUBLIC_PEM, sign(claims(), RSA_KEY, "RS256")),
        (RSA_PUBLIC_PEM, unsigned_token(claims(role="admin"))),
    ],
    ids=["hs256-rsa-pem", "hs256-ec-pem", "other-rsa-key", "es256-vs-rsa", "rs256-vs-ec", "none"],
)
def test_asymmetric_attacks_are_rejected(tmp_path: Path, public_pem: str, token: str) -> None:
    rejected(authority(tmp_path, jwt_public_key=public_pem), token)


def test_issuer_and_audience_are_required_when_configured(tmp_path: Path) -> None:
    iss, aud = "https://idp.example", "perfpilot"
    tokens = authority(tmp_path, jwt_issuer=iss, jwt_audience=aud)
    minted = tokens.mint(role=Role.viewer, subject="carol", ttl_seconds=60)
    assert tokens.verify(minted).subject == "carol"
    assert tokens.verify(sign(claims(iss=iss, aud=[aud, "other"]), SECRET, "HS256"))
    for bad in (
        claims(aud=aud),
        claims(iss=iss),
        claims(iss="https://evil.example", aud=aud),
        claims(iss=iss, aud="someone-else"),
    ):
        rejected(tokens, sign(bad, SECRET, "HS256"))


def test_check_role_orders_viewer_operator_admin() -> None:
    admin = Principal(subject="a", role=Role.admin)
    viewer = Principal(subject="v", role=Role.viewer)
    for required in Role:
        check_role(admin, required)
    check_role(viewer, Role.viewer)
    with pytest.raises(Forbidden) as caught:
        check_role(viewer, Role.operator)
    assert caught.value.status_code == 403
    assert "operator" in caught.value.message


def test_configured_secret_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=SECRET)
    assert load_or_create_secret(settings) == (SECRET, False)
    assert not (tmp_path / "data").exists()


def test_generated_secret_is_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", jwt_secret=None)
    secret, generated = load_or_create_secret(settings)
    assert generated is True
    assert len(secret) >= 32
    path = tmp_path / "data" / "jwt_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == secret
    assert load_or_create_secret(settings) == (secret, True)
    # a token minted with it survives a restart (a new authority reading the same file)
    first = TokenAuthority(settings, secret=secret).mint(
        role=Role.admin, subject="a", ttl_seconds=60
    )
    again, _ = load_or_create_secret(settings)
    assert TokenAuthority(settings, secret=again).verify(first).role is Role.admin
