"""Transitions' journal (lifecycle/transition.py), driven on the object layer with a real warm pool: a failed or
raced transfer leaves the version where it was and nothing on the tier, a crash's leftovers are cleaned up by
the replay, and a remote delete the tier refused is retried until it is done."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from storage_engine.lifecycle.tiers import Tier, TierError
from storage_engine.lifecycle.transition import JOURNAL, STALE_SECONDS
from storage_engine.objects.layer import ErasureObjectLayer, open_object_layer
from storage_engine.objects.types import PutOptions
from storage_engine.topology import all_pools
from tests.storage.storage_helpers import BytesBody, read_all, run, settings

DATA = os.urandom(2 * 1024 * 1024 + 333)


async def open_tiered(root: Path) -> ErasureObjectLayer:
    values = settings(volumes=f"{root}/d{{1...4}}", tiers=[{"type": "pool", "name": "WARM",
                                                             "drives": f"{root}/w{{1...4}}"}])
    layer = await open_object_layer(all_pools(values), values)
    await layer.make_bucket("bkt")
    await layer.put_object("bkt", "obj", BytesBody(DATA), PutOptions())
    return layer


def with_tiered(root: Path, body: Callable[[ErasureObjectLayer, Tier], Awaitable[None]]) -> None:
    """Run ``body(layer, warm tier)`` on a fresh layer holding ``bkt/obj``."""
    async def main() -> None:
        layer = await open_tiered(root)
        try:
            tier = await layer.tiers.get("WARM")
            assert tier is not None
            await body(layer, tier)
        finally:
            await layer.close()
    run(main())


def warm_parts(root: Path) -> list[Path]:
    return [p for i in range(1, 5) for p in (root / f"w{i}").rglob("part.*") if ".rustfs.sys" not in p.parts]


async def journal(layer: ErasureObjectLayer) -> list[dict[str, Any]]:
    config = layer.buckets.config
    return [json.loads(await config.get(JOURNAL, name) or b"{}") for name in await config.names(JOURNAL)]


async def storage_class(layer: ErasureObjectLayer) -> str:
    return (await layer.get_object_info("bkt", "obj")).storage_class


def test_a_transfer_that_fails_leaves_the_version_hot_and_nothing_behind(tmp_path: Path) -> None:
    async def main(layer: ErasureObjectLayer, tier: Tier) -> None:
        real_put = tier.put

        async def failing_put(key: str, body: AsyncIterator[bytes | memoryview], size: int) -> str:
            async def half() -> AsyncIterator[bytes | memoryview]:
                async for piece in body:
                    yield piece
                    raise TierError("connection reset")
            return await real_put(key, half(), size)
        tier.put = failing_put  # type: ignore[method-assign]
        version = (await layer.get_object_info("bkt", "obj")).version_id
        with pytest.raises(TierError):
            await layer.transitions.transition("bkt", "obj", version, "WARM")
        assert await storage_class(layer) == "STANDARD"
        assert await read_all(layer, "bkt", "obj") == DATA
        assert warm_parts(tmp_path) == [] and await journal(layer) == []
    with_tiered(tmp_path, main)


def test_an_overwrite_during_the_transfer_wins_and_the_copy_is_removed(tmp_path: Path) -> None:
    async def main(layer: ErasureObjectLayer, tier: Tier) -> None:
        real_put = tier.put
        newer = os.urandom(1000)

        async def racing_put(key: str, body: AsyncIterator[bytes | memoryview], size: int) -> str:
            remote_version = await real_put(key, body, size)
            await layer.put_object("bkt", "obj", BytesBody(newer), PutOptions())
            return remote_version
        tier.put = racing_put  # type: ignore[method-assign]
        version = (await layer.get_object_info("bkt", "obj")).version_id
        assert await layer.transitions.transition("bkt", "obj", version, "WARM") is False
        assert await read_all(layer, "bkt", "obj") == newer
        assert warm_parts(tmp_path) == [] and await journal(layer) == []
    with_tiered(tmp_path, main)


def test_the_replay_removes_a_crashed_transfer_and_keeps_a_committed_one(tmp_path: Path) -> None:
    async def main(layer: ErasureObjectLayer, tier: Tier) -> None:
        version = (await layer.get_object_info("bkt", "obj")).version_id
        assert await layer.transitions.transition("bkt", "obj", version, "WARM")
        assert len(warm_parts(tmp_path)) == 4

        async def body() -> AsyncIterator[bytes]:
            yield DATA
        await tier.put("orphan/key", body(), len(DATA))         # a transfer whose process died
        assert len(warm_parts(tmp_path)) == 8
        info = await layer.get_object_info("bkt", "obj")
        _, view, stored = await layer.resolve_version("bkt", "obj", info.version_id)
        assert stored.tier is not None and view is not None
        config = layer.buckets.config
        old = time.time() - STALE_SECONDS - 1
        await config.put(JOURNAL, "crashed", json.dumps({
            "op": "put", "tier": "WARM", "remote": "orphan/key", "bucket": "bkt", "key": "obj",
            "version": version, "data": stored.data_id, "at": old}).encode())
        await config.put(JOURNAL, "committed", json.dumps({
            "op": "put", "tier": "WARM", "remote": stored.tier.key, "bucket": "bkt", "key": "obj",
            "version": version, "data": stored.data_id, "at": old}).encode())
        await config.put(JOURNAL, "in-flight", json.dumps({
            "op": "put", "tier": "WARM", "remote": "other/key", "bucket": "bkt", "key": "obj",
            "version": version, "data": stored.data_id, "at": time.time()}).encode())
        assert await layer.transitions.replay() == 1                     # the fresh intent waits
        assert [e["remote"] for e in await journal(layer)] == ["other/key"]
        assert len(warm_parts(tmp_path)) == 4                            # the orphan went, the object stays
        assert await read_all(layer, "bkt", "obj") == DATA
    with_tiered(tmp_path, main)


def test_a_remote_delete_the_tier_refused_is_retried(tmp_path: Path) -> None:
    async def main(layer: ErasureObjectLayer, tier: Tier) -> None:
        version = (await layer.get_object_info("bkt", "obj")).version_id
        assert await layer.transitions.transition("bkt", "obj", version, "WARM")
        real_delete = tier.delete

        async def refusing_delete(key: str, version: str) -> None:
            raise TierError("unreachable")
        tier.delete = refusing_delete  # type: ignore[method-assign]
        await layer.delete_object("bkt", "obj")             # never blocked by the tier
        assert [e["op"] for e in await journal(layer)] == ["delete"]
        assert len(warm_parts(tmp_path)) == 4
        assert await layer.transitions.replay() == 1        # still refused: kept
        tier.delete = real_delete  # type: ignore[method-assign]
        assert await layer.transitions.replay() == 0
        assert warm_parts(tmp_path) == [] and await journal(layer) == []
    with_tiered(tmp_path, main)
