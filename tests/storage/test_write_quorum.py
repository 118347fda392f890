"""A write counts only the shards whose final flush succeeded: a drive that failed to make its shard
durable gets neither the data nor the new metadata, and below the write quorum the PUT fails."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import threading
from pathlib import Path
from typing import Any, cast

import pytest
from storage_helpers import BytesBody, open_layer, read_all, run

from storage_engine import errors
from storage_engine.drives import paths
from storage_engine.drives.base import Drive, DriveError, ShardWriter
from storage_engine.objects.types import PutOptions

SIZE = 3 * 1024 * 1024 + 5                     # beyond the inline threshold: shard files


class FailingClose:
    """A shard writer whose final flush fails (e.g. fsync reports an I/O error)."""

    def __init__(self, inner: ShardWriter) -> None:
        self.inner = inner

    async def write(self, data: bytes) -> None:
        await self.inner.write(data)

    async def close(self) -> None:
        await self.inner.close()
        raise DriveError("fsync: input/output error")

    async def abort(self) -> None:
        await self.inner.abort()


class FlushFails:
    """A real drive whose new shard files never become durable."""

    def __init__(self, inner: Drive) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def create_shard(self, volume: str, path: str, size_hint: int) -> ShardWriter:
        return FailingClose(await self.inner.create_shard(volume, path, size_hint))


def _break(layer: Any, positions: list[int]) -> list[Any]:
    """Make the drives at ``positions`` fail their flushes; returns their local drives underneath."""
    [es] = layer.all_sets
    broken = []
    for pos in positions:
        broken.append(es.drives[pos].inner)        # CheckedDrive -> LocalDrive
        es.drives[pos] = cast(Drive, FlushFails(es.drives[pos]))
    return broken


def test_a_shard_that_failed_its_flush_is_not_committed(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path)              # 4 drives, EC:2: write quorum 3
        try:
            await layer.make_bucket("bkt")
            [failing] = _break(layer, [1])
            body = bytes(range(256)) * (SIZE // 256) + b"x" * (SIZE % 256)
            await layer.put_object("bkt", "k", BytesBody(body), PutOptions(size=SIZE))
            assert await read_all(layer, "bkt", "k") == body
            # The failing drive got no metadata for the key and no data dir: it must be healed later,
            # not trusted as holding the object.
            with pytest.raises(DriveError):
                await failing.read_file("bkt", paths.meta_path("k"))
            assert not (Path(failing.root) / "bkt" / paths.data_container("k")).exists()
        finally:
            await layer.close()
    run(scenario())


def test_below_quorum_of_durable_shards_the_put_fails(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        try:
            await layer.make_bucket("bkt")
            _break(layer, [0, 2])                     # 2 of 4 durable < write quorum 3
            with pytest.raises(errors.InsufficientWriteQuorum):
                await layer.put_object("bkt", "k", BytesBody(b"y" * SIZE), PutOptions(size=SIZE))
            with pytest.raises(errors.NoSuchKey):
                await layer.get_object_info("bkt", "k")
        finally:
            await layer.close()
    run(scenario())


# --- full drives and I/O errors on the shard writes (os.pwrite failing for files on chosen drives) -------------
def _fail_pwrites_on(monkeypatch: pytest.MonkeyPatch, roots: list[Path], code: int) -> None:
    """``os.pwrite`` fails with ``code`` for files under ``roots`` (the shard writes' system call)."""
    real = os.pwrite
    prefixes = tuple(f"{root.resolve()}/" for root in roots)

    def pwrite(fd: int, data: Any, offset: int) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(prefixes):
            raise OSError(code, os.strerror(code))
        return real(fd, data, offset)
    monkeypatch.setattr(os, "pwrite", pwrite)


def _states(layer: Any) -> list[str]:
    [es] = layer.all_sets
    return [d.state for d in es.drives]


def test_full_drives_fail_the_put_with_storage_full_and_stay_online(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Below the write quorum because file systems are full (ENOSPC), the PUT answers StorageFull
    (507 XMinioStorageFull), not a 503 that reads as lost drives; the drives stay online and the log
    says why (tests/e2e/test_memory.py once got a bare 503 with nothing logged on a full CI disk)."""
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        try:
            await layer.make_bucket("bkt")
            _fail_pwrites_on(monkeypatch, [tmp_path / "d0", tmp_path / "d2"], errno.ENOSPC)
            with pytest.raises(errors.StorageFull) as raised:
                await layer.put_object("bkt", "k", BytesBody(b"y" * SIZE), PutOptions(size=SIZE))
            assert (raised.value.status, raised.value.code) == (507, "XMinioStorageFull")
            assert _states(layer) == ["online"] * 4
            with pytest.raises(errors.NoSuchKey):
                await layer.get_object_info("bkt", "k")
            monkeypatch.undo()                          # space freed: the same PUT goes through
            body = b"z" * SIZE
            await layer.put_object("bkt", "k", BytesBody(body), PutOptions(size=SIZE))
            assert await read_all(layer, "bkt", "k") == body
        finally:
            await layer.close()
    with caplog.at_level(logging.WARNING):
        run(scenario())
    logged = caplog.text
    assert "below the write quorum" in logged and "No space left on device" in logged
    assert f"{tmp_path / 'd0'}: full" in logged


def test_one_full_drive_keeps_the_put_and_the_drive_online_and_is_logged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        try:
            await layer.make_bucket("bkt")
            _fail_pwrites_on(monkeypatch, [tmp_path / "d1"], errno.ENOSPC)
            body = bytes(range(256)) * (SIZE // 256)
            await layer.put_object("bkt", "k", BytesBody(body), PutOptions(size=len(body)))
            assert await read_all(layer, "bkt", "k") == body
            assert _states(layer) == ["online"] * 4
        finally:
            await layer.close()
    with caplog.at_level(logging.WARNING):
        run(scenario())
    assert f"drive {tmp_path / 'd1'}: full, writes fail" in caplog.text


def test_an_io_error_on_a_shard_write_takes_the_drive_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EIO from a shard write is a drive fault like any other operation's, not a shard silently dropped."""
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        try:
            await layer.make_bucket("bkt")
            _fail_pwrites_on(monkeypatch, [tmp_path / "d3"], errno.EIO)
            body = b"q" * SIZE
            await layer.put_object("bkt", "k", BytesBody(body), PutOptions(size=SIZE))
            assert _states(layer)[3] == "offline"
            assert await read_all(layer, "bkt", "k") == body
        finally:
            await layer.close()
    run(scenario())


def test_a_hung_shard_write_drops_that_drive_and_the_put_completes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shard write stuck past the drive timeout: that drive goes offline and the PUT completes on the
    other three (it used to die with a CancelledError out of the writer's abort, dropping the connection)."""
    real = os.pwrite
    stuck = f"{(tmp_path / 'd3').resolve()}/"
    released = threading.Event()

    def pwrite(fd: int, data: Any, offset: int) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(stuck):
            released.wait(5)
        return real(fd, data, offset)
    monkeypatch.setattr(os, "pwrite", pwrite)

    async def scenario() -> None:
        layer = await open_layer(tmp_path, drive_timeout_seconds=0.3)
        try:
            await layer.make_bucket("bkt")
            body = b"h" * SIZE
            await layer.put_object("bkt", "k", BytesBody(body), PutOptions(size=SIZE))
            assert _states(layer)[3] == "offline"
            assert await read_all(layer, "bkt", "k") == body
        finally:
            released.set()
            await asyncio.sleep(0.1)                    # the stuck write ends; its file is removed
            await layer.close()
    run(scenario())
