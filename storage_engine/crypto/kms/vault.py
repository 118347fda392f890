"""The Vault KMS: Vault/OpenBao's transit secrets engine over its HTTP API (aiohttp).

Per data key one ``POST /v1/<transit>/datakey/plaintext/<key>`` (``bits`` 256): Vault makes the key and
returns it with its wrapped form ``vault:v<N>:...``, which the envelope keeps. A read asks
``/decrypt/<key>``; the admin re-wrap asks ``/rewrap/<key>`` (the newest key version; the data key never
leaves Vault on that path). No ``associated_data``: the seal's AAD binds bucket, key and context.

Log-in (``kms_vault_auth``): a token (``kms_vault_token``, or ``kms_vault_token_file``, read again when
Vault refuses the token), AppRole (``auth/<mount>/login`` with role id and secret id) or Kubernetes
(``auth/<mount>/login`` with the ServiceAccount JWT, read from its file at every login). A token with a
TTL is renewed at half of it (``auth/token/renew-self``), or a new login made where renewal is not
possible or no longer extends it. A 403 makes us ask ``auth/token/lookup-self`` whether the token is
still good: if not, one new login (or a re-read token file) and one retry; if it is, the policy refused:
KmsDenied.

Connection errors, timeouts (``kms_timeout_seconds`` per request), 5xx and 429 are retried with
exponential backoff from 0.1 s, ``kms_retries`` attempts in all, then KmsUnavailable. Vault's 400
"encryption key not found" is KmsKeyNotFound; another 400 on decrypt/rewrap is KmsInvalidCiphertext.
Tokens, secret ids, JWTs and keys are never logged nor put in an error.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from storage_engine.crypto.kms import (
    DataKey, KmsDenied, KmsError, KmsInvalidCiphertext, KmsKeyNotFound, KmsUnavailable,
)

if TYPE_CHECKING:
    from storage_engine.config import EngineSettings

log = logging.getLogger(__name__)

DATA_KEY_BITS = 256
BACKOFF_SECONDS = 0.1
_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_KEY_MISSING = ("encryption key not found", "no such key", "key not found")
_RETRYABLE = {429}
_VERSION = re.compile(rb"^vault:v(\d+):")


class VaultKms:
    backend = "vault"

    def __init__(self, settings: EngineSettings) -> None:
        self.default_key_id = settings.kms_default_key_id
        self._settings = settings
        self._address = settings.kms_vault_address
        self._transit = settings.kms_vault_transit_mount
        self._auth = settings.kms_vault_auth
        self._auth_mount = settings.kms_vault_auth_mount or settings.kms_vault_auth
        self._retries = settings.kms_retries
        self._timeout = aiohttp.ClientTimeout(total=settings.kms_timeout_seconds)
        self._ssl: ssl.SSLContext | bool = True
        if settings.kms_vault_ca_file:
            try:
                self._ssl = ssl.create_default_context(cafile=settings.kms_vault_ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise KmsError(f"cannot load kms_vault_ca_file {settings.kms_vault_ca_file}: "
                               f"{exc.__class__.__name__}") from None
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._renew_at: float | None = None   # monotonic time to renew (or log in again); None: never
        self._login_ttl = 0.0
        self._renewable = False
        self._login_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"VaultKms(address={self._address!r}, auth={self._auth!r}, key={self.default_key_id!r})"

    # --- the Kms protocol -------------------------------------------------------------------------------
    async def generate_data_key(self, key_id: str) -> DataKey:
        data = await self._transit_call("datakey/plaintext", key_id, {"bits": DATA_KEY_BITS})
        try:
            plaintext = base64.b64decode(data["plaintext"], validate=True)
            wrapped = str(data["ciphertext"]).encode("ascii")
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise KmsError(f"Vault's data key for {key_id!r} is malformed") from None
        if len(plaintext) != DATA_KEY_BITS // 8:
            raise KmsError(f"Vault's data key for {key_id!r} is {len(plaintext)} bytes, not {DATA_KEY_BITS // 8}")
        return DataKey(plaintext, wrapped)

    async def decrypt(self, key_id: str, wrapped: bytes) -> bytes:
        data = await self._transit_call("decrypt", key_id, {"ciphertext": _ciphertext(wrapped)})
        try:
            plaintext = base64.b64decode(data["plaintext"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise KmsError(f"Vault's decrypted data key for {key_id!r} is malformed") from None
        if len(plaintext) != DATA_KEY_BITS // 8:
            raise KmsInvalidCiphertext(f"the wrapped data key under {key_id!r} is not a data key")
        return plaintext

    async def rewrap(self, key_id: str, wrapped: bytes) -> bytes:
        """Under the newest key version; ``wrapped`` itself when it already is (no needless rewrite)."""
        text = _ciphertext(wrapped)
        data = await self._transit_call("rewrap", key_id, {"ciphertext": text})
        try:
            rewrapped = str(data["ciphertext"]).encode("ascii")
        except (KeyError, UnicodeEncodeError):
            raise KmsError(f"Vault's re-wrapped data key for {key_id!r} is malformed") from None
        if _key_version(rewrapped) == _key_version(wrapped):
            return wrapped
        return rewrapped

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- transit ----------------------------------------------------------------------------------------
    async def _transit_call(self, op: str, key_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if not _KEY_NAME.match(key_id):
            raise KmsKeyNotFound(f"{key_id!r} is not a Vault transit key name")
        path = f"{self._transit}/{op}/{key_id}"
        token = await self._current_token()
        status, payload = await self._request("POST", path, body, token)
        if status == 403 and await self._token_refused(token):
            token = await self._login_again(token)
            status, payload = await self._request("POST", path, body, token)
        if status == 200:
            data = payload.get("data")
            if isinstance(data, dict):
                return data
            raise KmsError(f"Vault's answer to {op} for {key_id!r} has no data")
        message = _errors(payload)
        if status == 403:
            raise KmsDenied(f"The KMS denied the request for key {key_id}")
        if status in (400, 404) and any(m in message.lower() for m in _KEY_MISSING):
            raise KmsKeyNotFound(f"Vault has no transit key {key_id!r}")
        if status == 400 and op in ("decrypt", "rewrap"):
            raise KmsInvalidCiphertext(f"Vault cannot open the data key wrapped under {key_id!r}: {message}")
        raise KmsError(f"Vault answered {status} to {op} for {key_id!r}: {message}")

    # --- tokens -----------------------------------------------------------------------------------------
    async def _current_token(self) -> str:
        token = self._token
        if token is not None and (self._renew_at is None or time.monotonic() < self._renew_at):
            return token
        async with self._login_lock:
            if self._token is None:
                await self._login()
            elif self._renew_at is not None and time.monotonic() >= self._renew_at:
                await self._renew_or_login()
            assert self._token is not None
            return self._token

    async def _login_again(self, refused: str) -> str:
        """A new login after Vault refused ``refused`` (once for all requests that saw it refused)."""
        async with self._login_lock:
            if self._token == refused:
                self._token = None
                await self._login()
            assert self._token is not None
            return self._token

    async def _token_refused(self, token: str) -> bool:
        status, _ = await self._request("GET", "auth/token/lookup-self", None, token)
        return status == 403

    async def _renew_or_login(self) -> None:
        if self._renewable and self._token is not None:
            status, payload = await self._request("POST", "auth/token/renew-self", {}, self._token)
            auth = payload.get("auth") if status == 200 else None
            if isinstance(auth, dict):
                ttl = float(auth.get("lease_duration") or 0)
                # A token at its max TTL renews for less each time: log in afresh where we can.
                if self._auth == "token" or ttl >= self._login_ttl / 2:
                    self._schedule(ttl, bool(auth.get("renewable")), keep_login_ttl=True)
                    return
            log.info("Vault KMS: renewing the token failed or no longer extends it (HTTP %s); logging in again",
                     status)
        await self._login()

    async def _login(self) -> None:
        if self._auth == "token":
            token = self._static_token()
            status, payload = await self._request("GET", "auth/token/lookup-self", None, token)
            if status != 200:
                raise KmsDenied(f"Vault refused the configured token (HTTP {status})")
            data = payload.get("data") or {}
            self._token = token
            self._schedule(float(data.get("ttl") or 0), bool(data.get("renewable")))
            return
        if self._auth == "approle":
            body: dict[str, Any] = {"role_id": self._settings.kms_vault_approle_role_id,
                                    "secret_id": self._settings.kms_vault_approle_secret_id.get_secret_value()}
        else:
            body = {"role": self._settings.kms_vault_kubernetes_role, "jwt": self._jwt()}
        path = f"auth/{self._auth_mount}/login"
        status, payload = await self._request("POST", path, body, None)
        auth = payload.get("auth") if status == 200 else None
        if not isinstance(auth, dict) or not auth.get("client_token"):
            raise KmsDenied(f"Vault refused the {self._auth} login at {path} (HTTP {status}: {_errors(payload)})")
        self._token = str(auth["client_token"])
        self._schedule(float(auth.get("lease_duration") or 0), bool(auth.get("renewable")))
        log.info("Vault KMS: logged in with %s at %s (token TTL %ss)", self._auth, path, auth.get("lease_duration"))

    def _schedule(self, ttl: float, renewable: bool, *, keep_login_ttl: bool = False) -> None:
        self._renewable = renewable
        if not keep_login_ttl:
            self._login_ttl = ttl
        self._renew_at = time.monotonic() + ttl / 2 if ttl > 0 else None

    def _static_token(self) -> str:
        s = self._settings
        if s.kms_vault_token.get_secret_value():
            return s.kms_vault_token.get_secret_value()
        try:
            token = Path(s.kms_vault_token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise KmsUnavailable(f"cannot read kms_vault_token_file {s.kms_vault_token_file}: "
                                 f"{exc.__class__.__name__}") from None
        if not token:
            raise KmsUnavailable(f"kms_vault_token_file {s.kms_vault_token_file} is empty")
        return token

    def _jwt(self) -> str:
        path = self._settings.kms_vault_kubernetes_jwt_file
        try:
            jwt = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise KmsUnavailable(f"cannot read the ServiceAccount token {path}: {exc.__class__.__name__}") from None
        if not jwt:
            raise KmsUnavailable(f"the ServiceAccount token {path} is empty")
        return jwt

    # --- HTTP -------------------------------------------------------------------------------------------
    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(ssl=self._ssl), raise_for_status=False)
        return self._session

    async def _request(self, method: str, path: str, body: dict[str, Any] | None,
                       token: str | None) -> tuple[int, dict[str, Any]]:
        """``(status, JSON body)`` of one Vault request, with bounded retries; KmsUnavailable after them."""
        url = f"{self._address}/v1/{path}"
        headers = {"X-Vault-Token": token} if token else {}
        failure = ""
        for attempt in range(self._retries):
            if attempt:
                await asyncio.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
            try:
                async with self._client().request(method, url, json=body, headers=headers) as resp:
                    raw = await resp.read()
                    if resp.status < 500 and resp.status not in _RETRYABLE:
                        return resp.status, _json(raw)
                    failure = f"HTTP {resp.status} {_errors(_json(raw))}".strip()
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure = exc.__class__.__name__ if isinstance(exc, TimeoutError) else f"{exc.__class__.__name__}: {exc}"
            log.warning("Vault KMS: %s %s failed (attempt %d of %d): %s", method, path, attempt + 1, self._retries,
                        failure)
        raise KmsUnavailable(f"The KMS is unavailable: Vault at {self._address} ({failure}, "
                             f"{self._retries} attempts)")


def _ciphertext(wrapped: bytes) -> str:
    try:
        text = wrapped.decode("ascii")
    except UnicodeDecodeError:
        raise KmsInvalidCiphertext("a data key wrapped by Vault is 'vault:v<N>:...' text") from None
    if not text.startswith("vault:v"):
        raise KmsInvalidCiphertext("a data key wrapped by Vault is 'vault:v<N>:...' text")
    return text


def _key_version(wrapped: bytes) -> int | None:
    """N of ``vault:vN:...``."""
    m = _VERSION.match(wrapped)
    return int(m.group(1)) if m else None


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _errors(payload: dict[str, Any]) -> str:
    errors = payload.get("errors")
    if not isinstance(errors, list):
        return ""
    return "; ".join(" ".join(str(e).split()) for e in errors)[:300]
