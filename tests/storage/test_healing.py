"""Drive loss and bitrot: reads stay bit-exact with up to ``parity`` bad drives, and healing restores
every shard and metadata file exactly.

On-disk layout used here (see drives/paths.py): ``<drive>/<bucket>/<key>.xl.meta`` holds the versions
(and, for small objects, this drive's shard inline); ``<drive>/<bucket>/<key>.xl.data/<id>/part.N`` is this
drive's shard of part N.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from storage_helpers import BytesBody, open_layer, read_all, run

from storage_engine import errors
from storage_engine.drives.health import CheckedDrive
from storage_engine.objects.types import CompletePart, PutOptions

MIB = 1 << 20


def _shard_files(root: Path, drive: int, bucket: str, key: str) -> list[Path]:
    return sorted((root / f"d{drive}" / bucket / f"{key}.xl.data").glob("*/part.*"))


def _meta_file(root: Path, drive: int, bucket: str, key: str) -> Path:
    return root / f"d{drive}" / bucket / f"{key}.xl.meta"


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every object file on every drive (not the system area)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and ".rustfs.sys" not in path.parts:
            out[str(path.relative_to(root))] = path.read_bytes()
    return out


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0xFF
    path.write_bytes(bytes(data))


async def _put_samples(layer) -> dict[str, bytes]:
    await layer.make_bucket("bkt")
    samples = {"big": os.urandom(3 * MIB + 5), "small": os.urandom(5000), "dir/nested": os.urandom(MIB + 1)}
    for key, data in samples.items():
        await layer.put_object("bkt", key, BytesBody(data), PutOptions())
    return samples


@pytest.mark.parametrize("damage", ["delete", "corrupt", "truncate"])
def test_shard_damage_on_parity_drives(tmp_path: Path, damage: str) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        samples = await _put_samples(layer)
        before = _snapshot(tmp_path)
        for drive in (1, 2):                   # parity is 2 on a 4-drive set
            for key in ("big", "dir/nested"):
                for path in _shard_files(tmp_path, drive, "bkt", key):
                    if damage == "delete":
                        path.unlink()
                    elif damage == "corrupt":
                        _flip(path, path.stat().st_size // 2)
                    else:
                        os.truncate(path, path.stat().st_size - 100)
            _flip(_meta_file(tmp_path, drive, "bkt", "small"), -10)   # inline shard of the small object
        for key, data in samples.items():
            assert await read_all(layer, "bkt", key) == data
            assert await read_all(layer, "bkt", key, offset=100, length=MIB) == data[100:100 + MIB]
        await layer.healer.drain()             # reads queued the damaged keys for background healing
        assert _snapshot(tmp_path) == before
        report = await layer.heal("bkt")
        assert report.objects_scanned == 3 and report.shards_rebuilt == 0 and report.failures == 0
        await layer.close()
    run(scenario())


def test_explicit_heal_reports(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        await _put_samples(layer)
        before = _snapshot(tmp_path)
        _shard_files(tmp_path, 0, "bkt", "big")[0].unlink()
        _flip(_shard_files(tmp_path, 3, "bkt", "dir/nested")[0], 5000)
        _meta_file(tmp_path, 2, "bkt", "small").unlink()
        report = await layer.heal(None)
        assert report.objects_scanned == 3
        assert report.objects_healed == 3
        assert report.shards_rebuilt == 3          # two shard files and the small object's inline shard
        assert report.metadata_repaired == 1
        assert report.failures == 0 and len(report.details) >= 3
        assert _snapshot(tmp_path) == before
        await layer.close()
    run(scenario())


def test_lost_metadata_and_too_much_damage(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        samples = await _put_samples(layer)
        for drive in (0, 3):
            _meta_file(tmp_path, drive, "bkt", "big").unlink()
        assert await read_all(layer, "bkt", "big") == samples["big"]
        assert [o.key for o in (await layer.list_objects("bkt")).objects] == ["big", "dir/nested", "small"]
        await layer.healer.drain()
        assert _meta_file(tmp_path, 0, "bkt", "big").exists() and _meta_file(tmp_path, 3, "bkt", "big").exists()
        for drive in (0, 1, 2):
            for path in _shard_files(tmp_path, drive, "bkt", "dir/nested"):
                _flip(path, 100)
        with pytest.raises(errors.InsufficientReadQuorum):
            await read_all(layer, "bkt", "dir/nested")
        report = await layer.heal("bkt")
        assert report.failures >= 1
        await layer.close()
    run(scenario())


def test_multipart_object_heals(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        await layer.make_bucket("bkt")
        upload = await layer.new_multipart_upload("bkt", "mp", PutOptions())
        parts = [os.urandom(5 * MIB), os.urandom(1234)]
        infos = [await layer.put_object_part("bkt", "mp", upload, n, BytesBody(d), PutOptions())
                 for n, d in enumerate(parts, 1)]
        await layer.complete_multipart_upload("bkt", "mp", upload, [CompletePart(i.number, i.etag) for i in infos],
                                              PutOptions())
        before = _snapshot(tmp_path)
        for path in _shard_files(tmp_path, 1, "bkt", "mp") + _shard_files(tmp_path, 3, "bkt", "mp")[:1]:
            path.unlink()
        report = await layer.heal("bkt")
        assert report.shards_rebuilt == 3 and _snapshot(tmp_path) == before
        for path in _shard_files(tmp_path, 0, "bkt", "mp") + _shard_files(tmp_path, 2, "bkt", "mp"):
            _flip(path, 7)
        assert await read_all(layer, "bkt", "mp") == b"".join(parts)
        await layer.healer.drain()
        assert _snapshot(tmp_path) == before
        await layer.close()
    run(scenario())


def test_wiped_drive_is_reformatted_and_healed(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        samples = await _put_samples(layer)
        before = _snapshot(tmp_path)
        format_before = (tmp_path / "d2" / ".rustfs.sys" / "format.json").read_bytes()
        await layer.close()
        shutil.rmtree(tmp_path / "d2")
        (tmp_path / "d2").mkdir()
        layer = await open_layer(tmp_path)
        assert (tmp_path / "d2" / ".rustfs.sys" / "format.json").read_bytes() == format_before
        for key, data in samples.items():
            assert await read_all(layer, "bkt", key) == data
        await layer.heal(None)
        await layer.healer.drain()
        assert _snapshot(tmp_path) == before
        await layer.close()
    run(scenario())


def test_foreign_drive_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        samples = await _put_samples(layer)
        await layer.close()
        # Swap two drives: each is now in the wrong slot and must not be used.
        os.rename(tmp_path / "d0", tmp_path / "tmp")
        os.rename(tmp_path / "d1", tmp_path / "d0")
        os.rename(tmp_path / "tmp", tmp_path / "d1")
        layer = await open_layer(tmp_path)
        assert [_state(d) for d in layer.all_sets[0].drives[:2]] == ["unformatted", "unformatted"]
        for key, data in samples.items():
            assert await read_all(layer, "bkt", key) == data
        with pytest.raises(errors.InsufficientWriteQuorum):
            await layer.put_object("bkt", "new", BytesBody(b"x"), PutOptions())
        await layer.close()
        # A drive from another deployment is refused too.
        other = tmp_path / "other"
        await (await open_layer(other)).close()
        shutil.rmtree(tmp_path / "d0")
        shutil.copytree(other / "d0", tmp_path / "d0")
        layer = await open_layer(tmp_path)
        assert _state(layer.all_sets[0].drives[0]) == "unformatted"
        await layer.close()
    run(scenario())


def _state(drive: object) -> str:
    assert isinstance(drive, CheckedDrive)
    return drive.state


def test_orphan_data_dirs_removed(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        samples = await _put_samples(layer)
        live = _shard_files(tmp_path, 0, "bkt", "big")[0].parent
        orphan = live.parent / "0123456789abcdef0123456789abcdef"
        shutil.copytree(live, orphan)             # as if a crash struck between data move and commit
        report = await layer.heal("bkt")
        assert not orphan.exists() and live.exists()
        assert report.metadata_repaired == 1
        assert await read_all(layer, "bkt", "big") == samples["big"]
        await layer.close()
    run(scenario())


def test_drive_wiped_while_running(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        samples = await _put_samples(layer)
        before = _snapshot(tmp_path)
        format_before = (tmp_path / "d1" / ".rustfs.sys" / "format.json").read_bytes()
        for child in (tmp_path / "d1").iterdir():
            shutil.rmtree(child)
        for key, data in samples.items():
            assert await read_all(layer, "bkt", key) == data
        await layer.put_object("bkt", "during", BytesBody(b"written while d1 was empty"), PutOptions())
        report = await layer.heal(None)
        assert report.failures == 0, report.details
        assert (tmp_path / "d1" / ".rustfs.sys" / "format.json").read_bytes() == format_before
        after = _snapshot(tmp_path)
        assert {k: v for k, v in after.items() if "during" not in k} == before
        assert (tmp_path / "d1" / "bkt" / "during.xl.meta").exists()
        await layer.close()
    run(scenario())


def test_listing_with_a_broken_drive(tmp_path: Path) -> None:
    """A drive that fails to list is replaced by another one; listing stays complete."""
    from storage_engine.drives.base import DriveError

    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        samples = await _put_samples(layer)
        broken = layer.all_sets[0].drives[0]
        assert broken is not None

        async def fail(*args: object, **kwargs: object) -> None:
            raise DriveError("broken")
        broken.walk = fail  # type: ignore[method-assign]
        listing = await layer.list_objects("bkt")
        assert [o.key for o in listing.objects] == sorted(samples)
        await layer.close()
    run(scenario())
