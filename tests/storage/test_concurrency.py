"""Concurrent writers and readers, cross-process locking, and bounded memory while streaming."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import tracemalloc
from pathlib import Path

from storage_helpers import BytesBody, GeneratedBody, drive_paths, open_layer, read_all, run, settings

from storage_engine.objects.layer import ErasureObjectLayer, open_object_layer
from storage_engine.objects.types import PutOptions
from storage_engine.topology import Pool

MIB = 1 << 20


class SlowBody(BytesBody):
    """Yields to the event loop on every read, so concurrent PUTs interleave block by block."""

    async def read(self, n: int) -> bytes:
        await asyncio.sleep(0)
        return await super().read(n)


def test_two_concurrent_puts_leave_one_complete_version(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        for size in (1000, 3 * MIB + 1):
            a, b = os.urandom(size), os.urandom(size)
            await asyncio.gather(layer.put_object("bkt", "k", SlowBody(a, 65536), PutOptions()),
                                 layer.put_object("bkt", "k", SlowBody(b, 65536), PutOptions()))
            assert await read_all(layer, "bkt", "k") in (a, b)
            assert len((await layer.list_object_versions("bkt")).versions) == 1
        # Only the live version's data remains on disk.
        data_dirs = list((Path(layer.all_sets[0].drives[0].endpoint) / "bkt" / "k.xl.data").iterdir())  # type: ignore[union-attr]
        assert len(data_dirs) == 1
    with_layer(scenario)


def test_reader_survives_overwrite(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        old = os.urandom(6 * MIB)
        await layer.put_object("bkt", "k", BytesBody(old), PutOptions())
        reader = await layer.get_object("bkt", "k")
        stream = reader.stream()
        first = await anext(stream)
        await layer.put_object("bkt", "k", BytesBody(b"new"), PutOptions())     # deletes the old data dir
        rest = b"".join([chunk async for chunk in stream])
        await reader.close()
        assert first + rest == old
        assert await read_all(layer, "bkt", "k") == b"new"
    with_layer(scenario)


def test_if_none_match_race_admits_one(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        results = await asyncio.gather(*(layer.put_object("bkt", "once", SlowBody(bytes([i]) * 1000),
                                                          PutOptions(if_none_match_star=True)) for i in range(5)),
                                       return_exceptions=True)
        assert sum(not isinstance(r, BaseException) for r in results) == 1
    with_layer(scenario)


def _worker_puts(root: str, worker: int, rounds: int) -> None:
    async def main() -> None:
        layer = await open_object_layer([Pool(tuple(drive_paths(Path(root))), 4)], settings())
        try:
            for i in range(rounds):
                await layer.put_object("bkt", "shared", BytesBody(bytes([worker]) * (200_000 + i)), PutOptions())
        finally:
            await layer.close()
    asyncio.run(main())


def test_processes_share_drives(tmp_path: Path) -> None:
    """Worker processes on the same drives: the flock serializes them, every version stays whole."""
    async def setup() -> None:
        layer = await open_layer(tmp_path)
        await layer.make_bucket("bkt")
        await layer.set_bucket_versioning("bkt", "Enabled")
        await layer.close()
    run(setup())
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_puts, args=(str(tmp_path), w, 5)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0

    async def check() -> None:
        layer = await open_layer(tmp_path)
        versions = (await layer.list_object_versions("bkt")).versions
        assert len(versions) == 10
        for v in versions:
            data = await read_all(layer, "bkt", "shared", v.version_id)
            assert len(set(data)) == 1 and len(data) == v.size
        await layer.close()
    run(check())


def test_streamed_put_memory_is_bounded(with_layer) -> None:
    size = 200 * MIB

    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        tracemalloc.start()
        try:
            info = await layer.put_object("bkt", "huge", GeneratedBody(size), PutOptions())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert info.size == size
        assert peak < 24 * MIB, peak
        total = 0
        reader = await layer.get_object("bkt", "huge", None)
        tracemalloc.start()
        try:
            async for chunk in reader.stream():
                total += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await reader.close()
        assert total == size and peak < 24 * MIB, peak
    with_layer(scenario)
