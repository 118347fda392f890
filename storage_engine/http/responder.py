"""Writing a Response to a connection: the head, then the body from bytes or an async iterator.

A streamed body is written chunk by chunk, and after each chunk the writer waits while the
transport's buffer is above its high-water mark (``pause_writing``), so a slow client holds at most
one chunk plus the buffer limit in memory, never the object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import asyncio

from .response import (
    FRAMING_HEADERS, NO_BODY_STATUSES, SERVER_NAME, DateHeader, encode_headers, status_line,
)
from .types import Request, Response

_DATE = DateHeader()
_SERVER = f"Server: {SERVER_NAME}\r\n".encode()


class Writer(Protocol):
    @property
    def transport(self) -> asyncio.Transport | None: ...
    async def drain(self) -> None: ...


class BodyLengthMismatch(Exception):
    """A streamed body was shorter or longer than its declared ``content_length``."""


def render_head(response: Response, request_id: str, *, keep_alive: bool, http10: bool,
                length: int | None, chunked: bool) -> bytes:
    headers: list[tuple[str, str]] = []
    has_request_id = False
    for name, value in response.headers:
        lower = name.lower()
        if lower in FRAMING_HEADERS:
            continue
        if lower == "x-amz-request-id":
            has_request_id = True
        headers.append((name, value))
    parts = [status_line(response.status), encode_headers(headers), _DATE.get(), _SERVER]
    if not has_request_id:
        parts.append(b"x-amz-request-id: %s\r\n" % request_id.encode())
    if length is not None:
        parts.append(b"Content-Length: %d\r\n" % length)
    elif chunked:
        parts.append(b"Transfer-Encoding: chunked\r\n")
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    elif http10:
        parts.append(b"Connection: keep-alive\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def _declared_length(response: Response) -> int | None:
    """For HEAD: the length the app announces (content_length, else its own Content-Length header)."""
    if response.content_length is not None:
        return response.content_length
    for name, value in response.headers:
        if name.lower() == "content-length" and value.strip().isdigit():
            return int(value)
    if isinstance(response.body, (bytes, bytearray, memoryview)):
        return len(response.body)
    return None


async def send_response(writer: Writer, request: Request, response: Response, request_id: str,
                        keep_alive: bool, http10: bool) -> int:
    """Write ``response``; returns the body bytes sent."""
    transport = writer.transport
    if transport is None:
        raise ConnectionResetError("connection lost")
    status = response.status
    body = response.body
    if status in NO_BODY_STATUSES or status < 200:
        await _close_iterator(body)
        transport.write(render_head(response, request_id, keep_alive=keep_alive, http10=http10,
                                    length=None, chunked=False))
        return 0
    if request.method == "HEAD":
        await _close_iterator(body)
        transport.write(render_head(response, request_id, keep_alive=keep_alive, http10=http10,
                                    length=_declared_length(response), chunked=False))
        return 0
    if isinstance(body, (bytes, bytearray, memoryview)):
        head = render_head(response, request_id, keep_alive=keep_alive, http10=http10,
                           length=len(body), chunked=False)
        # One write for small bodies (one syscall); two for big ones (no concatenation copy).
        if len(body) <= 65536:
            transport.write(head + body)
        else:
            transport.writelines([head, body])
        if len(body) > 65536:
            await writer.drain()
        return len(body)
    length = response.content_length
    # Without a length, HTTP/1.1 uses chunked framing; HTTP/1.0 delimits by closing.
    chunked = length is None and not http10
    if length is None and http10:
        keep_alive = False
    transport.write(render_head(response, request_id, keep_alive=keep_alive, http10=http10,
                                length=length, chunked=chunked))
    sent = await _stream(writer, body, length, chunked)
    if not keep_alive and length is None and http10:
        transport.close()
    return sent


async def _stream(writer: Writer, body: AsyncIterator[bytes | memoryview], length: int | None, chunked: bool) -> int:
    sent = 0
    try:
        async for chunk in body:
            if not chunk:
                continue
            size = len(chunk)
            sent += size
            if length is not None and sent > length:
                raise BodyLengthMismatch(f"body longer than its content_length {length}")
            transport = writer.transport
            if transport is None or transport.is_closing():
                raise ConnectionResetError("connection lost")
            if chunked:
                transport.writelines([b"%X\r\n" % size, chunk, b"\r\n"])
            else:
                transport.write(chunk)
            await writer.drain()
        if length is not None and sent != length:
            raise BodyLengthMismatch(f"body of {sent} bytes, content_length {length}")
        transport = writer.transport
        if transport is None:
            raise ConnectionResetError("connection lost")
        if chunked:
            transport.write(b"0\r\n\r\n")
        return sent
    finally:
        await _close_iterator(body)


async def _close_iterator(body: object) -> None:
    """Release a streamed body the server will not (or no longer) iterate, e.g. an open object."""
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()
