"""Authentication of the node-to-node API: an HMAC over each request, keyed with the internode secret.

    headers = sign(secret, "POST", "/rustfs/rpc/v1/drive/read_file", "")
    verify(secret, "POST", path, query, request.headers)   # -> bool

The MAC covers ``"<METHOD>\\n<path>\\n<query>\\n<unix seconds>"`` (path and query exactly as sent), so a
captured request can be replayed only to the same operation and only within ``MAX_SKEW_SECONDS``. S3
credentials never authenticate here: the scheme and the key are both different.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from storage_engine.config import EngineSettings
from storage_engine.http.types import Headers

TIME_HEADER = "x-rustfs-rpc-time"
SCHEME = "rustfs-rpc"
MAX_SKEW_SECONDS = 300
_DERIVATION_LABEL = "rustfs-internode-v1|"


def internode_secret(settings: EngineSettings) -> bytes:
    """``RUSTFS_RPC_SECRET``, else HMAC-SHA256(secret_key, label + access_key).

    Raises ValueError when neither is set: a key derived from empty credentials is public.
    """
    explicit = settings.rpc_secret.get_secret_value()
    if explicit:
        return explicit.encode()
    secret_key = settings.secret_key.get_secret_value()
    if not secret_key:
        raise ValueError("the node-to-node API needs RUSTFS_RPC_SECRET or the root credentials")
    message = (_DERIVATION_LABEL + settings.access_key).encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).digest()


def _mac(secret: bytes, method: str, path: str, query: str, timestamp: str) -> str:
    message = f"{method}\n{path}\n{query}\n{timestamp}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign(secret: bytes, method: str, path: str, query: str, now: float | None = None) -> dict[str, str]:
    """The headers that authenticate one request."""
    timestamp = str(int(time.time() if now is None else now))
    return {TIME_HEADER: timestamp, "authorization": f"{SCHEME} {_mac(secret, method, path, query, timestamp)}"}


def verify(secret: bytes, method: str, path: str, query: str, headers: Headers) -> bool:
    """Whether the request carries a valid signature made within ``MAX_SKEW_SECONDS`` of now."""
    timestamp = headers.get(TIME_HEADER)
    authorization = headers.get("authorization")
    if not timestamp or not authorization or not (timestamp.isascii() and timestamp.isdigit()):
        return False
    if abs(time.time() - int(timestamp)) > MAX_SKEW_SECONDS:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme != SCHEME:
        return False
    expected = _mac(secret, method, path, query, timestamp).encode()
    return hmac.compare_digest(given.strip().encode("latin-1"), expected)   # headers are Latin-1
