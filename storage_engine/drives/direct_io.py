"""Durable sequential file writes: O_DIRECT through aligned buffers, buffered + fdatasync as fallback.

O_DIRECT skips the page cache: on this project's VMs it writes about 3x faster than buffered writes
followed by fdatasync, and it does not evict the cache other requests read from. It needs buffers,
offsets and lengths aligned to the logical block size, so data is staged in page-aligned ``mmap``
buffers, written whole, and the tail is padded and cut back with ``ftruncate``. File systems that refuse
O_DIRECT (tmpfs) get the same code path without the flag.

Two buffers per writer: one fills on the event loop while a thread writes the other. A writer is given an
``opener``: the file is created in the thread of its first write, so a shard of one buffer (a 1 MiB
object's, with EC 2+2) costs its drive one thread hop, not two.

A write or flush in its thread cannot be stopped. When its caller gives up (the drive's deadline cancels
it), the thread goes on with the writer's file descriptor and buffer, so ``abort`` releases them only once
that thread is done: closing the descriptor earlier would let a new file reuse its number under the
running write.
"""

from __future__ import annotations

import asyncio
import errno
import mmap
import os
from collections.abc import Awaitable, Callable
from typing import Any

ALIGN = 4096
BUFFER_SIZE = 512 * 1024

RunInThread = Callable[..., Awaitable[Any]]


class _BufferPool:
    """Reuses aligned buffers: mapping and faulting in fresh pages for every request is slow."""

    def __init__(self, max_free: int = 32) -> None:
        self._free: dict[int, list[mmap.mmap]] = {}
        self._max_free = max_free

    def get(self, size: int) -> mmap.mmap:
        bucket = self._free.get(size)
        if bucket:
            return bucket.pop()
        return mmap.mmap(-1, size)

    def put(self, buf: mmap.mmap) -> None:
        bucket = self._free.setdefault(len(buf), [])
        if len(bucket) < self._max_free:
            bucket.append(buf)
        else:
            buf.close()


_pool = _BufferPool()


def open_new_file(path: str, *, direct: bool) -> tuple[int, bool]:
    """Create ``path`` (must not exist); returns (fd, whether O_DIRECT is on)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    if direct:
        try:
            return os.open(path, flags | os.O_DIRECT, 0o644), True
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise
    return os.open(path, flags, 0o644), False


def _round_up(n: int, align: int = ALIGN) -> int:
    return (n + align - 1) // align * align


class DirectWriter:
    """Writes one new file sequentially; ``close`` makes it durable (through ``flush``, which a drive
    with a group commit leaves to the barrier before the file is published: drives/atomic.py)."""

    __slots__ = ("_fd", "_direct", "_reused", "_opener", "_flush", "_run", "_cap", "_bufs", "_cur", "_fill",
                 "_offset", "_pending", "_path")

    def __init__(self, path: str, opener: Callable[[], tuple[int, bool, bool]], run: RunInThread,
                 size_hint: int, *, flush: Callable[[int], None] = os.fdatasync) -> None:
        """``opener()`` makes the file, in the thread of the first write, and returns ``(fd, direct,
        reused)``: whether it is open with O_DIRECT, and whether it is an existing file (a spare,
        ``drives/recycle.py``) whose old bytes past what is written are cut off on ``close``. ``flush``
        makes the file's data durable (the drive's group commit, ``drives/group_sync.py``)."""
        self._path = path
        self._fd = -1
        self._direct = False
        self._reused = False
        self._opener: Callable[[], tuple[int, bool, bool]] | None = opener
        self._flush = flush
        self._run = run
        # Small files need one small buffer; big or unknown (0) ones the full size.
        self._cap = min(BUFFER_SIZE, _round_up(size_hint)) if size_hint > 0 else BUFFER_SIZE
        self._bufs: list[mmap.mmap] = [_pool.get(self._cap)]
        self._cur = 0
        self._fill = 0
        self._offset = 0
        self._pending: asyncio.Future[Any] | None = None

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            buf = self._bufs[self._cur]
            n = min(len(view), self._cap - self._fill)
            buf[self._fill:self._fill + n] = view[:n]
            self._fill += n
            view = view[n:]
            if self._fill == self._cap:
                await self._flush_full()

    async def _flush_full(self) -> None:
        if self._pending is not None:
            # At most one write in flight: keeps order and memory bounded. Shielded: a cancelled caller
            # leaves it running (and ``_pending`` set), so abort knows to wait for it.
            await asyncio.shield(self._pending)
            self._pending = None
        buf, offset = self._bufs[self._cur], self._offset
        self._pending = asyncio.ensure_future(self._run(self._write_buffer, buf, self._cap, offset))
        self._offset += self._cap
        self._fill = 0
        if len(self._bufs) == 1:
            self._bufs.append(_pool.get(self._cap))
        self._cur ^= 1

    async def close(self) -> None:
        try:
            if self._pending is not None:
                await asyncio.shield(self._pending)
                self._pending = None
            self._pending = asyncio.ensure_future(
                self._run(self._finish, self._bufs[self._cur], self._fill, self._offset))
            await asyncio.shield(self._pending)
            self._pending = None
        except BaseException:
            self._abandon()                # no waiting here: a flush past its deadline may never end
            raise
        self._release()

    async def abort(self) -> None:
        """Remove the file, once a write still running in its thread is over (if this wait is cancelled,
        the file goes when that write ends)."""
        pending = self._pending
        if pending is not None and not pending.done():
            try:
                await asyncio.wait([pending])
            except BaseException:
                self._abandon()
                raise
        self._abandon()

    def _abandon(self) -> None:
        """Remove the file now, or when the write still running in its thread ends."""
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.add_done_callback(self._discard)
            return
        self._discard(pending)

    # --- in the drive's thread (the loop reads what these set only once their future is done) ----------
    def _open(self) -> int:
        if self._fd < 0 and self._opener is not None:
            self._fd, self._direct, self._reused = self._opener()
        return self._fd

    def _write_buffer(self, buf: mmap.mmap, length: int, offset: int) -> None:
        _pwrite_all(self._open(), buf, length, offset)

    def _finish(self, buf: mmap.mmap, fill: int, offset: int) -> None:
        """Write the tail (padded to ALIGN under O_DIRECT), cut the file back to its length (past the
        padding, or past what is left of a reused file's old bytes) and flush."""
        fd = self._open()
        cut = self._reused
        if fill:
            length = fill
            if self._direct:
                length = _round_up(fill)
                buf[fill:length] = bytes(length - fill)
            _pwrite_all(fd, buf, length, offset)
            cut = cut or length != fill
        if cut:
            os.ftruncate(fd, offset + fill)
        self._flush(fd)

    def _discard(self, pending: asyncio.Future[Any] | None) -> None:
        if pending is not None and not pending.cancelled():
            pending.exception()            # retrieved: a failed write is why we are here
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        try:
            os.unlink(self._path)
        except OSError:
            pass
        self._release()

    def _release(self) -> None:
        self._opener = None                # over: nothing may make the file again
        for buf in self._bufs:
            _pool.put(buf)
        self._bufs = []
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _pwrite_all(fd: int, buf: mmap.mmap, length: int, offset: int) -> None:
    view = memoryview(buf)[:length]
    try:
        while view:
            n = os.pwrite(fd, view, offset)
            view = view[n:]
            offset += n
    finally:
        view.release()
