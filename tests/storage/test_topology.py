"""Several erasure sets and pools: placement, merged listings, lookups across pools; tmpfs fallback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from storage_helpers import BytesBody, read_all, run, settings

from storage_engine.objects.layer import open_object_layer
from storage_engine.objects.types import CompletePart, PutOptions
from storage_engine.topology import Pool

MIB = 1 << 20


def _pool(root: Path, name: str, count: int, set_size: int) -> Pool:
    return Pool(tuple(str(root / f"{name}{i}") for i in range(count)), set_size)


def test_sets_and_pools(tmp_path: Path) -> None:
    async def scenario() -> None:
        first = _pool(tmp_path, "a", 4, 2)                     # two sets of 2 drives (EC 1+1)
        layer = await open_object_layer([first], settings())
        await layer.make_bucket("bkt")
        keys = [f"dir{i % 3}/obj{i:02d}" for i in range(20)]
        for key in keys:
            await layer.put_object("bkt", key, BytesBody(key.encode() * 1000), PutOptions())
        used = {layer.sets_for("bkt", k)[0].index for k in keys}
        assert used == {0, 1}
        await layer.close()

        # Expansion: a second pool. Old keys stay in pool 0; new keys go to either, by free space.
        layer = await open_object_layer([first, _pool(tmp_path, "b", 4, 4)], settings())
        assert len(layer.pools) == 2
        listing = await layer.list_objects("bkt", max_keys=7)
        assert [o.key for o in listing.objects] == sorted(keys)[:7]
        grouped = await layer.list_objects("bkt", delimiter="/")
        assert grouped.prefixes == ["dir0/", "dir1/", "dir2/"]
        for key in keys:
            assert await read_all(layer, "bkt", key) == key.encode() * 1000
        await layer.put_object("bkt", "dir0/obj00", BytesBody(b"new"), PutOptions())
        assert await read_all(layer, "bkt", "dir0/obj00") == b"new"
        upload = await layer.new_multipart_upload("bkt", "mp", PutOptions())
        part = await layer.put_object_part("bkt", "mp", upload, 1, BytesBody(os.urandom(MIB)), PutOptions())
        await layer.complete_multipart_upload("bkt", "mp", upload, [CompletePart(1, part.etag)], PutOptions())
        assert (await layer.get_object_info("bkt", "mp")).size == MIB
        report = await layer.heal("bkt")
        assert report.objects_scanned == 21 and report.failures == 0
        for key in keys + ["mp"]:
            await layer.delete_object("bkt", key)
        await layer.delete_bucket("bkt")
        await layer.close()
    run(scenario())


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no tmpfs at /dev/shm")
def test_tmpfs_without_o_direct(tmp_path: Path) -> None:
    """tmpfs refuses O_DIRECT: shard files fall back to buffered writes + fdatasync."""
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(dir="/dev/shm"))

    async def scenario() -> None:
        layer = await open_object_layer([_pool(root, "d", 4, 4)], settings())
        try:
            await layer.make_bucket("bkt")
            data = os.urandom(3 * MIB + 123)
            await layer.put_object("bkt", "k", BytesBody(data), PutOptions())
            assert await read_all(layer, "bkt", "k") == data
        finally:
            await layer.close()
    try:
        run(scenario())
    finally:
        shutil.rmtree(root)
