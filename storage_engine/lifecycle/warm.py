"""The warm tier: one more pool of drives (HDD-class volumes), erasure-coded like the hot pools.

Its drives are opened with the hot pools' (same deployment, same format, local or remote), but no PUT
ever lands there: only transitions, each stored as one object of the volume ``VOLUME`` under the key the
transition chose, with its own metadata and bitrot-checked shards. A read that finds shards missing or
corrupt serves from parity and heals the object in the background. The bytes are the version's stored
bytes (ciphertext when the object is encrypted).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator

from storage_engine import errors
from storage_engine.objects.pipeline import StreamBody
from storage_engine.config import BLOCK_SIZE
from storage_engine.drives.base import DriveError
from storage_engine.erasure.heal import heal_object
from storage_engine.erasure.metadata import PartMeta, Version
from storage_engine.erasure.set import ErasureSet, write_quorum
from storage_engine.lifecycle.tiers import TierError
from storage_engine.objects.placement import Placement, discard, write_data

log = logging.getLogger(__name__)

VOLUME = "rustfs-warm-tier"


class PoolTier:
    kind = "pool"

    def __init__(self, name: str, sets: list[ErasureSet]) -> None:
        self.name = name
        self.placement = Placement([sets])
        self._volumes_made = False
        self._healing: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def _make_volume(self) -> None:
        if self._volumes_made:
            return
        for es in self.placement.all_sets:
            for drive in es.online_drives():
                try:
                    await drive.make_volume(VOLUME)
                except DriveError as exc:
                    log.warning("tier %s: cannot make its volume on %s: %s", self.name, drive.endpoint, exc)
        self._volumes_made = True

    async def put(self, key: str, body: AsyncIterator[bytes | memoryview], size: int) -> str:
        await self._make_volume()
        es = await self.placement.set_for_write(VOLUME, key)
        parity = es.standard_parity
        k = es.n - parity
        distribution = es.distribution(key)
        try:
            stored = await write_data(es, k, parity, distribution, StreamBody(body, size), size, -1)
        except (errors.S3Error, DriveError) as exc:
            raise TierError(f"write: {exc}") from exc
        now = time.time()
        version = Version(version_id="null", data_id=uuid.uuid4().hex, mod_time=now, size=stored.size,
                          etag=stored.md5.hex(), data_blocks=k, parity_blocks=parity, block_size=BLOCK_SIZE,
                          distribution=distribution,
                          parts=[PartMeta(1, stored.size, stored.stored_size, stored.md5.hex(), now)])
        try:
            async with es.lock(VOLUME, key):
                view = await es.get_meta(VOLUME, key)
                done = await es.commit(VOLUME, key, view, [version], new_version=version, tmp_dirs=stored.tmp_dirs,
                                       quorum=write_quorum(k, parity))
        except BaseException as exc:
            await discard(es, stored.tmp_dirs)
            if isinstance(exc, (errors.S3Error, DriveError)):
                raise TierError(f"commit: {exc}") from exc
            raise
        await discard(es, {p: t for p, t in (stored.tmp_dirs or {}).items() if p not in done})
        return ""

    async def get(self, key: str, version: str, offset: int, length: int) -> AsyncIterator[bytes | memoryview]:
        if length <= 0:
            return
        es, view = await self.placement.locate(VOLUME, key)
        if view is None or view.versions[0].delete_marker:
            raise TierError(f"{key}: not on the tier")
        stored = view.versions[0]
        reader = await es.open_version(VOLUME, key, view, stored, on_damage=lambda: self._heal(es, key))
        try:
            async for piece in reader.stream(offset, length, views=True):
                yield piece
        except (errors.S3Error, DriveError) as exc:
            raise TierError(f"read: {exc}") from exc
        finally:
            reader.close()

    def _heal(self, es: ErasureSet, key: str) -> None:
        """A read found shards missing or corrupt: rebuild them in the background."""
        if key in self._healing:
            return
        self._healing.add(key)

        async def heal() -> None:
            try:
                result = await heal_object(es, VOLUME, key)
                if result.failed:
                    log.warning("tier %s: %s not healed: %s", self.name, key, "; ".join(result.details))
            finally:
                self._healing.discard(key)
        self._tasks.add(task := asyncio.create_task(heal()))
        task.add_done_callback(self._tasks.discard)

    async def delete(self, key: str, version: str) -> None:
        es, view = await self.placement.locate(VOLUME, key)
        if view is None:
            return
        try:
            async with es.lock(VOLUME, key):
                view = await es.get_meta(VOLUME, key)
                if view is None:
                    return
                await es.commit(VOLUME, key, view, [])
            await es.remove_data(VOLUME, key, [v.data_id for v in view.versions if v.has_data])
        except (errors.S3Error, DriveError) as exc:
            raise TierError(f"delete: {exc}") from exc

    async def probe(self) -> None:
        key = f".rustfs-probe/{uuid.uuid4().hex}"
        data = os.urandom(1024)

        async def body() -> AsyncIterator[bytes]:
            yield data
        await self.put(key, body(), len(data))
        back = b"".join([bytes(p) async for p in self.get(key, "", 0, len(data))])
        await self.delete(key, "")
        if back != data:
            raise TierError("read back: the bytes differ")

    async def close(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
