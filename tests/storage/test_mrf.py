"""Writes that miss a drive are healed when it comes back (MRF), and heal passes cover uploads in progress.

Four real drives in tmp dirs (EC:2, write quorum 3); one can be unplugged: every call to it fails, as
to a dead disk or node, until it is plugged back in.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from storage_helpers import BytesBody, drive_paths, read_all, run, settings

from storage_engine.drives import paths
from storage_engine.drives.base import DriveError, WalkEntry
from storage_engine.drives.health import CheckedDrive
from storage_engine.drives.local import LocalDrive
from storage_engine.erasure.heal import heal_object
from storage_engine.erasure.set import ErasureSet
from storage_engine.objects import healer as healer_module
from storage_engine.objects.layer import ErasureObjectLayer, open_object_layer
from storage_engine.objects.multipart import MIN_PART_SIZE, UploadRef, upload_dir
from storage_engine.objects.types import CompletePart, PutOptions
from storage_engine.topology import Pool

BUCKET = "bkt"
LARGE = 2 * 1024 * 1024 + 17          # above the inline threshold: shard files


@pytest.fixture(autouse=True)
def _quick_healer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(healer_module, "MRF_DELAY_SECONDS", 0.01)


class _Pluggable(LocalDrive):
    unplugged = False

    async def _call(self, fn: Any, *args: Any) -> Any:
        if self.unplugged:
            raise DriveError(f"{self.endpoint}: unplugged")
        return await super()._call(fn, *args)

    def read_meta_nowait(self, volume: str, path: str) -> bytes | None:
        if self.unplugged:
            raise DriveError(f"{self.endpoint}: unplugged")
        return super().read_meta_nowait(volume, path)

    def walk_nowait(self, volume: str, prefix: str, marker: str, limit: int,
                    delimited: bool) -> list[WalkEntry] | None:
        if self.unplugged:
            raise DriveError(f"{self.endpoint}: unplugged")
        return super().walk_nowait(volume, prefix, marker, limit, delimited)


async def _open(root: Path) -> tuple[ErasureObjectLayer, list[_Pluggable]]:
    drives = [_Pluggable(p) for p in drive_paths(root)]
    layer = await open_object_layer([Pool(tuple(drive_paths(root)), 4)], settings(), drives=[list(drives)])
    await layer.make_bucket(BUCKET)
    return layer, drives


async def _plug_back(es: ErasureSet, drive: _Pluggable) -> None:
    """The drive answers again; its next probe (called now rather than waited for) sees it."""
    drive.unplugged = False
    checked = next(d for d in es.drives if isinstance(d, CheckedDrive) and d.inner is drive)
    assert await checked.probe() == "online"


async def _until(condition: Any, what: str, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)


def _has_object(root: Path, key: str) -> bool:
    meta = root / BUCKET / paths.meta_path(key)
    data = root / BUCKET / paths.data_container(key)
    return meta.is_file() and (not data.exists() or any(data.rglob("part.*")))


def _part_files(root: Path, ref: UploadRef, number: int) -> list[Path]:
    directory = root / paths.SYS_VOLUME / upload_dir(ref.bucket, ref.key, ref.upload_id)
    return [p for p in (directory / f"part.{number}.meta", *directory.glob(f"part.{number}.*/part")) if p.is_file()]


async def _whole(es: ErasureSet, key: str) -> bool:
    result = await heal_object(es, BUCKET, key)
    return not result.changed and not result.failed


async def _complete(layer: ErasureObjectLayer, ref: UploadRef, etags: list[str]) -> None:
    parts = [CompletePart(n, etag) for n, etag in enumerate(etags, 1)]
    await layer.complete_multipart_upload(ref.bucket, ref.key, ref.upload_id, parts, PutOptions())


def test_writes_missed_by_a_drive_are_healed_when_it_returns(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer, drives = await _open(tmp_path)
        es = layer.all_sets[0]
        try:
            small, large = b"s" * 1000, os.urandom(LARGE)
            whole = os.urandom(MIN_PART_SIZE) + large
            upload_id = await layer.new_multipart_upload(BUCKET, "mp", PutOptions())
            ref = UploadRef(BUCKET, "mp", upload_id)
            first = await layer.put_object_part(BUCKET, "mp", upload_id, 1, BytesBody(whole[:MIN_PART_SIZE]),
                                                PutOptions())
            drives[3].unplugged = True
            await layer.put_object(BUCKET, "small", BytesBody(small), PutOptions())
            await layer.put_object(BUCKET, "large", BytesBody(large), PutOptions())
            second = await layer.put_object_part(BUCKET, "mp", upload_id, 2, BytesBody(large), PutOptions())
            missing = Path(drives[3].endpoint)
            assert not _has_object(missing, "small") and not _has_object(missing, "large")
            assert not _part_files(missing, ref, 2)
            assert layer.healer.missed_writes() == 3
            await asyncio.sleep(0.5)    # the healer has looked and found the drive away: only its return helps
            assert layer.healer.missed_writes() == 3
            await _plug_back(es, drives[3])

            async def healed() -> bool:
                return (layer.healer.missed_writes() == 0 and _has_object(missing, "small")
                        and _has_object(missing, "large") and len(_part_files(missing, ref, 2)) == 2)
            await _until(healed, "the returned drive got what it missed")
            assert await _whole(es, "small") and await _whole(es, "large")
            result = await layer.multipart.heal_upload(es, ref)
            assert not result.changed and not result.failed, result.details
            # Completing now leaves the object whole on every drive, the returned one included.
            await _complete(layer, ref, [first.etag, second.etag])
            assert all(_has_object(Path(d.endpoint), "mp") for d in drives)
            assert await _whole(es, "mp")
            assert await read_all(layer, BUCKET, "mp") == whole
            assert await read_all(layer, BUCKET, "large") == large
        finally:
            await layer.close()
    run(scenario())


def test_too_many_missed_writes_heal_the_whole_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(healer_module, "MRF_LIMIT", 2)

    async def scenario() -> None:
        layer, drives = await _open(tmp_path)
        es = layer.all_sets[0]
        try:
            drives[1].unplugged = True
            keys = [f"k{i}" for i in range(5)]
            for key in keys:
                await layer.put_object(BUCKET, key, BytesBody(key.encode() * 100), PutOptions())
            assert layer.healer.missed_writes() == 3      # two remembered, then the set as a whole
            await _plug_back(es, drives[1])
            missing = Path(drives[1].endpoint)

            async def healed() -> bool:
                return layer.healer.missed_writes() == 0 and all(_has_object(missing, k) for k in keys)
            await _until(healed, "a set pass healed every key")
            for key in keys:
                assert await _whole(es, key)
        finally:
            await layer.close()
    run(scenario())


def test_a_full_pass_heals_parts_of_uploads_in_progress(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer, drives = await _open(tmp_path)
        es = layer.all_sets[0]
        try:
            data = os.urandom(LARGE)
            upload_id = await layer.new_multipart_upload(BUCKET, "mp", PutOptions())
            ref = UploadRef(BUCKET, "mp", upload_id)
            part = await layer.put_object_part(BUCKET, "mp", upload_id, 1, BytesBody(data), PutOptions())
            lost, rotten = Path(drives[0].endpoint), Path(drives[2].endpoint)
            # One drive lost the part (record and shard) and the upload's record; another's shard rotted.
            for path in _part_files(lost, ref, 1):
                path.unlink()
            (lost / paths.SYS_VOLUME / upload_dir(BUCKET, "mp", upload_id) / "upload.meta").unlink()
            [shard] = [p for p in _part_files(rotten, ref, 1) if p.name == "part"]
            with open(shard, "r+b") as f:
                f.seek(100)
                f.write(b"rot")

            report = await layer.heal()
            assert report.failures == 0, report.details
            assert report.shards_rebuilt == 2 and report.metadata_repaired == 2, report.details
            assert len(_part_files(lost, ref, 1)) == 2
            result = await layer.multipart.heal_upload(es, ref)
            assert not result.changed and not result.failed, result.details

            await _complete(layer, ref, [part.etag])
            assert all(_has_object(Path(d.endpoint), "mp") for d in drives)
            assert await _whole(es, "mp")
            assert await read_all(layer, BUCKET, "mp") == data
        finally:
            await layer.close()
    run(scenario())


def test_an_upload_gone_meanwhile_is_not_healed_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer, drives = await _open(tmp_path)
        es = layer.all_sets[0]
        try:
            upload_id = await layer.new_multipart_upload(BUCKET, "mp", PutOptions())
            drives[3].unplugged = True
            await layer.put_object_part(BUCKET, "mp", upload_id, 1, BytesBody(os.urandom(LARGE)), PutOptions())
            await layer.abort_multipart_upload(BUCKET, "mp", upload_id)
            # The unplugged drive kept the upload's record; healing must not bring the upload back.
            await _plug_back(es, drives[3])

            async def dealt_with() -> bool:
                return layer.healer.missed_writes() == 0
            await _until(dealt_with, "the missed part was dealt with")
            directory = upload_dir(BUCKET, "mp", upload_id)
            for drive in drives:
                assert not (Path(drive.endpoint) / paths.SYS_VOLUME / directory / "part.1.meta").exists()
            for drive in drives[:3]:
                assert not (Path(drive.endpoint) / paths.SYS_VOLUME / directory).exists()
        finally:
            await layer.close()
    run(scenario())

