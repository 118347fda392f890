"""Per-key locks for metadata read-modify-write, in-process and across worker processes.

In-process, an ``asyncio.Lock`` per name queues coroutines without touching the OS. Across processes
(several workers share the drives) a ``flock`` on one of a fixed number of lock files, chosen by hashing
the name, on the set's first drive. Each acquisition opens its own file description, so two names that
hash to the same file exclude each other correctly even inside one process. Waiting polls with a short
back-off rather than blocking a thread, so a cancelled request can never leave a lock behind.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import xxhash

STRIPES = 4096


class NameLocker(Protocol):
    """Exclusive locks by name: this module's KeyLocker on one node, ``cluster.locks.DistributedLocker``
    across nodes."""

    def lock(self, name: str) -> AbstractAsyncContextManager[None]: ...


class KeyLocker:
    def __init__(self, lock_dir: str | None) -> None:
        self._lock_dir = lock_dir
        if lock_dir:
            os.makedirs(lock_dir, 0o755, exist_ok=True)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}   # name -> (lock, users)

    @asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(name) or (asyncio.Lock(), 0)
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                fd = await self._flock(name)
                try:
                    yield
                finally:
                    if fd >= 0:
                        os.close(fd)       # closing the description releases the flock
        finally:
            lock, users = self._locks[name]
            if users <= 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)

    async def _flock(self, name: str) -> int:
        if not self._lock_dir:
            return -1
        stripe = xxhash.xxh64_intdigest(name.encode()) % STRIPES
        path = os.path.join(self._lock_dir, f"{stripe:04x}.lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            return -1                      # lock drive unusable: in-process exclusion still holds
        delay = 0.0005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                pass
            except BaseException:
                os.close(fd)
                raise
            try:
                await asyncio.sleep(delay)
            except BaseException:
                os.close(fd)
                raise
            delay = min(delay * 2, 0.02)
