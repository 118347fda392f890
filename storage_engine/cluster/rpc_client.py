"""The node-to-node API's client side: one pooled, authenticated connection set per peer.

    peers = Peers(settings)
    client = peers.get("http://10.0.0.2:9000")           # shared by all drives and services of that peer
    result = await client.call("drive", "read_file", {"drive": "/data0", "volume": v, "path": p})
    data = await client.fetch("drive", "read_at", {"handle": h, "offset": "0", "length": "4096"})
    upload = client.upload("drive", "create_shard", {...}); await upload.write(b); await upload.finish()
    await peers.close_all()

Every call is bounded by ``drive_timeout_seconds`` (connect: 3 s). A peer that cannot be reached, drops
the connection or does not answer in time raises ``DriveOffline``; an error the peer reports raises the
matching ``DriveError`` subclass.

TLS (docs/tls.md): ``https://`` peers are verified against ``<tls_path>/ca.crt`` (the system CAs when it is
absent), host name included. ``TrustStore`` rereads ``ca.crt`` at most every ``tls_reload_seconds`` and at
once after a failed verification, and builds a new client context when its content changed: new connections
use it, open ones keep theirs. A peer whose certificate does not verify is refused (``DriveOffline``) and
logged once per reason: ``refusing peer https://...: its certificate does not verify (...)``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import msgpack
from yarl import URL

from storage_engine.config import EngineSettings
from storage_engine.drives.base import (DriveError, DriveFull, DriveOffline, FileNotFound, VolumeNotEmpty,
                                        VolumeNotFound)

from .auth import internode_secret, sign
from .rpc_server import MSGPACK, RPC_PREFIX, pack

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.0
CA_FILE = "ca.crt"                  # in settings.tls_path: the CAs trusted for node-to-node traffic
MAX_CONNECTIONS = 256               # per peer: concurrent shard streams of many requests
_ERRORS: dict[str, type[DriveError]] = {
    cls.__name__: cls for cls in (DriveError, FileNotFound, VolumeNotFound, VolumeNotEmpty, DriveOffline, DriveFull)}
# Whatever breaks the transport, including a peer that stops answering, means the peer is unreachable.
_UNREACHABLE = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError, OSError)


def _peer_error(status: int, body: bytes) -> DriveError:
    """The exception for a non-200 answer."""
    if status == 401:
        return DriveError("the peer refused our signature (RUSTFS_RPC_SECRET or root credentials differ)")
    try:
        error = msgpack.unpackb(body, raw=False)
        return _ERRORS.get(error["error"], DriveError)(error["message"])
    except Exception:
        return DriveError(f"the peer answered {status}")


class TrustStore:
    """The client TLS context for https peers, rebuilt when ``<tls_path>/ca.crt`` changes.

    The file's content is compared (not its mtime: a rotated Secret volume swaps a ``..data`` symlink), at
    most every ``tls_reload_seconds``; ``refresh()`` checks at once. A ``ca.crt`` that cannot be loaded is
    logged and the previous context kept (none yet: a context that trusts nothing, so every peer is refused
    with a reason rather than trusted by accident).
    """

    __slots__ = ("_path", "_interval", "_context", "_digest", "_checked")

    def __init__(self, settings: EngineSettings) -> None:
        self._path = os.path.join(settings.tls_path, CA_FILE) if settings.tls_path else ""
        self._interval = settings.tls_reload_seconds
        self._context: ssl.SSLContext | None = None
        self._digest: bytes | None = None
        self._checked = 0.0

    def context(self) -> ssl.SSLContext:
        """The current context (checking ``ca.crt`` for a change when the last check is old enough)."""
        if self._context is None or time.monotonic() - self._checked >= self._interval:
            self.refresh()
        assert self._context is not None
        return self._context

    def refresh(self) -> bool:
        """Reread ``ca.crt`` now; True when a new context was built."""
        self._checked = time.monotonic()
        try:
            cadata: bytes | None = None
            if self._path:
                with open(self._path, "rb") as file:
                    cadata = file.read()
        except FileNotFoundError:
            cadata = None
        except OSError as exc:
            return self._keep(f"cannot read {self._path}: {exc}")
        digest = hashlib.sha256(cadata).digest() if cadata is not None else b""
        if self._context is not None and digest == self._digest:
            return False
        try:
            context = (ssl.create_default_context(cadata=cadata.decode("ascii")) if cadata is not None
                       else ssl.create_default_context())
        except (ssl.SSLError, ValueError, UnicodeDecodeError) as exc:
            self._digest = digest        # logged once per broken content
            return self._keep(f"{self._path} holds no usable CA certificate: {exc}")
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self._context is not None:
            log.info("node-to-node TLS: %s changed, new connections to peers trust the new CAs",
                     self._path or "the system CA store")
        self._context, self._digest = context, digest
        return True

    def _keep(self, reason: str) -> bool:
        if self._context is None:
            log.error("node-to-node TLS: %s; no peer certificate can be verified until it is fixed", reason)
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)   # verifies, trusts nothing
        else:
            log.error("node-to-node TLS: %s; keeping the CAs loaded before", reason)
        return False


def _tls_refusal(exc: BaseException) -> str | None:
    """Why the TLS handshake with a peer failed, or None when ``exc`` is not a TLS failure."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        error = exc.certificate_error
        reason = getattr(error, "verify_message", None) or getattr(error, "reason", None) or str(error)
        return f"its certificate does not verify ({reason})"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return f"the TLS handshake failed ({exc})"
    return None


class PeerClient:
    """Calls to one peer (``http://host:port``), over a keep-alive connection pool of its own."""

    def __init__(self, base_url: str, settings: EngineSettings, trust: TrustStore | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = internode_secret(settings)
        self.timeout = settings.drive_timeout_seconds
        self._trust = (trust or TrustStore(settings)) if self.base_url.startswith("https:") else None
        self._refused: str | None = None    # the TLS refusal last logged (logged again once it changes)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the running event loop.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, ssl=False if self._trust is None else True)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                                  skip_auto_headers=("User-Agent", "Content-Type"))
        return self._session

    def _request(self, service: str, method: str, query: dict[str, str] | None) -> tuple[URL, dict[str, str]]:
        path = f"{RPC_PREFIX}{service}/{method}"
        query_string = urlencode(query, quote_via=quote) if query else ""
        # Sent exactly as signed: yarl must not re-encode the path or the query.
        url = URL(f"{self.base_url}{path}" + (f"?{query_string}" if query_string else ""), encoded=True)
        return url, sign(self._secret, "POST", path, query_string)

    def _timeouts(self, timeout: float | None) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=timeout or self.timeout, sock_connect=CONNECT_TIMEOUT)

    async def call(self, service: str, method: str, args: dict[str, Any], *, timeout: float | None = None) -> Any:
        """A msgpack call: ``args`` in, the peer's result out."""
        url, headers = self._request(service, method, None)
        headers["content-type"] = MSGPACK
        data = await self._post(url, headers, pack(args), f"{service}/{method}", self._timeouts(timeout))
        return msgpack.unpackb(data, raw=False)

    async def fetch(self, service: str, method: str, query: dict[str, str], *,
                    timeout: float | None = None) -> bytes:
        """A streaming-style call whose arguments are the query and whose answer is raw bytes."""
        url, headers = self._request(service, method, query)
        return await self._post(url, headers, None, f"{service}/{method}", self._timeouts(timeout))

    async def _post(self, url: URL, headers: dict[str, str], body: Any, what: str,
                    timeout: aiohttp.ClientTimeout, *, retry: bool = True) -> bytes:
        """POST ``body`` (bytes, None or an async iterator, streamed); the answer's bytes, or why not."""
        # A new context (ca.crt changed) keys new pooled connections; open ones keep the context they have.
        ssl_context: ssl.SSLContext | bool = False if self._trust is None else self._trust.context()
        try:
            async with self.session().post(url, data=body, headers=headers, timeout=timeout,
                                           ssl=ssl_context) as response:
                data = await response.read()
                status = response.status
        except _UNREACHABLE as exc:
            if self._trust is None or (refusal := _tls_refusal(exc)) is None:
                raise DriveOffline(f"{self.base_url}: {what}: {exc!r}") from exc
            # Our CAs may be what changed (a rotated ca.crt not reread yet): a call whose body can be
            # sent again is tried once more with them.
            if self._trust.refresh() and retry and (body is None or isinstance(body, bytes)):
                return await self._post(url, headers, body, what, timeout, retry=False)
            if refusal != self._refused:
                log.warning("refusing peer %s: %s", self.base_url, refusal)
                self._refused = refusal
            raise DriveOffline(f"{self.base_url}: {what}: refused: {refusal}") from exc
        self._refused = None
        if status != 200:
            raise _peer_error(status, data)
        return data

    def upload(self, service: str, method: str, query: dict[str, str]) -> Upload:
        """Start a call whose body is streamed (chunked) as ``Upload.write`` is fed."""
        url, headers = self._request(service, method, query)
        return Upload(self, url, headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class Upload:
    """A request body sent as it is written, with backpressure; ``finish`` returns the peer's result.

    At most two pieces wait in memory; a write that finds no room within the drive timeout raises
    DriveOffline. The peer may answer before the body is complete (an error): then ``write`` stops
    accepting data and raises that error.
    """

    __slots__ = ("_client", "_queue", "_task", "_ended")

    def __init__(self, client: PeerClient, url: URL, headers: dict[str, str]) -> None:
        self._client = client
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=2)
        self._ended = False
        self._task = asyncio.ensure_future(self._send(url, headers))
        self._task.add_done_callback(self._on_answer)

    async def _body(self) -> AsyncIterator[bytes]:
        while (piece := await self._queue.get()) is not None:
            yield piece

    async def _send(self, url: URL, headers: dict[str, str]) -> Any:
        client = self._client
        # No total deadline (the writer sets the pace); the answer must come within the drive timeout.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=client.timeout)
        data = await client._post(url, headers, self._body(), "upload", timeout)
        return msgpack.unpackb(data, raw=False)

    def _on_answer(self, _task: asyncio.Future[Any]) -> None:
        self._ended = True
        while not self._queue.empty():        # unblock a write() waiting for room
            self._queue.get_nowait()

    async def write(self, data: bytes) -> None:
        if self._ended:
            await self._raise_answer()
        if not self._queue.full():
            self._queue.put_nowait(data)
            return
        try:                                  # a peer that stops reading is as good as offline
            await asyncio.wait_for(self._queue.put(data), self._client.timeout)
        except TimeoutError:
            await self.cancel()
            raise DriveOffline(f"{self._client.base_url}: upload stalled") from None
        if self._ended:                       # the room came from the peer's answer, not its reading
            await self._raise_answer()

    async def finish(self) -> Any:
        """End the body and wait for the peer's answer."""
        if not self._ended:
            await self._queue.put(None)
        return await self._task

    async def cancel(self) -> None:
        """Drop the call; the peer sees the connection end before the body did."""
        self._task.cancel()
        await asyncio.wait([self._task])      # never re-raises: our own cancellation stays ours
        if not self._task.cancelled():
            self._task.exception()            # retrieved: the call is dropped anyway

    async def _raise_answer(self) -> None:
        await self._task
        raise DriveError("the peer answered before the body was complete")


class Peers:
    """One shared ``PeerClient`` per peer base URL."""

    def __init__(self, settings: EngineSettings) -> None:
        self._settings = settings
        self._trust = TrustStore(settings)   # one ca.crt watcher for every https peer
        self._clients: dict[str, PeerClient] = {}

    def get(self, base_url: str) -> PeerClient:
        key = base_url.rstrip("/")
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = PeerClient(key, self._settings, self._trust)
        return client

    async def close_all(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
