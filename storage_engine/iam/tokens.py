"""Stateless STS session credentials (docs/iam.md, "Session tokens").

Nothing is stored per session: the session token carries the principal, MAC'd under a key derived from a
keyring key (its id in the token), and the secret key is derived from the same keyring key and the access
key. Any node holding the keyring verifies a token and re-derives the secret::

    token  = base64url(msgpack([version, key id, payload, HMAC-SHA256(mac key, key id || payload)]))
    payload = msgpack({"ak": access key, "exp": epoch seconds, "u": user, "g": groups, "p": policy names,
                       "sp": session policy, "pa": parent user, "r": role, "s": session name})
    mac key = HMAC-SHA256(keyring key, "sts-token"); secret = base64(HMAC(keyring key, "sts-secret" + ak))[:40]

STS access keys start with ``ASIA`` (as AWS's temporary keys do), so a request signed with one but without
its token is told ``InvalidToken`` rather than ``InvalidAccessKeyId``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import msgpack

from storage_engine.errors import ExpiredToken, InvalidToken
from storage_engine.iam.principal import Principal

__all__ = ["STS_PREFIX", "SessionCredentials", "is_session_key", "make_session", "new_access_key",
           "new_secret_key", "open_session", "session_secret"]

STS_PREFIX = "ASIA"
USER_PREFIX = "AKIA"
TOKEN_VERSION = 1
MAX_TOKEN_BYTES = 16 * 1024
_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@dataclass(frozen=True, slots=True)
class SessionCredentials:
    access_key: str
    secret_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: float                 # epoch seconds


def new_access_key(prefix: str = USER_PREFIX) -> str:
    """20 characters of ``[A-Z0-9]``: the prefix, then random."""
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(20 - len(prefix)))


def new_secret_key() -> str:
    """40 random characters of base64's alphabet (as AWS's secrets)."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def is_session_key(access_key: str) -> bool:
    return access_key.startswith(STS_PREFIX) and len(access_key) == 20


def session_secret(keyring_key: bytes, access_key: str) -> str:
    digest = hmac.new(keyring_key, b"sts-secret" + access_key.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()[:40]


def _mac_key(keyring_key: bytes) -> bytes:
    return hmac.new(keyring_key, b"sts-token", hashlib.sha256).digest()


def _pack(value: object) -> bytes:
    return cast(bytes, msgpack.packb(value, use_bin_type=True))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_session(key_id: str, keyring_key: bytes, principal: Principal, duration_seconds: int,
                 *, now: float | None = None) -> tuple[SessionCredentials, Principal]:
    """New session credentials for ``principal`` (kind sts), valid ``duration_seconds`` from now."""
    now = time.time() if now is None else now
    access_key = new_access_key(STS_PREFIX)
    expires = float(int(now) + duration_seconds)
    payload: dict[str, Any] = {"ak": access_key, "exp": expires, "u": principal.user, "g": list(principal.groups),
                               "p": list(principal.policy_names), "sp": principal.session_policy,
                               "pa": principal.parent, "r": principal.role, "s": principal.session_name,
                               "c": [[name, list(values)] for name, values in principal.claims]}
    packed = _pack(payload)
    mac = hmac.new(_mac_key(keyring_key), key_id.encode() + packed, hashlib.sha256).digest()
    token = _b64(_pack([TOKEN_VERSION, key_id, packed, mac]))
    session = Principal("sts", access_key, principal.user, groups=principal.groups,
                        policy_names=principal.policy_names, session_policy=principal.session_policy,
                        parent=principal.parent, expires=expires, role=principal.role,
                        session_name=principal.session_name, claims=principal.claims)
    return SessionCredentials(access_key, session_secret(keyring_key, access_key), token, expires), session


KeyringLookup = Callable[[str], Awaitable[bytes | None]]


async def open_session(token: str, access_key: str, keyring_key: KeyringLookup,
                       *, now: float | None = None) -> tuple[Principal, str]:
    """(principal, secret key) of a session token presented with ``access_key``.

    InvalidToken: malformed, a wrong MAC, an unknown keyring key, another access key's token;
    ExpiredToken: past its expiry."""
    if not token or len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken()
    try:
        version, key_id, packed, mac = msgpack.unpackb(_unb64(token), raw=False)
        if version != TOKEN_VERSION or not isinstance(key_id, str) or not isinstance(packed, bytes) \
                or not isinstance(mac, bytes):
            raise ValueError("token layout")
    except Exception:
        raise InvalidToken() from None
    key = await keyring_key(key_id)
    if key is None:
        raise InvalidToken()
    expected = hmac.new(_mac_key(key), key_id.encode() + packed, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, mac):
        raise InvalidToken()
    try:
        payload = msgpack.unpackb(packed, raw=False)
        if payload["ak"] != access_key:
            raise InvalidToken()
        expires = float(payload["exp"])
        principal = Principal("sts", access_key, str(payload["u"]), groups=tuple(payload["g"]),
                              policy_names=tuple(payload["p"]), session_policy=payload["sp"],
                              parent=str(payload["pa"]), expires=expires, role=str(payload["r"]),
                              session_name=str(payload["s"]),
                              claims=tuple((str(name), tuple(values)) for name, values in payload.get("c", ())))
    except InvalidToken:
        raise
    except Exception:
        raise InvalidToken() from None
    if (time.time() if now is None else now) >= expires:
        raise ExpiredToken()
    return principal, session_secret(key, access_key)
