"""Stateless session tokens (iam/tokens.py): what they carry, and every way a token is refused."""

from __future__ import annotations

import asyncio
import os

import pytest

from storage_engine.errors import ExpiredToken, InvalidToken
from storage_engine.iam import tokens
from storage_engine.iam.principal import Principal

KEY = os.urandom(32)
OTHER = os.urandom(32)


async def keyring(key_id: str) -> bytes | None:
    return {"k1": KEY, "k2": OTHER}.get(key_id)


def open_session(token: str, access_key: str, now: float | None = None) -> tuple[Principal, str]:
    return asyncio.run(tokens.open_session(token, access_key, keyring, now=now))


PRINCIPAL = Principal("sts", "", "alice", groups=("g1",), policy_names=("readonly",), session_policy='{"x":1}',
                      role="web-identity", session_name="s1", claims=(("jwt:sub", ("alice",)),))


def test_a_token_round_trips_its_principal_and_secret() -> None:
    creds, principal = tokens.make_session("k1", KEY, PRINCIPAL, 900, now=1000.0)
    assert creds.expiration == 1900.0 and principal.expires == 1900.0
    assert tokens.is_session_key(creds.access_key) and not tokens.is_session_key(tokens.new_access_key())
    assert creds.secret_key not in repr(creds) and creds.session_token not in repr(creds)
    opened, secret = open_session(creds.session_token, creds.access_key, now=1899.0)
    assert secret == creds.secret_key
    assert opened == principal and opened.access_key == creds.access_key
    assert opened.claims == (("jwt:sub", ("alice",)),) and opened.session_policy == '{"x":1}'


def test_refused_tokens() -> None:
    creds, _ = tokens.make_session("k1", KEY, PRINCIPAL, 900, now=1000.0)
    token = creds.session_token
    with pytest.raises(ExpiredToken):
        open_session(token, creds.access_key, now=1900.0)
    with pytest.raises(InvalidToken):                  # another session's access key
        open_session(token, tokens.new_access_key(tokens.STS_PREFIX), now=1000.0)
    forged, _ = tokens.make_session("k1", os.urandom(32), PRINCIPAL, 900, now=1000.0)
    with pytest.raises(InvalidToken):                  # MAC'd under a key the keyring does not have
        open_session(forged.session_token, forged.access_key, now=1000.0)
    unknown, _ = tokens.make_session("k9", KEY, PRINCIPAL, 900, now=1000.0)
    with pytest.raises(InvalidToken):
        open_session(unknown.session_token, unknown.access_key, now=1000.0)
    for bad in ("", "!!!", "AAAA", token[:40], token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
                "A" * (tokens.MAX_TOKEN_BYTES + 1)):
        with pytest.raises(InvalidToken):
            open_session(bad, creds.access_key, now=1000.0)
