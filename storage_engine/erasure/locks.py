"""Per-key locks for metadata read-modify-write, in-process and across worker processes.

In-process, an ``asyncio.Lock`` per name queues coroutines without touching the OS. Across processes
(several workers share the drives) a ``flock`` on one of a fixed number of lock files, chosen by hashing
the name, on the set's first drive. The process takes a stripe's flock once and shares it among all the
names it holds in that stripe: names lock each other out in-process through their own asyncio locks, and
a nested lock whose name hashes to a stripe the coroutine already holds (an update lock around a commit
lock, say) must not wait on itself. Waiting polls with a short back-off rather than blocking a thread, so
a cancelled request can never leave a lock behind; a lock not had within ``acquire_timeout`` answers 503,
like the distributed locker, rather than hanging the request.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import xxhash

from .. import errors

STRIPES = 4096
ACQUIRE_TIMEOUT = 30.0


class NameLocker(Protocol):
    """Exclusive locks by name: this module's KeyLocker on one node, ``cluster.locks.DistributedLocker``
    across nodes."""

    def lock(self, name: str) -> AbstractAsyncContextManager[None]: ...


class KeyLocker:
    def __init__(self, lock_dir: str | None, *, acquire_timeout: float = ACQUIRE_TIMEOUT) -> None:
        self._lock_dir = lock_dir
        if lock_dir:
            os.makedirs(lock_dir, 0o755, exist_ok=True)
        self._acquire_timeout = acquire_timeout
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}   # name -> (lock, users)
        self._stripes: dict[int, tuple[int, int]] = {}          # stripe held -> (flocked fd, holders)

    @asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        deadline = time.monotonic() + self._acquire_timeout
        lock, users = self._locks.get(name) or (asyncio.Lock(), 0)
        self._locks[name] = (lock, users + 1)
        try:
            try:
                async with asyncio.timeout(self._acquire_timeout):
                    await lock.acquire()
            except TimeoutError:
                raise self._timed_out(name) from None
            try:
                stripe = await self._hold_stripe(name, deadline)
                try:
                    yield
                finally:
                    self._release_stripe(stripe)
            finally:
                lock.release()
        finally:
            lock, users = self._locks[name]
            if users <= 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)

    async def _hold_stripe(self, name: str, deadline: float) -> int | None:
        """Hold the name's stripe for this process (taking its flock if no other holder has it)."""
        if not self._lock_dir:
            return None
        stripe = xxhash.xxh64_intdigest(name.encode()) % STRIPES
        fd = -1
        delay = 0.0005
        try:
            while True:
                held = self._stripes.get(stripe)
                if held is not None:
                    self._stripes[stripe] = (held[0], held[1] + 1)
                    return stripe
                if fd < 0:
                    try:
                        fd = os.open(os.path.join(self._lock_dir, f"{stripe:04x}.lock"),
                                     os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                    except OSError:
                        return None        # lock drive unusable: in-process exclusion still holds
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    self._stripes[stripe] = (fd, 1)
                    fd = -1                # owned by the stripe now
                    return stripe
                except BlockingIOError:
                    pass
                if time.monotonic() >= deadline:
                    raise self._timed_out(name)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.02)
        finally:
            if fd >= 0:
                os.close(fd)

    def _release_stripe(self, stripe: int | None) -> None:
        if stripe is None:
            return
        fd, holders = self._stripes[stripe]
        if holders <= 1:
            del self._stripes[stripe]
            os.close(fd)                   # closing the description releases the flock
        else:
            self._stripes[stripe] = (fd, holders - 1)

    def _timed_out(self, name: str) -> errors.S3Error:
        return errors.ServiceUnavailable(
            f"Could not lock {name!r} within {self._acquire_timeout:g} s; please retry.")
