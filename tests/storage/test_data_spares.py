"""Recycled inodes: a replaced version's shard files are overwritten by later writes (drives/recycle.py),
never while someone still has them open; shard and meta files overwritten in place never keep old bytes."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest
from storage_helpers import BytesBody, read_all

from storage_engine.drives.atomic import AtomicFiles
from storage_engine.drives.base import DriveFull
from storage_engine.drives.direct_io import ALIGN, DirectWriter
from storage_engine.drives.local import LocalDrive
from storage_engine.objects.layer import ErasureObjectLayer
from storage_engine.objects.types import PutOptions

MIB = 1 << 20


def _shard_files(root: Path, key: str) -> dict[str, Path]:
    """Drive name -> the path of the key's (single) shard file on it."""
    found = {}
    for drive in sorted(root.glob("d*")):
        parts = list((drive / "bkt" / f"{key}.xl.data").glob("*/part.1"))
        assert len(parts) == 1, parts
        found[drive.name] = parts[0]
    return found


def _inodes(files: dict[str, Path]) -> dict[str, int]:
    return {drive: path.stat().st_ino for drive, path in files.items()}


@pytest.mark.parametrize("group_commit", ["on", "off"])
def test_an_overwrite_reuses_the_replaced_versions_files_and_cuts_their_old_bytes(
        with_layer, tmp_path: Path, group_commit: str) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        await layer.put_object("bkt", "k", BytesBody(os.urandom(3 * MIB)), PutOptions())
        first = _inodes(_shard_files(tmp_path, "k"))
        second_data = os.urandom(2 * MIB + 5)
        await layer.put_object("bkt", "k", BytesBody(second_data), PutOptions())   # the first becomes spare
        second = _shard_files(tmp_path, "k")
        sizes = {drive: path.stat().st_size for drive, path in second.items()}
        third_data = os.urandom(2 * MIB + 5)
        await layer.put_object("bkt", "k", BytesBody(third_data), PutOptions())

        third = _shard_files(tmp_path, "k")
        assert _inodes(third) == first                     # each drive overwrote its own spare
        assert {drive: path.stat().st_size for drive, path in third.items()} == sizes   # no old tail
        assert await read_all(layer, "bkt", "k") == third_data
        await layer.put_object("bkt", "k", BytesBody(b"x" * (200 * 1024)), PutOptions())   # smaller again
        assert await read_all(layer, "bkt", "k") == b"x" * (200 * 1024)
    with_layer(scenario, group_commit=group_commit)


def test_a_file_someone_has_open_is_not_reused(with_layer, tmp_path: Path) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        await layer.put_object("bkt", "k", BytesBody(os.urandom(3 * MIB)), PutOptions())
        first = _shard_files(tmp_path, "k")
        first_inodes = _inodes(first)
        held_drive = sorted(first)[0]
        with open(first[held_drive], "rb") as held:          # a reader of the first version, still reading
            before = held.read()
            await layer.put_object("bkt", "k", BytesBody(os.urandom(3 * MIB)), PutOptions())
            third_data = os.urandom(3 * MIB)
            await layer.put_object("bkt", "k", BytesBody(third_data), PutOptions())

            third = _inodes(_shard_files(tmp_path, "k"))
            assert third[held_drive] != first_inodes[held_drive]      # not overwritten under the reader
            assert {d: i for d, i in third.items() if d != held_drive} == {
                d: i for d, i in first_inodes.items() if d != held_drive}   # the other drives reused theirs
            held.seek(0)
            assert held.read() == before                   # the reader still sees the first version's bytes
        assert await read_all(layer, "bkt", "k") == third_data
    with_layer(scenario)


def test_a_reused_file_is_cut_to_what_was_written_even_on_an_aligned_length(tmp_path: Path) -> None:
    async def main() -> None:
        path = tmp_path / "part.1"
        path.write_bytes(b"o" * (5 * ALIGN + 100))        # the old version's bytes
        fd = os.open(path, os.O_WRONLY)

        async def run(fn, *args):                          # noqa: ANN001, ANN202 - the drive's thread hop
            return await asyncio.to_thread(fn, *args)
        writer = DirectWriter(str(path), lambda: (fd, False, True), run, 2 * ALIGN)   # a spare, no O_DIRECT
        await writer.write(b"n" * (2 * ALIGN))
        await writer.close()
        assert path.read_bytes() == b"n" * (2 * ALIGN)
    asyncio.run(main())


async def _drive_with_a_data_dir(root: Path) -> tuple[LocalDrive, Path]:
    """A drive holding bucket ``bkt`` with one version's data dir (``k.xl.data/v1/part.1``)."""
    drive = LocalDrive(str(root / "d0"))
    await drive.prepare()
    await drive.make_volume("bkt")
    data_dir = root / "d0" / "bkt" / "k.xl.data" / "v1"
    data_dir.mkdir(parents=True)
    (data_dir / "part.1").write_bytes(b"s" * 100_000)
    return drive, data_dir


def test_a_full_drive_gets_the_spares_space_back(tmp_path: Path, monkeypatch) -> None:
    async def main() -> None:
        drive, _ = await _drive_with_a_data_dir(tmp_path)
        await drive.delete("bkt", "k.xl.data/v1", recursive=True)
        area = Path(drive.tmp_root)
        assert [p.name[:6] for p in area.iterdir() if p.is_dir()] == ["spare-"]   # kept, not deleted

        def full(path: str, data: bytes) -> None:
            raise OSError(errno.ENOSPC, "No space left on device", path)
        monkeypatch.setattr(drive._files, "write", full)
        with pytest.raises(DriveFull):
            await drive.write_file("bkt", "other.xl.meta", b"x")
        for _ in range(500):                               # the spares go in a drive thread, not waited for
            if not any(p.is_dir() for p in area.iterdir()):
                break
            await asyncio.sleep(0.01)
        assert not any(p.is_dir() for p in area.iterdir())
        await drive.close()
    asyncio.run(main())


def test_a_file_with_another_link_is_never_a_spare(tmp_path: Path) -> None:
    """A completed upload's parts are hard links of the upload's part files (objects/multipart.py): a data
    dir whose file has another name must be deleted, not kept for a later write to overwrite."""
    async def main() -> None:
        drive, data_dir = await _drive_with_a_data_dir(tmp_path)
        os.link(data_dir / "part.1", tmp_path / "other-name")
        await drive.delete("bkt", "k.xl.data/v1", recursive=True)
        assert not data_dir.exists()
        assert not [p for p in Path(drive.tmp_root).iterdir() if p.is_dir()]   # deleted, not kept
        await drive.close()
    asyncio.run(main())


def test_a_meta_file_rewritten_over_a_spare_inode_has_no_old_tail(tmp_path: Path) -> None:
    files = AtomicFiles(str(tmp_path), str(tmp_path / "tmp"))
    target = tmp_path / "k.xl.meta"
    inodes = set()
    for i in range(60):                                    # past the spares' FIFO delay, then reusing them
        data = bytes([i]) * (6000 - 90 * i)                # each shorter than every earlier one
        files.write(str(target), data)
        assert target.read_bytes() == data
        inodes.add(target.stat().st_ino)
    assert len(inodes) < 60                                # spares were reused
