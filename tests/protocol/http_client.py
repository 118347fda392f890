"""A raw HTTP/1.1 client for the server tests: exact bytes out, parsed responses in."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from storage_engine.http.server import HttpServer, ServerLimits
from storage_engine.http.types import App


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    head: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


async def read_response(reader: asyncio.StreamReader, *, head_only: bool = False, timeout: float = 10) -> RawResponse:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if head_only or status in (100, 204, 304):
        return RawResponse(status, headers, b"", head)
    if "content-length" in headers:
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), timeout)
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        body = b"".join(p[:-2] for p in parts)
    else:
        body = await asyncio.wait_for(reader.read(), timeout)
    return RawResponse(status, headers, body, head)


@contextlib.asynccontextmanager
async def running(app: App, limits: ServerLimits | None = None) -> AsyncIterator[tuple[HttpServer, int]]:
    server = HttpServer(app, limits)
    sockets = await server.listen("127.0.0.1", 0)
    try:
        yield server, sockets[0].getsockname()[1]
    finally:
        await server.shutdown(2.0)


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)


async def exchange(port: int, data: bytes, *, head_only: bool = False) -> RawResponse:
    reader, writer = await connect(port)
    try:
        writer.write(data)
        await writer.drain()
        return await read_response(reader, head_only=head_only)
    finally:
        writer.close()
