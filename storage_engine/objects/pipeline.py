"""The byte stream of a PUT on its way to the erasure coder.

::

    request body --> MD5 (ETag, in a thread) --> WriteTransform (encryption; optional) --> stored blocks

The transform (``objects/transform.py``) belongs to this one PUT: it sees the plaintext in order and returns
the bytes to store. Without one, stored bytes are the body's bytes (no copy, no buffering). Version metadata
keeps the logical size (plaintext) apart from the stored size. MD5 is the costliest per byte and cannot be
split, so it runs in a thread (hashlib releases the GIL) while the event loop erasure-codes the previous block.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from storage_engine.errors import IncompleteBody
from storage_engine.objects.transform import WriteTransform
from storage_engine.objects.types import PutBody

_hash_threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="md5")
# Below this, hashing inline costs less than a thread round trip.
_INLINE_HASH = 64 * 1024


class OverlappedMd5:
    """MD5 whose updates run in a thread, one at a time and in order."""

    __slots__ = ("_md5", "_pending")

    def __init__(self) -> None:
        self._md5 = hashlib.md5()
        self._pending: asyncio.Future[None] | None = None

    async def update(self, data: bytes) -> None:
        if self._pending is not None:
            await self._pending
            self._pending = None
        if len(data) < _INLINE_HASH:
            self._md5.update(data)
        else:
            self._pending = asyncio.get_running_loop().run_in_executor(_hash_threads, self._md5.update, data)

    async def digest(self) -> bytes:
        if self._pending is not None:
            await self._pending
            self._pending = None
        return self._md5.digest()

    def cancel(self) -> None:
        self._pending = None


async def read_exact(body: PutBody, n: int) -> bytes:
    """``n`` bytes, or fewer only at the end of the body."""
    data = await body.read(n)
    if len(data) == n or not data:
        return data
    chunks = [data]
    got = len(data)
    while got < n:
        more = await body.read(n - got)
        if not more:
            break
        chunks.append(more)
        got += len(more)
    return b"".join(chunks)


class StoredStream:
    """Reads a body as stored bytes; counts logical and stored sizes and hashes the plaintext."""

    def __init__(self, body: PutBody, transform: WriteTransform | None = None, block_size: int = 1 << 20) -> None:
        self._body = body
        self._transform = transform
        self._block_size = block_size
        self._pieces: deque[memoryview] = deque()    # the transform's output not read yet
        self._buffered = 0
        self._eof = False
        self.md5 = OverlappedMd5()
        self.size = 0
        self.stored_size = 0

    async def read(self, n: int) -> bytes:
        """``n`` stored bytes, or fewer only at the end."""
        if self._transform is None:
            data = await read_exact(self._body, n)
            self.size += len(data)
            self.stored_size += len(data)
            if data:
                await self.md5.update(data)
            return data
        while self._buffered < n and not self._eof:
            plain = await read_exact(self._body, self._block_size)
            self.size += len(plain)
            if plain:
                await self.md5.update(plain)
                self._add(await self._transform.update(plain))
            if len(plain) < self._block_size:
                self._eof = True
                self._add(await self._transform.finish())
        taken: list[memoryview] = []
        want = min(n, self._buffered)
        while want:
            piece = self._pieces[0]
            if len(piece) <= want:
                taken.append(self._pieces.popleft())
                want -= len(piece)
            else:
                taken.append(piece[:want])
                self._pieces[0] = piece[want:]
                want = 0
        data = b"".join(taken)
        self._buffered -= len(data)
        self.stored_size += len(data)
        return data

    def _add(self, out: bytes | bytearray) -> None:
        if out:
            self._pieces.append(memoryview(out))
            self._buffered += len(out)


class StreamBody:
    """A PutBody over an async iterator of chunks: how CopyObject feeds a source into a destination, and
    transitions and restores feed stored bytes between tiers.

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
