"""The cluster-wide config store over real drives in tmp dirs: records, freshness, drive loss, healing.

A "worker process" is a second ConfigStore over its own LocalDrive instances of the same directories.
A "node without local drives" is a ConfigStore over RemoteDrives of a real RpcServer on loopback, told of
changes through its own RpcServer's ``config/changed``.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr

from storage_engine.cluster.config_store import ConfigStore, register_config_service
from storage_engine.cluster.remote_drive import RemoteDrive
from storage_engine.cluster.rpc_client import PeerClient
from storage_engine.cluster.rpc_server import RpcServer
from storage_engine.config import EngineSettings
from storage_engine.drives import paths
from storage_engine.drives.base import Drive
from storage_engine.drives.local import LocalDrive
from storage_engine.drives.paths import SYS_VOLUME
from storage_engine.errors import BucketAlreadyOwnedByYou, InsufficientReadQuorum, NoSuchBucket
from storage_engine.erasure.locks import KeyLocker
from storage_engine.erasure.set import ErasureSet
from storage_engine.http.server import HttpServer
from storage_engine.objects.buckets import BucketMeta, BucketStore
from storage_engine.objects.layer import open_object_layer
from storage_engine.objects.types import PutOptions
from storage_engine.topology import Pool

T = TypeVar("T")
DRIVES = 4                                    # parity 2: reads survive 2 lost drives, writes 1


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def settings(**overrides: Any) -> EngineSettings:
    return EngineSettings(access_key="config-test-root", secret_key=SecretStr("config-test-root-secret-0123456789"),
                          rpc_secret=SecretStr("config-test-internode"), heal_interval_seconds=0, **overrides)


def drive_dirs(root: Path) -> list[Path]:
    return [root / f"d{i}" for i in range(DRIVES)]


async def local_drives(root: Path) -> list[LocalDrive]:
    drives = []
    for path in drive_dirs(root):
        path.mkdir(parents=True, exist_ok=True)
        drive = LocalDrive(str(path))
        await drive.prepare()
        drives.append(drive)
    return drives


def config_set(root: Path, drives: Sequence[Drive | None]) -> ErasureSet:
    return ErasureSet(0, 0, list(drives), 2, 2, KeyLocker(str(root / "locks")))


def store_over(root: Path, drives: Sequence[Drive | None], **kwargs: Any) -> ConfigStore:
    return ConfigStore(config_set(root, drives), reload_seconds=kwargs.pop("reload_seconds", 3600), **kwargs)


def wipe_config(root: Path, *drives: int) -> None:
    for i in drives:
        shutil.rmtree(drive_dirs(root)[i] / SYS_VOLUME / "config")


def record_files(root: Path, kind: str, name: str) -> list[bool]:
    return [(d / SYS_VOLUME / "config" / kind / f"{name}.xl.meta").exists() for d in drive_dirs(root)]


async def close_all(drives: Sequence[Drive | None]) -> None:
    await asyncio.gather(*(d.close() for d in drives if d is not None))


def test_put_get_delete_names(tmp_path: Path) -> None:
    async def main() -> None:
        drives = await local_drives(tmp_path)
        store = store_over(tmp_path, drives)
        assert await store.get("bucket", "a") is None
        assert await store.names("bucket") == []
        await store.put("bucket", "b", b"bee")
        await store.put("bucket", "a", b"one")
        await store.put("iam", "a", b"user")
        await store.put("bucket", "a", b"two" * 1000)
        assert await store.get("bucket", "a") == b"two" * 1000
        assert await store.get("iam", "a") == b"user"
        assert await store.names("bucket") == ["a", "b"]
        assert record_files(tmp_path, "bucket", "a") == [True] * DRIVES
        await store.delete("bucket", "a")
        await store.delete("bucket", "never-was")
        assert await store.get("bucket", "a") is None
        assert await store.names("bucket") == ["b"]
        assert record_files(tmp_path, "bucket", "a") == [False] * DRIVES
        async with store.lock("bucket", "b"):    # put inside the record's lock: no deadlock
            await store.put("bucket", "b", b"bee2")
        assert await store.get("bucket", "b") == b"bee2"
        await close_all(drives)
    run(main())


def test_second_worker_sees_writes_at_once(tmp_path: Path) -> None:
    async def main() -> None:
        drives = await local_drives(tmp_path)
        other_drives = [LocalDrive(str(p)) for p in drive_dirs(tmp_path)]
        writer, reader = store_over(tmp_path, drives), store_over(tmp_path, other_drives)
        await writer.put("bucket", "x", b"v1")
        assert await reader.get("bucket", "x") == b"v1"
        for value in (b"v2", b"v3"):
            await writer.put("bucket", "x", value)
            assert await reader.get("bucket", "x") == value
        await writer.delete("bucket", "x")
        assert await reader.get("bucket", "x") is None
        await writer.put("bucket", "x", b"back")
        assert await reader.get("bucket", "x") == b"back"
        await close_all(drives + other_drives)
    run(main())


async def serve(rpc: RpcServer) -> tuple[HttpServer, str]:
    server = HttpServer(rpc)
    port = (await server.listen("127.0.0.1", 0))[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def test_node_without_local_drives_sees_changes(tmp_path: Path) -> None:
    async def main() -> None:
        drives = await local_drives(tmp_path)
        drive_node = RpcServer(settings())                 # the node that holds the drives
        drive_node.serve_drives({d.endpoint: d for d in drives})
        drive_server, drive_url = await serve(drive_node)
        drive_client = PeerClient(drive_url, settings())

        def remote_drives() -> list[Drive | None]:
            return [RemoteDrive(drive_client, d.endpoint, f"{drive_url}{d.endpoint}") for d in drives]

        remote = store_over(tmp_path, remote_drives())    # a node with no drive of the config set
        remote_node = RpcServer(settings())
        register_config_service(remote_node, remote)
        remote_server, remote_url = await serve(remote_node)
        remote_client = PeerClient(remote_url, settings())

        async def notify(kind: str, name: str) -> None:
            await remote_client.call("config", "changed", {"kind": kind, "name": name})

        notifying = store_over(tmp_path, drives, notify=notify)
        silent = store_over(tmp_path, drives)             # a writer whose notification got lost
        reloading = store_over(tmp_path, remote_drives(), reload_seconds=0.05)
        reloading.start()
        try:
            await notifying.put("bucket", "x", b"v1")
            assert await remote.get("bucket", "x") == b"v1"
            await notifying.put("bucket", "x", b"v2")
            assert await remote.get("bucket", "x") == b"v2"      # told at once, through config/changed
            await notifying.delete("bucket", "x")
            assert await remote.get("bucket", "x") is None

            await silent.put("bucket", "y", b"v1")
            assert await remote.get("bucket", "y") == b"v1"
            assert await reloading.get("bucket", "y") == b"v1"
            await silent.put("bucket", "y", b"v2")
            assert await remote.get("bucket", "y") == b"v1"      # cached, and nobody said it changed
            await remote.changed("bucket", "y")
            assert await remote.get("bucket", "y") == b"v2"
            deadline = time.monotonic() + 10
            while await reloading.get("bucket", "y") != b"v2":   # the periodic reload catches up
                assert time.monotonic() < deadline, "the periodic reload never saw the change"
                await asyncio.sleep(0.02)
        finally:
            await reloading.stop()
            await remote_client.close()
            await drive_client.close()
            await remote_server.shutdown(2)
            await drive_server.shutdown(2)
            await close_all(drives)
    run(main())


def test_records_survive_parity_loss_and_heal(tmp_path: Path) -> None:
    async def main() -> None:
        drives = await local_drives(tmp_path)
        store = store_over(tmp_path, drives)
        records = {f"r{i}": bytes([i]) * (i * 700) for i in range(5)}
        for name, data in records.items():
            await store.put("bucket", name, data)

        wipe_config(tmp_path, 0, 1)                        # two copies lost, two drives unreachable
        offline = store_over(tmp_path, [None, None, drives[2], drives[3]])
        assert {n: await offline.get("bucket", n) for n in await offline.names("bucket")} == records

        results = await store.heal()
        assert sum(r.changed for r in results) == len(records) + 1     # and the generation record
        assert not any(r.failed for r in results)
        assert all(record_files(tmp_path, "bucket", n) == [True] * DRIVES for n in records)

        wipe_config(tmp_path, 2, 3)                        # only the healed copies are left
        fresh = store_over(tmp_path, drives)
        assert {n: await fresh.get("bucket", n) for n in await fresh.names("bucket")} == records
        deadline = time.monotonic() + 10                   # reads that found copies missing healed them
        while not all(all(record_files(tmp_path, "bucket", n)) for n in records):
            assert time.monotonic() < deadline, "reads of damaged records did not heal them"
            await asyncio.sleep(0.02)
        await fresh.stop()
        await close_all(drives)
    run(main())


def test_below_read_quorum_is_an_error_not_absent(tmp_path: Path) -> None:
    async def main() -> None:
        drives = await local_drives(tmp_path)
        store = store_over(tmp_path, drives)
        await store.put("bucket", "x", b"data")
        one_left = store_over(tmp_path, [None, None, None, drives[3]])
        for name in ("x", "never-was"):                   # either could be on the unreachable drives
            with pytest.raises(InsufficientReadQuorum):
                await one_left.get("bucket", name)
        with pytest.raises(InsufficientReadQuorum):
            await one_left.names("bucket")
        wipe_config(tmp_path, 2)
        one_copy = store_over(tmp_path, [None, None, drives[2], drives[3]])
        with pytest.raises(InsufficientReadQuorum):       # one copy answers, and one drive lacks it
            await one_copy.get("bucket", "x")
        # Two drives that answer "not there" rule out any committed record (it reached 3 of 4).
        assert await one_copy.get("bucket", "never-was") is None
        await close_all(drives)
    run(main())


def test_buckets_shared_by_two_workers(tmp_path: Path) -> None:
    async def main() -> None:
        drives = await local_drives(tmp_path)
        other_drives = [LocalDrive(str(p)) for p in drive_dirs(tmp_path)]
        mine = BucketStore(store_over(tmp_path, drives), drives)
        theirs = BucketStore(store_over(tmp_path, other_drives), other_drives)
        await mine.create("photos")
        with pytest.raises(BucketAlreadyOwnedByYou):
            await theirs.create("photos")
        assert all((d / "photos").is_dir() for d in drive_dirs(tmp_path))
        assert (await theirs.get("photos")).versioning == ""
        async with mine.lock("photos"):
            meta = await mine.get("photos")
            await mine.put(BucketMeta(meta.name, meta.created, "Enabled"))
        assert (await theirs.get("photos")).versioning == "Enabled"
        await theirs.create("docs")
        assert [b.name for b in await mine.list()] == ["docs", "photos"]
        await theirs.remove("photos")
        with pytest.raises(NoSuchBucket):
            await mine.get("photos")
        assert not any((d / "photos").exists() for d in drive_dirs(tmp_path))
        assert [b.name for b in await mine.list()] == ["docs"]
        await close_all(drives + other_drives)
    run(main())


def test_full_heal_restores_records_and_bucket_dirs(tmp_path: Path) -> None:
    async def main() -> None:
        pool = Pool(tuple(str(d) for d in drive_dirs(tmp_path)), DRIVES)
        layer = await open_object_layer([pool], settings())
        try:
            await layer.make_bucket("kept")
            await layer.set_bucket_versioning("kept", "Enabled")
            for i in (0, 1):
                wipe_config(tmp_path, i)
                shutil.rmtree(drive_dirs(tmp_path)[i] / "kept")
            report = await layer.heal(None)
            assert report.failures == 0
            assert report.metadata_repaired >= 4           # two records' copies, two bucket directories
            assert record_files(tmp_path, "bucket", "kept") == [True] * DRIVES
            assert all((d / "kept").is_dir() for d in drive_dirs(tmp_path))
            wipe_config(tmp_path, 2, 3)
        finally:
            await layer.close()
        layer = await open_object_layer([pool], settings())
        try:
            assert [b.name for b in await layer.list_buckets()] == ["kept"]
            assert await layer.get_bucket_versioning("kept") == "Enabled"
        finally:
            await layer.close()
    run(main())


class BytesBody:
    """A PutBody over bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self, n: int) -> bytes:
        out, self._data = self._data[:n], self._data[n:]
        return out

    def checksums(self) -> dict[str, str]:
        return {}


def test_buckets_of_the_old_layout_are_adopted(tmp_path: Path) -> None:
    """Stores written before the config store kept a bucket as ``.rustfs.sys/buckets/<name>.meta`` on
    every drive: after an upgrade those buckets are still there, with their objects and versioning."""
    pool = Pool(tuple(str(tmp_path / f"d{i}") for i in range(4)), 4)

    async def scenario() -> None:
        layer = await open_object_layer([pool], settings())
        await layer.make_bucket("kept")
        await layer.put_object("kept", "a/b", BytesBody(b"payload"), PutOptions(size=7))
        await layer.close()
        # Rewrite the bucket as the old engine kept it: no record, a .meta file on every drive.
        legacy = BucketMeta("kept", 1700000000.0, "Enabled").pack()
        for drive in pool.drives:
            for record in Path(drive, paths.SYS_VOLUME, "config", "bucket").glob("kept*"):
                shutil.rmtree(record) if record.is_dir() else record.unlink()
            old = Path(drive, paths.SYS_VOLUME, paths.BUCKETS_DIR)
            old.mkdir(parents=True, exist_ok=True)
            (old / "kept.meta").write_bytes(legacy)
        layer = await open_object_layer([pool], settings())
        try:
            assert [b.name for b in await layer.list_buckets()] == ["kept"]
            assert await layer.get_bucket_versioning("kept") == "Enabled"
            reader = await layer.get_object("kept", "a/b")
            assert b"".join([c async for c in reader.stream()]) == b"payload"
            await reader.close()
            assert not any(Path(d, paths.SYS_VOLUME, paths.BUCKETS_DIR, "kept.meta").exists() for d in pool.drives)
        finally:
            await layer.close()

    asyncio.run(scenario())
