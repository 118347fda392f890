"""Request bodies from the handlers' side: small XML bodies read whole, and copies streamed as PutBody."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import AsyncIterator

from storage_engine.errors import BadDigest, IncompleteBody, InvalidDigest, MaxMessageLengthExceeded
from storage_engine.http.types import Headers
from storage_engine.objects.types import PutBody


def parse_content_md5(headers: Headers) -> bytes | None:
    """``Content-MD5`` (base64 of 16 bytes) -> the raw digest; malformed -> InvalidDigest."""
    value = headers.get("content-md5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidDigest() from None
    if len(digest) != 16:
        raise InvalidDigest()
    return digest


async def read_small_body(body: PutBody, headers: Headers, limit: int) -> bytes:
    """Read a whole (XML) request body of at most ``limit`` bytes, checking Content-MD5 if sent."""
    expected_md5 = parse_content_md5(headers)
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = await body.read(64 * 1024)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise MaxMessageLengthExceeded()
        chunks.append(chunk)
    data = b"".join(chunks)
    if expected_md5 is not None and hashlib.md5(data).digest() != expected_md5:
        raise BadDigest()
    return data


class StreamBody:
    """A PutBody over an async iterator of chunks: how CopyObject feeds a source into a destination.

    The source was already verified against its bitrot hashes as it was read, so the checksums handed
    on are the source's own (only when the whole object is copied).
    """

    __slots__ = ("_chunks", "_pending", "_offset", "_expected", "_received", "_checksums", "_done")

    def __init__(self, chunks: AsyncIterator[bytes | memoryview], expected_size: int,
                 checksums: dict[str, str] | None = None) -> None:
        self._chunks = chunks
        self._pending = b""         # the current chunk; bytes before _offset were already handed out
        self._offset = 0
        self._expected = expected_size
        self._received = 0
        self._checksums = dict(checksums or {})
        self._done = False

    async def read(self, n: int) -> bytes:
        parts: list[bytes] = []
        wanted = n
        while wanted > 0:
            if self._offset >= len(self._pending):
                if not await self._next_chunk():
                    break
            available = len(self._pending) - self._offset
            if self._offset == 0 and available <= wanted:
                parts.append(self._pending)           # whole chunk: no copy
                taken = available
            else:
                taken = min(available, wanted)
                parts.append(self._pending[self._offset:self._offset + taken])
            self._offset += taken
            wanted -= taken
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _next_chunk(self) -> bool:
        if self._done:
            return False
        chunk = await anext(self._chunks, None)
        if chunk is None:
            self._done = True
            if self._received != self._expected:
                raise IncompleteBody("The copy source ended early.")
            return False
        self._received += len(chunk)
        self._pending, self._offset = chunk if isinstance(chunk, bytes) else bytes(chunk), 0
        return True

    def checksums(self) -> dict[str, str]:
        return dict(self._checksums)
