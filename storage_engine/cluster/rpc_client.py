"""The node-to-node API's client side: one pooled, authenticated connection set per peer.

    peers = Peers(settings)
    client = peers.get("http://10.0.0.2:9000")           # shared by all drives and services of that peer
    result = await client.call("drive", "read_file", {"drive": "/data0", "volume": v, "path": p})
    data = await client.fetch("drive", "read_at", {"handle": h, "offset": "0", "length": "4096"})
    upload = client.upload("drive", "create_shard", {...}); await upload.write(b); await upload.finish()
    await peers.close_all()

Every call is bounded by ``drive_timeout_seconds`` (connect: 3 s). A peer that cannot be reached, drops
the connection or does not answer in time raises ``DriveOffline``; an error the peer reports raises the
matching ``DriveError`` subclass. https peers are verified against ``<tls_path>/ca.crt`` and the system CAs.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import msgpack
from yarl import URL

from storage_engine.config import EngineSettings
from storage_engine.drives.base import DriveError, DriveOffline, FileNotFound, VolumeNotEmpty, VolumeNotFound

from .auth import internode_secret, sign
from .rpc_server import MSGPACK, RPC_PREFIX, pack

CONNECT_TIMEOUT = 3.0
MAX_CONNECTIONS = 256               # per peer: concurrent shard streams of many requests
_ERRORS: dict[str, type[DriveError]] = {
    cls.__name__: cls for cls in (DriveError, FileNotFound, VolumeNotFound, VolumeNotEmpty, DriveOffline)}
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


def _tls_context(settings: EngineSettings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca = os.path.join(settings.tls_path, "ca.crt") if settings.tls_path else ""
    if ca and os.path.exists(ca):
        context.load_verify_locations(cafile=ca)
    return context


class PeerClient:
    """Calls to one peer (``http://host:port``), over a keep-alive connection pool of its own."""

    def __init__(self, base_url: str, settings: EngineSettings) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = internode_secret(settings)
        self.timeout = settings.drive_timeout_seconds
        self._ssl: ssl.SSLContext | bool = _tls_context(settings) if self.base_url.startswith("https:") else False
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the running event loop.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, ssl=self._ssl)
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
                    timeout: aiohttp.ClientTimeout) -> bytes:
        """POST ``body`` (bytes, None or an async iterator, streamed); the answer's bytes, or why not."""
        try:
            async with self.session().post(url, data=body, headers=headers, timeout=timeout) as response:
                data = await response.read()
                status = response.status
        except _UNREACHABLE as exc:
            raise DriveOffline(f"{self.base_url}: {what}: {exc!r}") from exc
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
        self._clients: dict[str, PeerClient] = {}

    def get(self, base_url: str) -> PeerClient:
        key = base_url.rstrip("/")
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = PeerClient(key, self._settings)
        return client

    async def close_all(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
