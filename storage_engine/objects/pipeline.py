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
from concurrent.futures import ThreadPoolExecutor

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
