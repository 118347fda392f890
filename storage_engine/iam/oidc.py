"""OpenID Connect token verification: discovery, a cached JWKS, and the checks on one token.

    provider = OidcProvider("https://idp.example.org", client_id="rustfs")
    claims = await provider.verify(token)          # OidcTokenError(reason) when the token is refused
    await provider.close()

Discovery (``<issuer>/.well-known/openid-configuration``) gives the ``jwks_uri``; its ``issuer`` must be
the configured one exactly (OpenID Connect Discovery 4.3). The JWKS is held by ``kid``; a token whose
``kid`` is not in it makes one refetch (at most every ``refetch_interval`` seconds, so a flood of forged
kids costs the provider one request per interval), which is how a key rotation is picked up. Keys are
never evicted between refetches: a refetched JWKS replaces the whole set.

Checked on every token: the signature with a key of the JWKS and an algorithm of ``algorithms`` (RS256 and
ES256 by default; ``none`` and HMAC never, whatever the header says), ``iss`` equal to the issuer, ``aud``
containing the client id, ``exp`` (required) and ``nbf``/``iat`` with ``leeway`` seconds of clock skew.

Errors::

    OidcTokenError          the token is refused; ``reason`` says why (never includes the token)
      OidcUnavailable       the provider could not be reached or answered nonsense (discovery, JWKS)
      OidcTokenExpired      the token's exp has passed
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import jwt
from jwt.exceptions import PyJWKError, PyJWTError

__all__ = ["OidcProvider", "OidcTokenError", "OidcTokenExpired", "OidcUnavailable"]

DEFAULT_ALGORITHMS = ("RS256", "ES256")
# The key types each accepted algorithm needs: a JWKS key of another type never verifies that algorithm.
_KEY_TYPES = {"RS256": "RSA", "RS384": "RSA", "RS512": "RSA", "PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
              "ES256": "EC", "ES384": "EC", "ES512": "EC", "EdDSA": "OKP"}


class OidcTokenError(Exception):
    """The token is refused. ``reason`` is a short, loggable explanation (the token is never in it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OidcUnavailable(OidcTokenError):
    """The provider's discovery document or JWKS could not be fetched or parsed."""


class OidcTokenExpired(OidcTokenError):
    """The token's ``exp`` has passed (beyond the leeway): STS answers ExpiredTokenException for it."""


class OidcProvider:
    def __init__(self, issuer: str, client_id: str, *, algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
                 leeway: float = 10.0, refetch_interval: float = 5.0, timeout: float = 10.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        """``issuer``: exactly the ``iss`` of the tokens (no trailing slash added or removed).
        ``client_id``: the audience the tokens must carry. ``algorithms``: the accepted JWS algorithms
        (asymmetric only). ``leeway``: seconds of clock skew allowed on exp/nbf/iat. ``refetch_interval``:
        the least seconds between two JWKS fetches. ``session``: an aiohttp session to use (not closed by
        ``close()``); by default one of its own."""
        unknown = [a for a in algorithms if a not in _KEY_TYPES]
        if unknown or not algorithms:
            raise ValueError(f"algorithms: only asymmetric JWS algorithms are accepted, not {unknown or 'none'}")
        self.issuer = issuer
        self.client_id = client_id
        self.algorithms = tuple(algorithms)
        self.leeway = leeway
        self.refetch_interval = refetch_interval
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._own_session = session is None
        self._jwks_uri: str | None = None
        self._keys: dict[str | None, tuple[str, str | None, jwt.PyJWK]] = {}   # kid -> (kty, its alg if given, key)
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    # --- fetching -----------------------------------------------------------------------------------
    async def _get_json(self, url: str) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.get(url, timeout=self._timeout, allow_redirects=False) as resp:
                if resp.status != 200:
                    raise OidcUnavailable(f"{url} answered HTTP {resp.status}")
                return json.loads(await resp.read())
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            raise OidcUnavailable(f"{url} unreachable: {type(e).__name__}: {e}") from None
        except ValueError:
            raise OidcUnavailable(f"{url} answered something that is not JSON") from None

    async def discover(self) -> dict[str, Any]:
        """The provider's discovery document (fetched each call); its issuer must be ours."""
        doc = await self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        if not isinstance(doc, dict) or not isinstance(doc.get("jwks_uri"), str):
            raise OidcUnavailable("the discovery document has no jwks_uri")
        if doc.get("issuer") != self.issuer:
            raise OidcUnavailable(f"the discovery document's issuer {doc.get('issuer')!r} is not {self.issuer!r}")
        return doc

    async def refresh_keys(self) -> None:
        """Fetch the JWKS now (discovering the provider first if needed) and replace the cached keys."""
        jwks_uri = self._jwks_uri
        if jwks_uri is None:
            jwks_uri = self._jwks_uri = str((await self.discover())["jwks_uri"])
        self._fetched_at = time.monotonic()
        doc = await self._get_json(jwks_uri)
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise OidcUnavailable("the JWKS has no keys list")
        keys: dict[str | None, tuple[str, str | None, jwt.PyJWK]] = {}
        for entry in doc["keys"]:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or entry.get("kty") == "oct":
                continue                        # encryption keys, and never a shared secret from a URL
            try:
                key = jwt.PyJWK(entry)
            except (PyJWKError, PyJWTError):
                continue                        # a key type or curve we cannot use: skip it, like MinIO
            alg = entry.get("alg")
            keys[entry.get("kid")] = (str(entry["kty"]), alg if isinstance(alg, str) else None, key)
        self._keys = keys

    async def _key_for(self, kid: str | None) -> tuple[str, str | None, jwt.PyJWK]:
        async with self._lock:
            if self._fetched_at is None:
                await self.refresh_keys()
            key = self._find(kid)
            if key is None and time.monotonic() - (self._fetched_at or 0.0) >= self.refetch_interval:
                await self.refresh_keys()       # an unknown kid: maybe the provider rotated its keys
                key = self._find(kid)
        if key is None:
            raise OidcTokenError(f"no key {kid!r} in the provider's JWKS")
        return key

    def _find(self, kid: str | None) -> tuple[str, str | None, jwt.PyJWK] | None:
        if kid is None:
            # No kid: only unambiguous with a single key (the JWS spec leaves the choice to the verifier).
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    # --- verifying ----------------------------------------------------------------------------------
    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, once the signature, iss, aud, exp and nbf are checked."""
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError as e:
            raise OidcTokenError(f"not a JWT: {e}") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise OidcTokenError(f"algorithm {alg!r} is not accepted (only {', '.join(self.algorithms)})")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise OidcTokenError("the kid is not a string")
        kty, key_alg, key = await self._key_for(kid)
        if kty != _KEY_TYPES[alg] or key_alg not in (alg, None):
            raise OidcTokenError(f"key {kid!r} ({kty} {key_alg or ''}) cannot verify {alg}")
        try:
            claims = jwt.decode(
                token, key.key, algorithms=[alg], audience=self.client_id, issuer=self.issuer,
                leeway=self.leeway, options={"require": ["exp", "iss", "aud"]})
        except jwt.InvalidAudienceError:
            raise OidcTokenError(f"the token's audience is not {self.client_id!r}") from None
        except jwt.InvalidIssuerError:
            raise OidcTokenError(f"the token's issuer is not {self.issuer!r}") from None
        except jwt.ExpiredSignatureError:
            raise OidcTokenExpired("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise OidcTokenError("the token is not valid yet (nbf/iat in the future)") from None
        except jwt.InvalidSignatureError:
            raise OidcTokenError(f"the signature does not verify with key {kid!r}") from None
        except PyJWTError as e:
            raise OidcTokenError(f"invalid token: {e}") from None
        return claims
