"""A small, fast HTTP/1.1 server for the S3 API: ``asyncio.Protocol`` + httptools, run on uvloop.

    server = HttpServer(app)
    sockets = await server.listen("0.0.0.0", 9000)
    ...
    await server.shutdown(timeout=30)      # stop accepting, finish in-flight requests, then cut off

Or all at once: ``await serve(app, host, port, stop=event)``. One connection is one
:class:`~storage_engine.http.connection.HttpConnection`; it streams request bodies to the app with
backpressure and writes streamed responses under the transport's flow control. Frameworks were
left out on purpose (PERFORMANCE-NOTES.md): S3 needs exact control of ``100-continue``, aws-chunked
bodies and backpressure, and this layer is the fastest measured.
"""

from __future__ import annotations

import asyncio
import socket
import ssl as ssl_module
from collections.abc import Callable
from dataclasses import dataclass

from .connection import HttpConnection
from .response import RequestIds
from .types import App


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Limits and timeouts of every connection (seconds, bytes)."""

    max_url_bytes: int = 16 * 1024          # presigned URLs of long keys fit comfortably
    max_header_bytes: int = 64 * 1024       # request line + all headers
    max_headers: int = 200
    keepalive_timeout: float = 75.0         # idle between requests
    header_timeout: float = 30.0            # a started request head must complete within this
    body_timeout: float = 60.0              # app waits for body bytes and none arrive
    write_timeout: float = 120.0            # the client stops reading our response
    drain_limit: int = 256 * 1024           # unread request body swallowed to keep the connection
    linger_seconds: float = 2.0             # swallow input after a final response, before closing
    body_high_water: int = 2 << 20          # buffered request body that pauses socket reads
    body_low_water: int = 512 << 10         # ... and resumes them
    write_high_water: int = 1 << 20         # transport buffer that pauses a streamed response
    write_low_water: int = 256 << 10

    @property
    def tick(self) -> float:
        """How often each connection checks its timeouts (a fraction of the shortest one)."""
        shortest = min(self.keepalive_timeout, self.header_timeout, self.body_timeout, self.write_timeout)
        return min(5.0, max(0.05, shortest / 4))


class HttpServer:
    """Listening sockets, live connections and their in-flight tasks, and graceful shutdown."""

    def __init__(self, app: App, limits: ServerLimits | None = None) -> None:
        self.app = app
        self.limits = limits or ServerLimits()
        self.connections: set[HttpConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.request_ids = RequestIds()
        self.closing = False
        self._servers: list[asyncio.AbstractServer] = []
        self._all_closed: asyncio.Future[None] | None = None

    async def listen(self, host: str = "127.0.0.1", port: int = 0, *, sock: socket.socket | None = None,
                     backlog: int = 1024, ssl: ssl_module.SSLContext | None = None) -> list[socket.socket]:
        """Start accepting on ``host:port`` (or an already bound ``sock``); returns the sockets.

        With ``ssl`` (``http/tls.py``'s context) every connection is HTTPS.
        """
        loop = asyncio.get_running_loop()
        if sock is not None:
            server = await loop.create_server(lambda: HttpConnection(self), sock=sock, backlog=backlog, ssl=ssl)
        else:
            server = await loop.create_server(lambda: HttpConnection(self), host, port, backlog=backlog,
                                              ssl=ssl)
        self._servers.append(server)
        return list(server.sockets)

    def connection_done(self, connection: HttpConnection) -> None:
        self.connections.discard(connection)
        if self.closing and not self.connections and self._all_closed is not None \
                and not self._all_closed.done():
            self._all_closed.set_result(None)

    async def shutdown(self, timeout: float = 30.0) -> None:
        """Stop accepting; let in-flight requests finish for up to ``timeout`` seconds; then abort.

        Idle keep-alive connections close at once; busy ones answer with ``Connection: close``.
        A cancellation of the caller propagates (never swallowed).
        """
        self.closing = True
        for server in self._servers:
            server.close()
        for connection in list(self.connections):
            connection.shutdown()
        if self.connections:
            self._all_closed = asyncio.get_running_loop().create_future()
            done, _ = await asyncio.wait([self._all_closed], timeout=timeout)
            if not done:
                self._all_closed.cancel()
                for connection in list(self.connections):
                    connection.abort()
                tasks = list(self.tasks)
                if tasks:
                    await asyncio.wait(tasks, timeout=5.0)


async def serve(app: App, host: str, port: int, *, stop: asyncio.Event, limits: ServerLimits | None = None,
                sock: socket.socket | None = None,
                on_ready: Callable[[list[socket.socket]], None] | None = None,
                shutdown_timeout: float = 30.0, ssl: ssl_module.SSLContext | None = None) -> None:
    """Serve ``app`` until ``stop`` is set, then shut down gracefully (HTTPS with ``ssl``)."""
    server = HttpServer(app, limits)
    sockets = await server.listen(host, port, sock=sock, ssl=ssl)
    if on_ready is not None:
        on_ready(sockets)
    try:
        await stop.wait()
    finally:
        await server.shutdown(shutdown_timeout)
