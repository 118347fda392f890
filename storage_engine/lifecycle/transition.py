"""Transitions: a version's stored bytes move to a tier; its metadata stays in the hot set (docs/tiering.md).

Crash-safe by a journal in the config store (kind ``tier-journal``):

1. journal ``put{tier, remote key, bucket, key, version, data id}``;
2. stream the version's stored bytes to the tier (no lock: a version's data never changes);
3. under the key's lock, if the version is still there with the same data, commit it with its ``TierRef``
   and the tier's name as storage class, then remove its local shards;
4. drop the record.

A ``put`` record left by a crash (older than ``STALE_SECONDS``, so never one still in flight) is replayed:
committed, it is dropped; not, the remote copy (maybe partial) is deleted. Versions removed by a delete,
an overwrite or an expiry ``drop`` their remote copy after their metadata commit, through a ``delete``
record that stays until the tier has answered, so an unreachable tier never blocks a delete.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator

from storage_engine import errors
from storage_engine.objects.pipeline import StreamBody
from storage_engine.cluster.config_store import ConfigStore
from storage_engine.drives import paths
from storage_engine.drives.base import DriveError
from storage_engine.erasure.metadata import TierRef, Version, find
from storage_engine.erasure.set import ErasureSet, write_quorum
from storage_engine.lifecycle.registry import TierRegistry
from storage_engine.lifecycle.tiers import Tier, TierError, TierUnavailable, remote_key
from storage_engine.metrics.ilm import ilm_metrics
from storage_engine.objects import versions
from storage_engine.objects.placement import Placement, discard, write_data

log = logging.getLogger(__name__)

JOURNAL = "tier-journal"
STALE_SECONDS = 3600.0        # a put intent this old is no transition in flight any more


class TierReader:
    """A transitioned version's stored bytes, read from its tier (the ``VersionReader`` interface)."""

    __slots__ = ("_tier", "_ref", "_size")

    def __init__(self, tier: Tier, ref: TierRef, stored_size: int) -> None:
        self._tier = tier
        self._ref = ref
        self._size = stored_size

    def readable(self) -> bool:
        return True

    def stream(self, offset: int = 0, length: int | None = None,
               views: bool = False) -> AsyncIterator[bytes | memoryview]:
        offset = max(0, min(offset, self._size))
        length = self._size - offset if length is None else max(0, min(length, self._size - offset))
        return self._pieces(offset, length, views)

    async def _pieces(self, offset: int, length: int, views: bool) -> AsyncIterator[bytes | memoryview]:
        got = 0
        try:
            async for piece in self._tier.get(self._ref.key, self._ref.version, offset, length):
                got += len(piece)
                yield piece if views or isinstance(piece, bytes) else bytes(piece)
        except TierError as exc:
            raise TierUnavailable(self._tier.name, str(exc)) from None
        if got != length:
            raise TierUnavailable(self._tier.name, f"it returned {got} of {length} bytes")

    def close(self) -> None:
        return None


class Transitions:
    def __init__(self, placement: Placement, registry: TierRegistry, config: ConfigStore) -> None:
        self.placement = placement
        self.registry = registry
        self.config = config
        self.metrics = ilm_metrics()

    async def tier_of(self, name: str) -> Tier:
        tier = await self.registry.get(name)
        if tier is None:
            log.error("a version refers to tier %s, which is not configured", name)
            raise TierUnavailable(name, "no such tier is configured")
        return tier

    async def reader(self, version: Version) -> TierReader:
        assert version.tier is not None
        return TierReader(await self.tier_of(version.tier.tier), version.tier, _stored_size(version))

    async def transition(self, bucket: str, key: str, version_id: str, tier_name: str) -> bool:
        """Move the version's stored bytes to ``tier_name`` (from the hot set or from another tier); True
        when it moved. Raises TierError or an S3Error (quorum) when it could not: the version then stays
        where it was."""
        es, view = await self.placement.locate(bucket, key)
        version = find(view.versions, version_id) if view is not None else None
        if view is None or version is None or version.delete_marker:
            return False
        old = version.tier
        if old is not None and old.tier == tier_name:
            return False
        tier = await self.tier_of(tier_name)
        size = _stored_size(version)
        ref_key = remote_key()
        record = uuid.uuid4().hex
        await self._journal(record, {"op": "put", "tier": tier_name, "remote": ref_key, "bucket": bucket,
                                     "key": key, "version": version_id, "data": version.data_id})
        source = await self.reader(version) if old is not None else \
            await es.open_version(bucket, key, view, version, on_damage=lambda: None)
        try:
            remote_version = await tier.put(ref_key, source.stream(0, size), size)
        except BaseException:
            source.close()
            await self._undo_put(tier, ref_key, record)
            raise
        source.close()
        ref = TierRef(tier_name, ref_key, remote_version)
        committed = False
        try:
            async with es.lock(bucket, key):
                current = await es.get_meta(bucket, key)
                now = find(current.versions, version_id) if current is not None else None
                if current is not None and now is not None and now.data_id == version.data_id and now.tier == old:
                    moved = dataclasses.replace(now, tier=ref, storage_class=tier_name, inline=False)
                    await es.commit(bucket, key, current,
                                    [moved if v is now else v for v in current.versions])
                    committed = True
        finally:
            if not committed:
                await self._undo_put(tier, ref_key, record)
        if not committed:
            return False                       # changed meanwhile: the new state stands, the copy is gone
        if old is not None:
            await self._delete_remote(old)
        if version.has_data:                   # the hot shards, or a restored copy
            await es.remove_data(bucket, key, [version.data_id])
        await self.config.delete(JOURNAL, record)
        self.metrics.transitioned.inc()
        self.metrics.transitioned_bytes.inc(size)
        return True

    async def restore(self, bucket: str, key: str, version_id: str, until: float) -> bool:
        """Copy a transitioned version's stored bytes back onto the hot drives, kept until ``until``; True
        when a restored copy was there already (only its time changes). InvalidObjectState for a version
        that is not on a tier."""
        es, view = await self.placement.locate(bucket, key)
        version = find(view.versions, version_id) if view is not None else None
        if version is None or version.delete_marker:
            raise errors.NoSuchVersion()
        ref = version.tier
        if ref is None:
            raise errors.InvalidObjectState("The object is not on a tier: there is nothing to restore.")
        if not version.has_data:
            tier = await self.tier_of(ref.tier)
            tmp_dirs = await self._copy_back(es, tier, version)
        else:
            tmp_dirs = None
        committed = False
        try:
            async with es.lock(bucket, key):
                current = await es.get_meta(bucket, key)
                now = find(current.versions, version_id) if current is not None else None
                if current is None or now is None or now.data_id != version.data_id or now.tier is None \
                        or now.tier.key != ref.key or now.has_data != version.has_data:
                    raise errors.ServiceUnavailable("The object changed during the restore. Please retry.")
                until = max(until, now.tier.restored_until)
                restored = dataclasses.replace(now, tier=dataclasses.replace(now.tier, restored_until=until))
                await es.commit(bucket, key, current, [restored if v is now else v for v in current.versions],
                                new_version=restored if tmp_dirs else None, tmp_dirs=tmp_dirs,
                                quorum=write_quorum(version.data_blocks, version.parity_blocks))
                committed = True
        finally:
            if tmp_dirs and not committed:
                await discard(es, tmp_dirs)
        return tmp_dirs is None

    async def end_restore(self, es: ErasureSet, bucket: str, key: str, now: float) -> int:
        """Drop the restored copies of ``key`` whose time is up (the caller holds no lock); how many."""
        async with es.lock(bucket, key):
            view = await es.get_meta(bucket, key)
            if view is None:
                return 0
            ended = [v for v in view.versions if v.tier is not None and 0 < v.tier.restored_until <= now]
            if not ended:
                return 0
            await es.commit(bucket, key, view, [
                dataclasses.replace(v, tier=dataclasses.replace(v.tier, restored_until=0.0))
                if v in ended and v.tier is not None else v for v in view.versions])
        await es.remove_data(bucket, key, [v.data_id for v in ended])
        return len(ended)

    async def _copy_back(self, es: ErasureSet, tier: Tier, version: Version) -> dict[int, str]:
        """Each part's stored bytes from the tier into shard files (the version's own erasure layout) in
        one temporary dir per drive, ready for the commit."""
        assert version.tier is not None
        reader = TierReader(tier, version.tier, _stored_size(version))
        k, m = version.data_blocks, version.parity_blocks
        tmp_dirs: dict[int, str] | None = None
        offset = 0
        try:
            for part in version.parts:
                name = f"part.{part.number}"
                stored = await write_data(es, k, m, version.distribution,
                                          StreamBody(reader.stream(offset, part.stored_size), part.stored_size),
                                          part.stored_size, -1, name=name)
                offset += part.stored_size
                written = stored.tmp_dirs or {}
                if tmp_dirs is None:
                    tmp_dirs = written
                    continue
                kept: dict[int, str] = {}
                for pos, tmp in written.items():
                    drive = es.drives[pos]
                    if pos in tmp_dirs and drive is not None:
                        try:
                            await drive.rename(paths.SYS_VOLUME, f"{tmp}/{name}", paths.SYS_VOLUME,
                                               f"{tmp_dirs[pos]}/{name}")
                            kept[pos] = tmp_dirs[pos]
                        except DriveError as exc:
                            log.warning("restore: cannot gather %s on %s: %s", name, drive.endpoint, exc)
                await discard(es, written)
                await discard(es, {p: t for p, t in tmp_dirs.items() if p not in kept})
                tmp_dirs = kept
        except BaseException:
            await discard(es, tmp_dirs)
            raise
        if tmp_dirs is None or len(tmp_dirs) < write_quorum(k, m):
            await discard(es, tmp_dirs)
            raise errors.InsufficientWriteQuorum()
        return tmp_dirs

    async def drop(self, es: ErasureSet, bucket: str, key: str, removed: list[Version]) -> None:
        """After a metadata commit removed ``removed``: delete their data, local shards and remote copies."""
        await versions.remove_local(es, bucket, key, removed)
        for version in removed:
            if version.tier is not None:
                await self._delete_remote(version.tier)

    async def _delete_remote(self, ref: TierRef) -> None:
        """Delete a copy no version refers to any more; a ``delete`` record keeps it for ``replay`` until
        the tier has answered."""
        record = uuid.uuid4().hex
        await self._journal(record, {"op": "delete", "tier": ref.tier, "remote": ref.key, "rv": ref.version})
        try:
            tier = await self.tier_of(ref.tier)
            await tier.delete(ref.key, ref.version)
        except (TierError, errors.S3Error) as exc:
            log.warning("tier %s: remote copy %s not deleted yet (%s); retried later", ref.tier, ref.key, exc)
            return
        await self.config.delete(JOURNAL, record)

    async def replay(self) -> int:
        """Finish what crashed or unreachable tiers left in the journal; returns how many records remain."""
        left = 0
        for record in await self.config.names(JOURNAL):
            raw = await self.config.get(JOURNAL, record)
            if raw is None:
                continue
            entry = json.loads(raw)
            try:
                done = await self._replay_one(entry)
            except (TierError, errors.S3Error, DriveError) as exc:
                log.warning("tier journal %s: %s", record, exc)
                done = False
            if done:
                await self.config.delete(JOURNAL, record)
            else:
                left += 1
        return left

    async def _replay_one(self, entry: dict[str, str]) -> bool:
        tier = await self.registry.get(entry["tier"])
        if tier is None:
            log.error("tier journal: tier %s is gone; %s left on it", entry["tier"], entry["remote"])
            return True
        if entry["op"] == "delete":
            await tier.delete(entry["remote"], entry.get("rv", ""))
            return True
        if time.time() - float(entry["at"]) < STALE_SECONDS:
            return False                       # may still be in flight
        es, view = await self.placement.locate(entry["bucket"], entry["key"])
        version = find(view.versions, entry["version"]) if view is not None else None
        if version is not None and version.tier is not None and version.tier.key == entry["remote"]:
            return True                        # committed: only the record was left
        await tier.delete(entry["remote"], "")
        return True

    async def _undo_put(self, tier: Tier, ref_key: str, record: str) -> None:
        try:
            await tier.delete(ref_key, "")
        except TierError as exc:
            log.warning("tier %s: partial copy %s not deleted (%s); the journal retries", tier.name, ref_key, exc)
            return
        await self.config.delete(JOURNAL, record)

    async def _journal(self, record: str, entry: dict[str, str]) -> None:
        await self.config.put(JOURNAL, record, json.dumps({**entry, "at": time.time()}).encode())


class TransitionQueue:
    """Transitions the scanner's walk found due, run by ``workers`` tasks: the walk never waits on a transfer,
    and a transfer is not paced like the walk. Bounded: when full, the transition is left for the next pass
    (``rustfs_ilm_missed_total``)."""

    def __init__(self, transitions: Transitions, workers: int = 2, size: int = 10_000) -> None:
        self._transitions = transitions
        self._workers = workers
        self._queue: asyncio.Queue[tuple[str, str, str, str]] = asyncio.Queue(size)
        self._pending: set[tuple[str, str, str, str]] = set()      # queued or in flight
        self._tasks: list[asyncio.Task[None]] = []
        self.metrics = ilm_metrics()

    def offer(self, bucket: str, key: str, version_id: str, tier: str) -> None:
        item = (bucket, key, version_id, tier)
        if item in self._pending:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.metrics.missed.inc()
            return
        self._pending.add(item)
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._work(), name=f"transition-{n}") for n in range(self._workers)]

    async def join(self) -> None:
        """Until every queued transition is done (tests, shutdown)."""
        await self._queue.join()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            bucket, key, version_id, tier = item
            try:
                await self._transitions.transition(bucket, key, version_id, tier)
            except (TierError, errors.S3Error, DriveError) as exc:
                self.metrics.errors.inc()
                log.warning("lifecycle: %s/%s (%s) not moved to %s this pass: %s", bucket, key, version_id, tier, exc)
            except Exception:
                self.metrics.errors.inc()
                log.exception("lifecycle: %s/%s (%s) not moved to %s", bucket, key, version_id, tier)
            finally:
                self._pending.discard(item)
                self._queue.task_done()


def _stored_size(version: Version) -> int:
    return sum(p.stored_size for p in version.parts)

