"""storage_engine.iam.oidc against a real OpenID provider (npm oidc-provider, tests/oidc_server.py)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import jwt
import pytest

from oidc_server import OidcServer, new_rsa_jwk
from storage_engine.iam.oidc import OidcProvider, OidcTokenError, OidcUnavailable

T = TypeVar("T")


def with_provider(server: OidcServer, use: Callable[[OidcProvider], Awaitable[T]], **options: Any) -> T:
    async def main() -> T:
        provider = OidcProvider(server.issuer, server.client_id, **options)
        try:
            return await use(provider)
        finally:
            await provider.close()
    return asyncio.run(main())


def verify(server: OidcServer, token: str, **options: Any) -> dict[str, Any]:
    return with_provider(server, lambda p: p.verify(token), **options)


def claims(server: OidcServer, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": server.issuer, "aud": server.client_id, "sub": "alice", "iat": now, "exp": now + 300} | overrides


def refused(server: OidcServer, token: str, reason: str) -> None:
    with pytest.raises(OidcTokenError, match=reason):
        verify(server, token)


def test_a_token_from_the_provider_verifies_with_its_claims(oidc_server: OidcServer) -> None:
    token = oidc_server.token()
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    got = verify(oidc_server, token)
    assert got["iss"] == oidc_server.issuer and got["aud"] == oidc_server.client_id
    assert got["sub"] == "alice" and got["groups"] == ["readers"] and got["exp"] > time.time()


def test_wrong_audience(oidc_server: OidcServer) -> None:
    refused(oidc_server, oidc_server.token(audience="another-client"), "audience")


def test_expired(oidc_server: OidcServer) -> None:
    past = int(time.time()) - 3600
    refused(oidc_server, oidc_server.sign(claims(oidc_server, iat=past - 300, exp=past)), "expired")


def test_not_yet_valid(oidc_server: OidcServer) -> None:
    refused(oidc_server, oidc_server.sign(claims(oidc_server, nbf=int(time.time()) + 3600)), "not valid yet")


def test_no_expiry(oidc_server: OidcServer) -> None:
    token = oidc_server.sign({k: v for k, v in claims(oidc_server).items() if k != "exp"})
    refused(oidc_server, token, "exp")


def test_wrong_issuer(oidc_server: OidcServer) -> None:
    refused(oidc_server, oidc_server.sign(claims(oidc_server, iss="http://127.0.0.1:1")), "issuer")


def test_signed_by_another_key_with_a_known_kid(oidc_server: OidcServer) -> None:
    forged = new_rsa_jwk(oidc_server.keys[0]["kid"])
    refused(oidc_server, oidc_server.sign(claims(oidc_server), key=forged), "signature")


def test_signed_by_an_unknown_key(oidc_server: OidcServer) -> None:
    refused(oidc_server, oidc_server.sign(claims(oidc_server), key=new_rsa_jwk("not-theirs")), "no key")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_alg_none(oidc_server: OidcServer) -> None:
    header = {"alg": "none", "kid": oidc_server.keys[0]["kid"]}
    token = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims(oidc_server)).encode())}."
    refused(oidc_server, token, "algorithm 'none'")


def test_hs256_with_the_public_key_as_secret(oidc_server: OidcServer) -> None:
    # The classic confusion: HMAC "signed" with the RSA public key the JWKS publishes.
    public = json.dumps({k: oidc_server.keys[0][k] for k in ("kty", "n", "e")}).encode()
    header = {"alg": "HS256", "kid": oidc_server.keys[0]["kid"]}
    signed = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims(oidc_server)).encode())}"
    token = f"{signed}.{_b64(hmac.new(public, signed.encode(), hashlib.sha256).digest())}"
    refused(oidc_server, token, "algorithm 'HS256'")


def test_tampered_payload(oidc_server: OidcServer) -> None:
    header, payload, signature = oidc_server.token().split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["groups"] = ["admins"]
    refused(oidc_server, f"{header}.{_b64(json.dumps(body).encode())}.{signature}", "signature")


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c"])
def test_garbage(oidc_server: OidcServer, token: str) -> None:
    refused(oidc_server, token, "not a JWT")


def test_key_rotation_is_picked_up_by_a_refetch(oidc_server: OidcServer) -> None:
    async def use(provider: OidcProvider) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        before = await provider.verify(oidc_server.token())          # JWKS fetched and cached
        old_kid = oidc_server.keys[0]["kid"]
        new_kid = await asyncio.to_thread(oidc_server.rotate)
        token = oidc_server.token()
        assert jwt.get_unverified_header(token)["kid"] == new_kid != old_kid
        after = await provider.verify(token)                          # unknown kid -> one refetch
        old = await provider.verify(oidc_server.sign(claims(oidc_server), key=oidc_server.keys[1]))
        return before, after, old
    before, after, old = with_provider(oidc_server, use, refetch_interval=0)
    assert before["sub"] == after["sub"] == old["sub"] == "alice"


def test_unknown_kids_refetch_at_most_once_per_interval(oidc_server: OidcServer) -> None:
    async def use(provider: OidcProvider) -> str:
        await provider.verify(oidc_server.token())
        new_kid = await asyncio.to_thread(oidc_server.rotate)
        with pytest.raises(OidcTokenError, match="no key"):            # fetched under a second ago
            await provider.verify(oidc_server.token())
        return new_kid
    with_provider(oidc_server, use, refetch_interval=3600)


def test_provider_unreachable(oidc_server: OidcServer) -> None:
    async def use(provider: OidcProvider) -> None:
        with pytest.raises(OidcUnavailable, match="unreachable"):
            await provider.verify(oidc_server.sign(claims(oidc_server)))
    asyncio.run(_closing(OidcProvider("http://127.0.0.1:1", oidc_server.client_id, timeout=2), use))


async def _closing(provider: OidcProvider, use: Callable[[OidcProvider], Awaitable[None]]) -> None:
    try:
        await use(provider)
    finally:
        await provider.close()


def test_discovery_of_another_issuer_is_refused(oidc_server: OidcServer) -> None:
    async def use(provider: OidcProvider) -> None:
        with pytest.raises(OidcUnavailable, match="issuer"):
            await provider.verify(oidc_server.token())
    asyncio.run(_closing(OidcProvider(oidc_server.issuer + "/", oidc_server.client_id), use))


def test_only_asymmetric_algorithms_can_be_configured() -> None:
    with pytest.raises(ValueError, match="algorithms"):
        OidcProvider("http://127.0.0.1:1", "c", algorithms=["HS256"])
