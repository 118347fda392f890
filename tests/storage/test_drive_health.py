"""CheckedDrive states over real local drives, and the format quorum of ``load_pool``."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from storage_helpers import run

from storage_engine.drives.base import DriveError, DriveOffline, FileNotFound, VolumeNotFound
from storage_engine.drives.format import FormatPending, FormatQuorumLost, load_pool
from storage_engine.drives.health import CheckedDrive, check_drives
from storage_engine.drives.local import LocalDrive


async def _pool(root: Path, count: int = 4) -> tuple[list[LocalDrive], list[CheckedDrive]]:
    drives = [LocalDrive(str(root / f"d{i}")) for i in range(count)]
    formatted = await load_pool(drives, 0, count, None)
    return drives, await check_drives(drives, formatted.formats, timeout=0.5)


async def _close(drives: list[CheckedDrive]) -> None:
    await asyncio.gather(*(d.close() for d in drives))


class _Stalling(LocalDrive):
    stall = False

    async def read_file(self, volume: str, path: str) -> bytes:
        if self.stall:
            await asyncio.sleep(10)
        return await super().read_file(volume, path)

    async def list_dir(self, volume: str, path: str) -> list[str]:
        raise DriveError("I/O error")


def test_errors_and_timeouts_take_a_drive_offline_until_a_probe(tmp_path: Path) -> None:
    async def scenario() -> None:
        inner = _Stalling(str(tmp_path / "d0"))
        formatted = await load_pool([inner], 0, 1, None)
        [drive] = await check_drives([inner], formatted.formats, timeout=0.2)
        await drive.make_volume("b")
        with pytest.raises(FileNotFound):            # an answer, not a failure
            await drive.read_file("b", "missing")
        assert drive.state == "online"
        with pytest.raises(DriveError):
            await drive.list_dir("b", "")
        assert drive.state == "offline"
        with pytest.raises(DriveOffline):            # at once, without asking the drive
            drive.read_meta_nowait("b", "x")
        assert await drive.probe() == "online"
        inner.stall = True
        with pytest.raises(DriveOffline):
            await drive.read_file("b", "x")
        assert drive.state == "offline" and not drive.online
        await drive.close()
    run(scenario())


def test_a_stalled_call_times_out_alone_and_an_outside_cancel_stays_a_cancel(tmp_path: Path) -> None:
    async def scenario() -> None:
        inner = _Stalling(str(tmp_path / "d0"))
        formatted = await load_pool([inner], 0, 1, None)
        # Long enough for the healthy read below to finish first on a loaded machine (0.3 s was not).
        [drive] = await check_drives([inner], formatted.formats, timeout=2.0)
        await drive.make_volume("b")
        await drive.write_file("b", "x", b"x")
        inner.stall = True
        cancelled = asyncio.create_task(drive.read_file("b", "x"))
        await asyncio.sleep(0)
        cancelled.cancel()                           # the caller gave up: not the drive's fault
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert drive.state == "online"
        stalled = asyncio.create_task(drive.read_file("b", "x"))
        await asyncio.sleep(0)
        inner.stall = False
        assert await drive.read_file("b", "x") == b"x"    # other calls go on while one waits
        with pytest.raises(DriveOffline):
            await stalled
        assert drive.state == "offline"
        await drive.close()
    run(scenario())


def test_wiped_drive_is_unformatted_then_restored_and_healed(tmp_path: Path) -> None:
    async def scenario() -> None:
        _, drives = await _pool(tmp_path)
        drive = drives[0]
        await drive.make_volume("b")
        shutil.rmtree(tmp_path / "d0")
        os.mkdir(tmp_path / "d0")
        with pytest.raises(VolumeNotFound):          # an empty walk of a missing bucket is not empty
            await drive.walk("b", "", "", 10, False)
        assert await drive.probe() == "unformatted"
        with pytest.raises(DriveOffline):
            await drive.read_file("b", "x")
        assert await drive.restore_format()
        assert drive.state == "healing" and drive.online and not drive.listable
        await drive.make_volume("b")
        with pytest.raises(DriveError) as caught:    # missing on a healing drive: not "absent"
            await drive.read_meta("b", "k.xl.meta")
        assert not isinstance(caught.value, FileNotFound)
        await _close(drives)
        # Healing survives a restart (it is on the drive), until a heal pass ends it.
        _, drives = await _pool(tmp_path)
        assert [d.state for d in drives] == ["healing", "online", "online", "online"]
        await drives[0].finish_healing()
        await _close(drives)
        _, drives = await _pool(tmp_path)
        assert [d.state for d in drives] == ["online"] * 4
        await _close(drives)
    run(scenario())


def test_format_needs_half_the_pool_and_formats_nothing_below(tmp_path: Path) -> None:
    async def scenario() -> None:
        _, drives = await _pool(tmp_path)
        await _close(drives)
        for i in range(3):
            shutil.rmtree(tmp_path / f"d{i}")
            os.mkdir(tmp_path / f"d{i}")
        raw = [LocalDrive(str(tmp_path / f"d{i}")) for i in range(4)]
        with pytest.raises(FormatQuorumLost):
            await load_pool(raw, 0, 4, None)
        assert [await d.read_format() for d in raw[:3]] == [None, None, None]
        fresh = [LocalDrive(str(tmp_path / f"fresh{i}")) for i in range(4)]
        with pytest.raises(FormatPending):
            await load_pool(fresh, 0, 4, None, may_format_fresh=False)
        assert [await d.read_format() for d in fresh] == [None] * 4
        await asyncio.gather(*(d.close() for d in raw + fresh))
    run(scenario())


def test_a_name_too_long_for_the_file_system_is_not_found_and_never_takes_the_drive_offline(tmp_path: Path) -> None:
    async def scenario() -> None:
        _, drives = await _pool(tmp_path, count=1)
        [drive] = drives
        await drive.make_volume("b")
        name = "a" * 300 + ".xl.meta"                # one path segment over NAME_MAX (255)
        with pytest.raises(FileNotFound):
            drive.read_meta_nowait("b", name)
        with pytest.raises(FileNotFound):
            await drive.read_meta("b", name)
        with pytest.raises(FileNotFound):
            await drive.stat_file("b", name)
        with pytest.raises(FileNotFound):
            await drive.read_file("b", name)
        assert drive.state == "online"
        await _close(drives)
    run(scenario())


def test_open_cached_opens_a_file_whose_path_the_kernel_has_cached(tmp_path: Path) -> None:
    """``open_cached`` gives a working descriptor for a path just written (its lookup is cached), or None
    where the kernel cannot answer from its caches (then the drive opens it in a thread); never a wrong one."""
    from storage_engine.drives.cached_open import open_cached

    path = tmp_path / "shard"
    path.write_bytes(b"0123456789")
    os.stat(path)                                    # the lookup is in the dentry cache now
    fd = open_cached(str(path), os.O_RDONLY | os.O_CLOEXEC)
    if fd is None:
        pytest.skip("openat2 with RESOLVE_CACHED is not available here (old kernel or seccomp)")
    try:
        assert os.pread(fd, 4, 3) == b"3456"
    finally:
        os.close(fd)
    os.path.exists(tmp_path / "missing")             # the kernel may now cache the name's absence
    try:
        assert open_cached(str(tmp_path / "missing"), os.O_RDONLY) is None
    except FileNotFoundError:
        pass                                         # answered from the cache: as os.open would
