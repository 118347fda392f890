"""Distributed exclusive locks: a lease on a quorum of the nodes' in-memory lock tables.

Every node keeps a :class:`LockTable` and serves it to its peers (``register_lock_service``). A
:class:`DistributedLocker` takes a name on ``n // 2 + 1`` of the ``n`` tables, so two holders can never
both reach a quorum. Grants are leases: the holder refreshes them every third of the lease, and a table
drops an entry whose lease ran out, so a crashed holder blocks a name for at most one lease.

    async with locker.lock(f"{bucket}/{key}"):
        ...                                   # exclusive across every node of the cluster

Coroutines of one process first queue on an ``asyncio.Lock`` per name, so local contention never turns
into rounds of RPCs. Every acquisition attempt uses a fresh uid: a late answer to an abandoned attempt
can never be mistaken for the current holder.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncContextManager, Protocol

from storage_engine import errors
from storage_engine.drives.base import DriveError

if TYPE_CHECKING:
    from storage_engine.cluster.rpc_client import PeerClient
    from storage_engine.cluster.rpc_server import RpcServer

log = logging.getLogger(__name__)

CALL_TIMEOUT = 2.0          # one lock call to one table
BACKOFF_FIRST = 0.005       # between acquisition attempts below quorum, doubled up to BACKOFF_MAX
BACKOFF_MAX = 0.5
MAX_LEASE = 3600.0          # a peer may not pin a name for longer, whatever it asks


# --- one node's table (the server side) -----------------------------------------------------------
@dataclass(slots=True)
class _Grant:
    resource: str
    owner: str
    expires: float           # time.monotonic()


class LockTable:
    """Exclusive leases by resource name, in memory. An expired lease is gone: it is dropped when its
    resource or uid is touched, and a sweep on acquisitions clears the ones nobody touches again."""

    def __init__(self) -> None:
        self._by_uid: dict[str, _Grant] = {}
        self._by_resource: dict[str, str] = {}      # resource -> uid
        self._next_sweep = 0.0

    def acquire(self, resource: str, uid: str, owner: str, lease: float) -> bool:
        now = time.monotonic()
        self._sweep(now)
        holder = self._by_resource.get(resource)
        if holder is not None and holder != uid and self._live(holder, now):
            return False
        self._by_uid[uid] = _Grant(resource, owner, now + lease)
        self._by_resource[resource] = uid
        return True

    def refresh(self, uid: str, lease: float) -> bool:
        now = time.monotonic()
        if not self._live(uid, now):
            return False
        self._by_uid[uid].expires = now + lease
        return True

    def release(self, uid: str) -> bool:
        grant = self._by_uid.pop(uid, None)
        if grant is None:
            return False
        if self._by_resource.get(grant.resource) == uid:
            del self._by_resource[grant.resource]
        return True

    def holder(self, resource: str) -> str | None:
        """The owner holding ``resource`` now, if anyone does."""
        uid = self._by_resource.get(resource)
        if uid is None or not self._live(uid, time.monotonic()):
            return None
        return self._by_uid[uid].owner

    def __len__(self) -> int:
        self._sweep(time.monotonic(), force=True)
        return len(self._by_uid)

    def _live(self, uid: str, now: float) -> bool:
        grant = self._by_uid.get(uid)
        if grant is None:
            return False
        if grant.expires > now:
            return True
        self.release(uid)
        return False

    def _sweep(self, now: float, force: bool = False) -> None:
        # At most once a second: a full pass over a table of many holders must not tax every acquire.
        if not force and now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        for uid in [u for u, g in self._by_uid.items() if g.expires <= now]:
            self.release(uid)


# --- lockers: one table, here or on a peer ------------------------------------------------------------
class Locker(Protocol):
    async def acquire(self, resource: str, uid: str, owner: str, lease: float) -> bool: ...
    async def refresh(self, uid: str, lease: float) -> bool: ...
    async def release(self, uid: str) -> bool: ...


class LocalLocker:
    """This node's own table."""

    def __init__(self, table: LockTable) -> None:
        self.table = table

    async def acquire(self, resource: str, uid: str, owner: str, lease: float) -> bool:
        return self.table.acquire(resource, uid, owner, lease)

    async def refresh(self, uid: str, lease: float) -> bool:
        return self.table.refresh(uid, lease)

    async def release(self, uid: str) -> bool:
        return self.table.release(uid)


class RemoteLocker:
    """A peer's table over the node-to-node API. A peer that fails or does not answer in time has not
    granted anything: the quorum decides, and an unanswered grant expires with its lease."""

    def __init__(self, client: PeerClient, timeout: float = CALL_TIMEOUT) -> None:
        self.client = client
        self.timeout = timeout

    async def acquire(self, resource: str, uid: str, owner: str, lease: float) -> bool:
        return await self._call("acquire", {"resource": resource, "uid": uid, "owner": owner, "lease": lease})

    async def refresh(self, uid: str, lease: float) -> bool:
        return await self._call("refresh", {"uid": uid, "lease": lease})

    async def release(self, uid: str) -> bool:
        return await self._call("release", {"uid": uid})

    async def _call(self, method: str, args: dict[str, Any]) -> bool:
        try:
            return bool(await self.client.call("lock", method, args, timeout=self.timeout))
        except (DriveError, asyncio.TimeoutError):
            return False


def register_lock_service(rpc: RpcServer, table: LockTable) -> None:
    """Serve ``table`` to the peers as the ``lock`` service."""

    async def acquire(args: dict[str, Any]) -> bool:
        return table.acquire(_text(args, "resource"), _text(args, "uid"), _text(args, "owner"), _lease(args))

    async def refresh(args: dict[str, Any]) -> bool:
        return table.refresh(_text(args, "uid"), _lease(args))

    async def release(args: dict[str, Any]) -> bool:
        return table.release(_text(args, "uid"))

    rpc.register_call("lock", "acquire", acquire)
    rpc.register_call("lock", "refresh", refresh)
    rpc.register_call("lock", "release", release)


def _text(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or not value:
        raise DriveError(f"lock call: {name!r} must be a non-empty string")
    return value


def _lease(args: dict[str, Any]) -> float:
    value = args.get("lease")
    if not isinstance(value, (int, float)) or not 0 < value <= MAX_LEASE:
        raise DriveError(f"lock call: 'lease' must be a number of seconds in (0, {MAX_LEASE:g}]")
    return float(value)


# --- the client side ----------------------------------------------------------------------------------
class DistributedLocker:
    """Exclusive locks by name on a quorum of ``lockers``; same interface as ``erasure.locks.KeyLocker``.

    ``owner`` names this node in the tables. A name that cannot be taken within ``acquire_timeout``
    raises ``errors.ServiceUnavailable`` (503): the client retries later, as it would on any overload.
    """

    def __init__(self, lockers: Sequence[Locker], *, owner: str, lease: float,
                 acquire_timeout: float = 30.0, call_timeout: float = CALL_TIMEOUT) -> None:
        if not lockers:
            raise ValueError("DistributedLocker needs at least one locker")
        self._lockers = list(lockers)
        self._quorum = len(self._lockers) // 2 + 1
        self._owner = owner
        self._lease = lease
        self._acquire_timeout = acquire_timeout
        self._call_timeout = call_timeout
        self._local: dict[str, tuple[asyncio.Lock, int]] = {}     # name -> (lock, users)
        self._refreshers: set[asyncio.Task[None]] = set()
        self._releases: set[asyncio.Task[None]] = set()             # may outlive a cancelled holder

    @property
    def quorum(self) -> int:
        return self._quorum

    def lock(self, name: str) -> AsyncContextManager[None]:
        return self._lock(name)

    async def close(self) -> None:
        """Stop refreshing, and wait for the releases still under way."""
        for task in self._refreshers:
            task.cancel()
        tasks = self._refreshers | self._releases
        if tasks:
            await asyncio.wait(tasks)

    @asynccontextmanager
    async def _lock(self, name: str) -> AsyncIterator[None]:
        deadline = time.monotonic() + self._acquire_timeout
        local, users = self._local.get(name) or (asyncio.Lock(), 0)
        self._local[name] = (local, users + 1)
        try:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await local.acquire()
            except TimeoutError:
                raise self._timed_out(name) from None
            try:
                uid, calls = await self._acquire(name, deadline)
                refresher = _spawn(self._refreshers, self._keep_alive(name, uid))
                try:
                    yield
                finally:
                    refresher.cancel()
                    # Shielded: a request cancelled twice must still let go of its grants.
                    await asyncio.shield(_spawn(self._releases, self._release(uid, calls)))
            finally:
                local.release()
        finally:
            local, users = self._local[name]
            if users <= 1:
                del self._local[name]
            else:
                self._local[name] = (local, users - 1)

    async def _acquire(self, name: str, deadline: float) -> tuple[str, list[asyncio.Task[bool]]]:
        """Attempts until one reaches the quorum; returns its uid and its acquire calls."""
        delay = BACKOFF_FIRST
        while True:
            uid = uuid.uuid4().hex
            calls = [asyncio.ensure_future(self._ask(locker.acquire(name, uid, self._owner, self._lease)))
                     for locker in self._lockers]
            try:
                granted = await self._quorum_of(calls)
            except BaseException:
                _spawn(self._releases, self._release(uid, calls))
                raise
            if granted:
                return uid, calls
            _spawn(self._releases, self._release(uid, calls))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(name)
            await asyncio.sleep(min(remaining, delay * random.uniform(0.5, 1.0)))
            delay = min(delay * 2, BACKOFF_MAX)

    async def _quorum_of(self, calls: list[asyncio.Task[bool]]) -> bool:
        """True as soon as a quorum granted, False as soon as it no longer can; stragglers keep running."""
        granted = refused = 0
        for answer in asyncio.as_completed(calls):
            if await answer:
                granted += 1
            else:
                refused += 1
            if granted >= self._quorum:
                return True
            if refused > len(calls) - self._quorum:
                return False
        return False

    async def _keep_alive(self, name: str, uid: str) -> None:
        """Refresh every third of the lease. A table that no longer knows the uid (restarted, or the
        lease ran out) is asked to grant it again, which it does only if nobody else took the name.
        A round lasts at most a third of the lease too, so one slow table cannot let the grants of
        the others run out."""
        while True:
            await asyncio.sleep(self._lease / 3)
            held = await asyncio.gather(*(self._refresh_one(locker, name, uid) for locker in self._lockers))
            if sum(held) < self._quorum:
                log.warning("lock %r lost its quorum: held on %d of %d tables, %d needed",
                            name, sum(held), len(held), self._quorum)

    async def _refresh_one(self, locker: Locker, name: str, uid: str) -> bool:
        timeout = min(self._call_timeout, self._lease / 6)
        if await self._ask(locker.refresh(uid, self._lease), timeout):
            return True
        return await self._ask(locker.acquire(name, uid, self._owner, self._lease), timeout)

    async def _release(self, uid: str, calls: list[asyncio.Task[bool]]) -> None:
        # Each table is released after its acquire call has answered, so a late grant is released too.
        async def release_one(locker: Locker, call: asyncio.Task[bool]) -> None:
            await asyncio.wait([call])
            await self._ask(locker.release(uid))

        await asyncio.gather(*(release_one(locker, call) for locker, call in zip(self._lockers, calls)))

    async def _ask(self, call: Awaitable[bool], timeout: float | None = None) -> bool:
        """One call to one table; failing or slow counts as "no"."""
        try:
            async with asyncio.timeout(timeout or self._call_timeout):
                return bool(await call)
        except (TimeoutError, DriveError):
            return False
        except Exception:
            log.warning("lock call failed", exc_info=True)
            return False

    def _timed_out(self, name: str) -> errors.S3Error:
        return errors.ServiceUnavailable(
            f"Could not lock {name!r} within {self._acquire_timeout:g} s; please retry.")


def _spawn(tasks: set[asyncio.Task[None]], coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    task = asyncio.ensure_future(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task
