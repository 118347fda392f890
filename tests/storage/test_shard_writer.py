"""A local drive's shard writer (drives/direct_io.py) makes its file in the thread of its first write: a
shard of one buffer costs one thread hop, and a file that cannot be made fails like any write."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from storage_engine.drives import paths
from storage_engine.drives.base import DriveError
from storage_engine.drives.local import LocalDrive


async def _drive(root: Path) -> tuple[LocalDrive, list[str]]:
    """A prepared drive whose thread hops are counted (by the name of the function run)."""
    drive = LocalDrive(str(root / "d0"))
    await drive.prepare()
    hops: list[str] = []
    run = drive._run

    def counted(fn: Any, *args: Any) -> Any:
        hops.append(getattr(fn, "__name__", repr(fn)))
        return run(fn, *args)
    drive._run = counted  # type: ignore[method-assign]
    return drive, hops


async def _new_shard(drive: LocalDrive, size: int) -> tuple[Any, Path]:
    """A shard writer in a new temporary directory of ``drive``, and the path its file will have."""
    tmp = drive.new_tmp_path()
    writer = await drive.create_shard(paths.SYS_VOLUME, f"{tmp}/part.1", size)
    return writer, Path(drive.root) / paths.SYS_VOLUME / tmp / "part.1"


def test_a_one_buffer_shard_is_made_written_and_closed_in_one_thread_hop(tmp_path: Path) -> None:
    async def main() -> None:
        drive, hops = await _drive(tmp_path)
        writer, full = await _new_shard(drive, 300_000)
        assert hops == [] and not full.parent.exists()     # nothing made yet
        data = os.urandom(300_000)
        await writer.write(data[:100_000])
        await writer.write(data[100_000:])
        await writer.close()
        assert hops == ["_finish"]
        assert full.read_bytes() == data                   # padding for O_DIRECT cut off
        await drive.close()
    asyncio.run(main())


def test_a_shard_of_several_buffers_is_made_by_its_first_buffer_write(tmp_path: Path) -> None:
    async def main() -> None:
        drive, hops = await _drive(tmp_path)
        writer, full = await _new_shard(drive, 3 << 20)
        data = os.urandom((3 << 20) - 7)
        await writer.write(data)
        await writer.close()
        assert hops[0] == "_write_buffer" and hops[-1] == "_finish"
        assert full.read_bytes() == data
        await drive.close()
    asyncio.run(main())


def test_a_shard_that_cannot_be_made_fails_as_a_drive_error_and_leaves_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        drive, _ = await _drive(tmp_path)
        writer, full = await _new_shard(drive, 4096)
        blocker = full.parent
        blocker.write_bytes(b"")                           # a file where the shard's directory goes
        await writer.write(b"x" * 4096)
        with pytest.raises(DriveError):
            await writer.close()
        await writer.abort()
        assert blocker.read_bytes() == b""
        await drive.close()
    asyncio.run(main())


def test_an_aborted_shard_that_was_never_written_makes_no_file(tmp_path: Path) -> None:
    async def main() -> None:
        drive, hops = await _drive(tmp_path)
        writer, full = await _new_shard(drive, 4096)
        await writer.write(b"y" * 100)
        await writer.abort()
        assert hops == []
        assert not full.parent.exists()
        await drive.close()
    asyncio.run(main())
