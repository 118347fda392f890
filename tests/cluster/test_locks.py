"""Distributed locks over real lock tables: exclusion, quorum, expiry of a crashed holder, refresh.

Nodes are simulated in one process: each "node" is a DistributedLocker over the same three LockTables.
A node that is unreachable, or that crashed while holding a lock, is a locker whose link to the tables
is cut: its calls fail like a refused connection (``DriveOffline``).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from storage_engine import errors
from storage_engine.cluster.locks import DistributedLocker, LocalLocker, Locker, LockTable
from storage_engine.drives.base import DriveOffline

T = TypeVar("T")
LEASE = 0.5


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Link:
    """A node's connection to one table; ``cut()`` makes every later call fail, ``hang()`` never answer."""

    def __init__(self, table: LockTable) -> None:
        self.inner = LocalLocker(table)
        self.state = "up"

    def cut(self) -> None:
        self.state = "cut"

    def hang(self) -> None:
        self.state = "hang"

    async def _check(self) -> None:
        if self.state == "cut":
            raise DriveOffline("link cut")
        if self.state == "hang":
            await asyncio.Event().wait()

    async def acquire(self, resource: str, uid: str, owner: str, lease: float) -> bool:
        await self._check()
        return await self.inner.acquire(resource, uid, owner, lease)

    async def refresh(self, uid: str, lease: float) -> bool:
        await self._check()
        return await self.inner.refresh(uid, lease)

    async def release(self, uid: str) -> bool:
        await self._check()
        return await self.inner.release(uid)


def node(tables: list[LockTable], owner: str, **kwargs: Any) -> tuple[DistributedLocker, list[Link]]:
    links = [Link(t) for t in tables]
    lockers: list[Locker] = list(links)
    kwargs.setdefault("lease", LEASE)
    return DistributedLocker(lockers, owner=owner, **kwargs), links


async def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# --- the table --------------------------------------------------------------------------------------
def test_table_grants_one_holder_at_a_time() -> None:
    table = LockTable()
    assert table.acquire("k", "u1", "a", 10)
    assert not table.acquire("k", "u2", "b", 10)
    assert table.acquire("k", "u1", "a", 10)          # the holder asking again keeps it
    assert table.acquire("other", "u2", "b", 10)
    assert table.holder("k") == "a"
    assert table.refresh("u1", 10)
    assert not table.refresh("nobody", 10)
    assert table.release("u1")
    assert not table.release("u1")
    assert table.holder("k") is None
    assert table.acquire("k", "u2", "b", 10)          # one uid may hold only what it asked for last
    assert len(table) == 1


def test_table_drops_expired_leases() -> None:
    table = LockTable()
    assert table.acquire("k", "u1", "a", 0.05)
    assert table.acquire("idle", "u3", "c", 0.05)
    time.sleep(0.06)
    assert table.holder("k") is None
    assert not table.refresh("u1", 10)
    assert table.acquire("k", "u2", "b", 10)
    assert len(table) == 1                            # the untouched "idle" lease is swept too


# --- exclusion --------------------------------------------------------------------------------------
def test_many_tasks_on_three_nodes_never_hold_together() -> None:
    tables = [LockTable() for _ in range(3)]
    holders = 0
    entries = 0

    async def worker(locker: DistributedLocker) -> None:
        nonlocal holders, entries
        for _ in range(5):
            async with locker.lock("bucket/key"):
                holders += 1
                assert holders == 1
                for _ in range(3):
                    await asyncio.sleep(0)
                assert holders == 1
                holders -= 1
                entries += 1

    async def main() -> None:
        nodes = [node(tables, f"node{i}")[0] for i in range(3)]
        await asyncio.gather(*(worker(nodes[i % 3]) for i in range(12)))
        for locker in nodes:
            await locker.close()

    run(main())
    assert entries == 60
    assert [len(t) for t in tables] == [0, 0, 0]


def test_different_names_do_not_wait_for_each_other() -> None:
    tables = [LockTable() for _ in range(3)]

    async def main() -> None:
        locker, _ = node(tables, "a", acquire_timeout=1.0)
        async with locker.lock("one"):
            async with locker.lock("two"):
                assert [t.holder("one") for t in tables] == ["a"] * 3
                assert [t.holder("two") for t in tables] == ["a"] * 3
        await locker.close()

    run(main())


# --- unreachable tables -------------------------------------------------------------------------------
@pytest.mark.parametrize("failure", ["cut", "hang"])
def test_one_unreachable_table_of_three_still_locks(failure: str) -> None:
    tables = [LockTable() for _ in range(3)]

    async def main() -> None:
        a, a_links = node(tables, "a", acquire_timeout=5.0, call_timeout=0.2)
        b, b_links = node(tables, "b", acquire_timeout=0.5, call_timeout=0.2)
        for link in (a_links[2], b_links[2]):
            getattr(link, failure)()
        async with a.lock("k"):
            assert [t.holder("k") for t in tables] == ["a", "a", None]
            with pytest.raises(errors.ServiceUnavailable):
                async with b.lock("k"):
                    pytest.fail("b entered a lock that a holds")
        async with b.lock("k"):
            assert [t.holder("k") for t in tables] == ["b", "b", None]
        await a.close()
        await b.close()

    run(main())
    assert [len(t) for t in tables] == [0, 0, 0]


def test_two_unreachable_tables_of_three_answer_503_after_the_timeout() -> None:
    tables = [LockTable() for _ in range(3)]

    async def main() -> None:
        locker, links = node(tables, "a", acquire_timeout=0.3, call_timeout=0.1)
        links[0].cut()
        links[1].hang()
        started = time.monotonic()
        with pytest.raises(errors.ServiceUnavailable) as raised:
            async with locker.lock("k"):
                pytest.fail("locked without a quorum")
        assert time.monotonic() - started >= 0.3
        assert raised.value.status == 503
        await locker.close()                           # waits for the releases of the failed attempts

    run(main())
    assert len(tables[2]) == 0                         # the one grant it got was given back


# --- crashed holders and refresh --------------------------------------------------------------------
def test_a_crashed_holder_blocks_the_name_for_one_lease_only() -> None:
    tables = [LockTable() for _ in range(3)]

    async def main() -> None:
        a, a_links = node(tables, "a")
        b, _ = node(tables, "b", acquire_timeout=10.0)
        inside = asyncio.Event()
        finish = asyncio.Event()

        async def holder() -> None:
            async with a.lock("k"):
                inside.set()
                await finish.wait()

        a_task = asyncio.create_task(holder())
        await inside.wait()
        for link in a_links:                           # a "crashes": no more refresh, no release
            link.cut()
        b_entered = asyncio.Event()
        b_saw: list[str | None] = []

        async def taker() -> None:
            async with b.lock("k"):
                b_saw.extend(t.holder("k") for t in tables)
                b_entered.set()

        b_task = asyncio.create_task(taker())
        # While a's lease runs, b stays out.
        while all(t.holder("k") == "a" for t in tables):
            assert not b_entered.is_set()
            await asyncio.sleep(0.01)
        await asyncio.wait_for(b_entered.wait(), 5)
        assert b_saw.count("b") >= 2
        finish.set()
        await asyncio.gather(a_task, b_task)
        await a.close()
        await b.close()

    run(main())


def test_prewritten_stale_grants_expire_after_their_lease() -> None:
    """A holder that died right after its grants were written: nothing ever refreshes them."""
    tables = [LockTable() for _ in range(3)]

    async def main() -> None:
        granted_at = time.monotonic()
        for t in tables:
            assert t.acquire("k", "dead-uid", "dead", LEASE)
        locker, _ = node(tables, "b", acquire_timeout=10.0)
        async with locker.lock("k"):
            entered = time.monotonic()
            assert [t.holder("k") for t in tables] == ["b", "b", "b"]
        assert entered >= granted_at + LEASE           # never before the dead holder's lease ran out
        await locker.close()

    run(main())


def test_refresh_keeps_a_lock_held_past_several_leases() -> None:
    tables = [LockTable() for _ in range(3)]

    async def main() -> None:
        a, a_links = node(tables, "a", call_timeout=0.3)
        a_links[2].hang()                              # a slow table must not delay the others' refresh
        b, _ = node(tables, "b", acquire_timeout=LEASE * 4)
        async with a.lock("k"):
            with pytest.raises(errors.ServiceUnavailable):
                async with b.lock("k"):
                    pytest.fail("b entered while a refreshed its lock")
            assert [t.holder("k") for t in tables[:2]] == ["a", "a"]
        async with b.lock("k"):
            assert [t.holder("k") for t in tables[:2]] == ["b", "b"]
        await a.close()
        await b.close()

    run(main())


def test_a_table_that_lost_its_grants_gets_them_back_on_refresh() -> None:
    tables = [LockTable() for _ in range(3)]

    async def main() -> None:
        a, links = node(tables, "a")
        async with a.lock("k"):
            restarted = LockTable()                     # that node restarted with an empty table
            links[0].inner = LocalLocker(restarted)
            await wait_until(lambda: restarted.holder("k") == "a")
        assert len(restarted) == 0
        await a.close()

    run(main())


# --- cancellation ------------------------------------------------------------------------------------
def test_a_cancelled_holder_releases_its_grants() -> None:
    tables = [LockTable() for _ in range(3)]

    async def main() -> None:
        a, _ = node(tables, "a")
        inside = asyncio.Event()

        async def holder() -> None:
            async with a.lock("k"):
                inside.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(holder())
        await inside.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [len(t) for t in tables] == [0, 0, 0]
        await a.close()

    run(main())


def test_a_waiter_cancelled_while_acquiring_leaves_nothing_behind() -> None:
    tables = [LockTable() for _ in range(3)]

    async def main() -> None:
        a, _ = node(tables, "a")
        b, _ = node(tables, "b")
        async with a.lock("k"):
            waiter = asyncio.create_task(b.lock("k").__aenter__())
            await asyncio.sleep(0.05)
            assert not waiter.done()
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        assert [t.holder("k") for t in tables] == [None, None, None]
        await a.close()
        await b.close()

    run(main())


# --- through the node-to-node API -----------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(rpc_secret: str = "lock-test-internode-secret") -> Any:
    from pydantic import SecretStr

    from storage_engine.config import EngineSettings

    return EngineSettings(access_key="lock-test-root", secret_key=SecretStr("lock-test-root-secret-0123456789"),
                          rpc_secret=SecretStr(rpc_secret), drive_timeout_seconds=2.0)


def test_remote_lockers_over_rpc_servers_with_one_peer_down() -> None:
    from storage_engine.cluster.locks import RemoteLocker, register_lock_service
    from storage_engine.cluster.rpc_client import PeerClient
    from storage_engine.cluster.rpc_server import RpcServer
    from storage_engine.http.server import HttpServer

    tables = [LockTable() for _ in range(3)]

    async def main() -> None:
        servers: list[HttpServer] = []
        urls: list[str] = []
        for table in tables[:2]:
            rpc = RpcServer(_settings())
            register_lock_service(rpc, table)
            server = HttpServer(rpc)
            port = (await server.listen("127.0.0.1", 0))[0].getsockname()[1]
            servers.append(server)
            urls.append(f"http://127.0.0.1:{port}")
        urls.append(f"http://127.0.0.1:{closed_port()}")           # the third node is down
        clients = [PeerClient(url, _settings()) for url in urls]
        a = DistributedLocker([RemoteLocker(c) for c in clients], owner="a", lease=LEASE)
        b = DistributedLocker([RemoteLocker(c) for c in clients], owner="b", lease=LEASE,
                              acquire_timeout=LEASE * 2)
        try:
            async with a.lock("bucket/key"):
                assert [t.holder("bucket/key") for t in tables[:2]] == ["a", "a"]
                with pytest.raises(errors.ServiceUnavailable):
                    async with b.lock("bucket/key"):
                        pytest.fail("b entered a lock that a holds")
                assert [t.holder("bucket/key") for t in tables[:2]] == ["a", "a"]   # refreshed over RPC
            assert [len(t) for t in tables] == [0, 0, 0]
            async with b.lock("bucket/key"):
                assert [t.holder("bucket/key") for t in tables[:2]] == ["b", "b"]

            # A caller without the internode secret is refused, and its call grants nothing.
            stranger = RemoteLocker(PeerClient(urls[0], _settings("another-cluster")))
            assert not await stranger.acquire("bucket/key", "u-stranger", "stranger", 10)
            assert len(tables[0]) == 0
            await stranger.client.close()
        finally:
            await a.close()
            await b.close()
            for client in clients:
                await client.close()
            for server in servers:
                await server.shutdown(5)

    run(main())
