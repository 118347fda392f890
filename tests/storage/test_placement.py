"""Placement across pools: new keys in proportion to free space, full pools skipped, existing keys stay put."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, cast

import pytest
from storage_helpers import BytesBody, read_all, run, settings

from storage_engine.drives.base import DiskInfo, Drive
from storage_engine.objects.layer import ErasureObjectLayer, open_object_layer
from storage_engine.objects.placement import Placement
from storage_engine.objects.types import CompletePart, PutOptions
from storage_engine.topology import Pool

GIB = 1 << 30
ROOMY = DiskInfo(1000 * GIB, 500 * GIB)
FULL = DiskInfo(1000 * GIB, 10 * GIB)             # 99 % used: over the limit


class ReportedSpace:
    """A real drive that reports the capacity the test chooses, and counts how often it is asked."""

    def __init__(self, inner: Drive, info: DiskInfo) -> None:
        self.inner = inner
        self.info = info
        self.asked = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def disk_info(self) -> DiskInfo:
        self.asked += 1
        return self.info


async def _open(root: Path) -> tuple[ErasureObjectLayer, list[list[ReportedSpace]]]:
    """Pools: a (2 sets of 2 drives), b (1 set of 2), c (1 set of 2); every drive wrapped, roomy."""
    pools = [Pool(tuple(str(root / f"{name}{i}") for i in range(count)), 2)
             for name, count in (("a", 4), ("b", 2), ("c", 2))]
    layer = await open_object_layer(pools, settings())
    wrapped: list[list[ReportedSpace]] = []
    for pool in layer.pools:
        drives = []
        for es in pool:
            for pos, drive in enumerate(es.drives):
                assert drive is not None
                es.drives[pos] = cast(Drive, ReportedSpace(drive, ROOMY))
                drives.append(cast(ReportedSpace, es.drives[pos]))
        wrapped.append(drives)
    if not await layer.buckets.exists("bkt"):
        await layer.make_bucket("bkt")
    return layer, wrapped


def _report(drives: list[ReportedSpace], info: DiskInfo) -> None:
    for drive in drives:
        drive.info = info


async def _pools_chosen(placement: Placement, keys: list[str]) -> Counter[int]:
    return Counter([(await placement.set_for_write("bkt", key)).pool for key in keys])


def _holders(root: Path, key: str) -> set[str]:
    """The pools (by drive-name letter) whose drives hold the key's metadata."""
    return {d.name[0] for d in root.iterdir() if (d / "bkt" / f"{key}.xl.meta").exists()}


def test_new_keys_follow_free_space(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer, wrapped = await _open(tmp_path)
        # Weights: a = 2 sets x (100 + 100) = 400, b = 1 set x (300 + 300) = 600, c nearly full.
        _report(wrapped[0], DiskInfo(1000 * GIB, 100 * GIB))
        _report(wrapped[1], DiskInfo(1000 * GIB, 300 * GIB))
        _report(wrapped[2], FULL)
        keys = [f"key-{i}" for i in range(2000)]
        chosen = await _pools_chosen(Placement(layer.pools), keys)
        assert chosen[2] == 0
        assert chosen[0] / len(keys) == pytest.approx(0.4, abs=0.05)
        assert chosen[1] / len(keys) == pytest.approx(0.6, abs=0.05)
        # Space is measured once per set and cached, not once per key.
        assert max(d.asked for pool in wrapped for d in pool) <= 5

        # The choice is a function of the key: asking again (another node, a retry) gives the same pool.
        again = Placement(layer.pools)
        assert [(await again.set_for_write("bkt", k)).pool for k in keys[:100]] == \
               [(await again.set_for_write("bkt", k)).pool for k in keys[:100]]

        # When every pool is nearly full, free space still decides among them all.
        for pool in wrapped:
            _report(pool, FULL)
        _report(wrapped[1], DiskInfo(1000 * GIB, 40 * GIB))
        chosen = await _pools_chosen(Placement(layer.pools), keys)
        assert set(chosen) == {0, 1, 2}
        assert chosen[1] / len(keys) == pytest.approx(80 / (40 + 80 + 20), abs=0.05)
        await layer.close()
    run(scenario())


def test_objects_land_where_placed_and_stay(tmp_path: Path) -> None:
    async def scenario() -> None:
        layer, wrapped = await _open(tmp_path)
        _report(wrapped[0], FULL)                   # new keys go to b and c only
        keys = [f"obj-{i}" for i in range(24)]
        for key in keys:
            await layer.put_object("bkt", key, BytesBody(key.encode() * 100), PutOptions())
        home = {key: _holders(tmp_path, key) for key in keys}
        assert all(len(pools) == 1 for pools in home.values())
        assert {p for pools in home.values() for p in pools} == {"b", "c"}

        # A multipart upload of a new key goes to a pool with room too.
        upload = await layer.new_multipart_upload("bkt", "mp", PutOptions())
        part = await layer.put_object_part("bkt", "mp", upload, 1, BytesBody(b"m" * 1000), PutOptions())
        await layer.complete_multipart_upload("bkt", "mp", upload, [CompletePart(1, part.etag)], PutOptions())
        assert _holders(tmp_path, "mp") <= {"b", "c"} and len(_holders(tmp_path, "mp")) == 1

        # After a restart only a has room: overwrites and deletes stay in the pool that holds the key.
        await layer.close()
        layer, wrapped = await _open(tmp_path)
        _report(wrapped[1], FULL)
        _report(wrapped[2], FULL)
        for key in keys:
            await layer.put_object("bkt", key, BytesBody(b"new " + key.encode()), PutOptions())
            assert _holders(tmp_path, key) == home[key]
            assert await read_all(layer, "bkt", key) == b"new " + key.encode()
        await layer.put_object("bkt", "fresh", BytesBody(b"fresh"), PutOptions())
        assert _holders(tmp_path, "fresh") == {"a"}
        await layer.delete_object("bkt", keys[0])
        assert _holders(tmp_path, keys[0]) == set()
        listing = await layer.list_objects("bkt")
        assert [o.key for o in listing.objects] == sorted(keys[1:] + ["fresh", "mp"])
        await layer.close()
    run(scenario())


def test_new_pool_gets_the_bucket_directory(tmp_path: Path) -> None:
    """A bucket made before a pool was added can take new keys in that pool before any heal pass."""
    async def scenario() -> None:
        first = Pool(tuple(str(tmp_path / f"a{i}") for i in range(2)), 2)
        layer = await open_object_layer([first], settings())
        await layer.make_bucket("bkt")
        await layer.close()
        second = Pool(tuple(str(tmp_path / f"b{i}") for i in range(2)), 2)
        layer = await open_object_layer([first, second], settings())
        for es in layer.all_sets:
            for pos, drive in enumerate(es.drives):
                assert drive is not None
                es.drives[pos] = cast(Drive, ReportedSpace(drive, FULL if es.pool == 0 else ROOMY))
        await layer.put_object("bkt", "k", BytesBody(b"into the new pool"), PutOptions())
        assert _holders(tmp_path, "k") == {"b"}
        assert await read_all(layer, "bkt", "k") == b"into the new pool"
        await layer.close()
    run(scenario())
