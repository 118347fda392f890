"""A commit cut short by a crash can leave two versions of a key with a read quorum each (2 + 2 drives
of an EC:2 set), or a new key on too few drives to have been acknowledged. Whichever version the engine
then answers, GET, HEAD and listings answer the same one."""

from __future__ import annotations

from pathlib import Path

import pytest
from storage_helpers import BytesBody, open_layer, read_all, run

from storage_engine.drives import paths
from storage_engine.objects.types import PutOptions

OLD, NEW = b"o" * 1000, b"n" * 3000          # inline: each version's data lives in its metadata file


def meta_file(root: Path, drive: int, key: str) -> Path:
    return root / f"d{drive}" / "bkt" / paths.meta_path(key)


@pytest.mark.parametrize("old_on", [(0, 1), (2, 3), (1, 2)])
def test_reads_and_listings_agree_on_a_torn_overwrite(tmp_path: Path, old_on: tuple[int, ...]) -> None:
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        try:
            await layer.make_bucket("bkt")
            await layer.put_object("bkt", "k", BytesBody(OLD), PutOptions(size=len(OLD)))
            before = meta_file(tmp_path, 0, "k").read_bytes()
            await layer.put_object("bkt", "k", BytesBody(NEW), PutOptions(size=len(NEW)))
            for drive in old_on:                      # the overwrite reached only the other drives
                meta_file(tmp_path, drive, "k").write_bytes(before)
            listed = (await layer.list_objects("bkt")).objects
            body = await read_all(layer, "bkt", "k")
            info = await layer.get_object_info("bkt", "k")
            assert [o.size for o in listed] == [len(body)] == [info.size]
            assert body in (OLD, NEW)
        finally:
            await layer.close()
    run(scenario())


def test_a_torn_create_readable_from_its_drives_is_listed_once_healed(tmp_path: Path) -> None:
    """A new key that reached 2 of 4 drives (not acknowledged, but readable): a read finds it and
    queues its repair, after which listings show it too. Absent drives are never taken as proof that
    a readable key is gone (that would turn a drive's lost files into deleted objects)."""
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        try:
            await layer.make_bucket("bkt")
            await layer.put_object("bkt", "k", BytesBody(NEW), PutOptions(size=len(NEW)))
            for drive in (0, 1):                        # the create reached only drives 2 and 3
                meta_file(tmp_path, drive, "k").unlink()
            assert await read_all(layer, "bkt", "k") == NEW
            await layer.healer.drain()
            assert [o.key for o in (await layer.list_objects("bkt")).objects] == ["k"]
            assert all(meta_file(tmp_path, d, "k").exists() for d in range(4))
        finally:
            await layer.close()
    run(scenario())
