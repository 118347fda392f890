"""Where a key lives, and writing its shards before a commit.

Pools in order, each split into erasure sets; a key lives in the set its hash selects in one pool.
Existing keys are looked up in every pool and stay where they are. A new key goes to the set it hashes
to in one pool, chosen in proportion to free space (MinIO's rule, DISTRIBUTED-NOTES.md section 7):
each pool weighs the free bytes of that set times its number of sets, and a pool whose set has a drive
over ``FULL_FRACTION`` used is skipped unless all are. The weighted choice is drawn from a second hash
of the key rather than at random, so concurrent first writes of one key pick the same pool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence

import xxhash

from storage_engine import errors
from storage_engine.config import BLOCK_SIZE
from storage_engine.drives import paths
from storage_engine.drives.base import Drive, DriveError
from storage_engine.erasure.codec import get_codec
from storage_engine.erasure.set import ErasureSet, MetaView
from storage_engine.erasure.writer import encode_inline
from storage_engine.objects import names
from storage_engine.objects.pipeline import StoredStream
from storage_engine.objects.transform import WriteTransform
from storage_engine.objects.types import PutBody

MAX_OBJECT_SIZE = 5 * 1024 ** 3
STORAGE_CLASSES = ("STANDARD", "REDUCED_REDUNDANCY")
FULL_FRACTION = 0.95
SPACE_TTL_SECONDS = 5.0
_CHOICE_SEED = 0x706F6F6C             # independent of the set hash, so pool and set choices do not correlate


@dataclasses.dataclass(frozen=True, slots=True)
class SetSpace:
    """Free bytes over a set's online drives, and whether one of them is nearly full."""

    free: int
    nearly_full: bool


class Placement:
    """The pools of erasure sets, and which set a key is (or goes) in."""

    def __init__(self, pools: list[list[ErasureSet]]) -> None:
        self.pools = pools
        self._space: dict[tuple[int, int], tuple[float, asyncio.Future[SetSpace]]] = {}
        self._bucket_dirs: set[tuple[int, int, str]] = set()

    @property
    def all_sets(self) -> list[ErasureSet]:
        return [s for pool in self.pools for s in pool]

    def sets_for(self, bucket: str, key: str) -> list[ErasureSet]:
        """The set ``key`` hashes to, in each pool (first pool first)."""
        h = xxhash.xxh3_64_intdigest(f"{bucket}/{key}".encode())
        return [pool[h % len(pool)] for pool in self.pools]

    async def locate(self, bucket: str, key: str) -> tuple[ErasureSet, MetaView | None]:
        """The set holding ``key`` and its metadata; for a key no pool holds, the first pool's set."""
        if not names.is_valid_bucket(bucket):
            raise errors.NoSuchBucket(resource=bucket)
        candidates = self.sets_for(bucket, key)
        for es in candidates:
            view = await es.get_meta(bucket, key)
            if view is not None:
                return es, view
        return candidates[0], None

    @staticmethod
    def parity(es: ErasureSet, storage_class: str) -> int:
        if storage_class not in STORAGE_CLASSES:
            raise errors.InvalidStorageClass()
        return es.parity_of(storage_class)

    async def set_for_write(self, bucket: str, key: str) -> ErasureSet:
        """The set holding ``key``, or for a new key the one its pool's free space wins it."""
        candidates = self.sets_for(bucket, key)
        if len(candidates) == 1:
            return candidates[0]
        es, view = await self.locate(bucket, key)
        if view is not None:
            return es
        es = await self._by_free_space(bucket, key, candidates)
        await self._ensure_bucket_dir(es, bucket)
        return es

    async def _ensure_bucket_dir(self, es: ErasureSet, bucket: str) -> None:
        """A pool added after the bucket was made lacks its directory until a heal pass: make it now."""
        ident = (es.pool, es.index, bucket)
        if ident in self._bucket_dirs:
            return

        async def make(drive: Drive) -> None:
            try:
                await drive.make_volume(bucket)
            except DriveError:
                pass                           # the commit's quorum decides whether enough drives have it
        await asyncio.gather(*(make(d) for d in es.drives if d is not None))
        self._bucket_dirs.add(ident)

    async def _by_free_space(self, bucket: str, key: str, candidates: list[ErasureSet]) -> ErasureSet:
        spaces = await asyncio.gather(*(self._space_of(es) for es in candidates))
        weights = [space.free * len(self.pools[es.pool]) for es, space in zip(candidates, spaces)]
        if not all(space.nearly_full for space in spaces):
            weights = [0 if space.nearly_full else w for w, space in zip(weights, spaces)]
        total = sum(weights)
        if total <= 0:
            return candidates[0]
        point = xxhash.xxh3_64_intdigest(f"{bucket}/{key}".encode(), seed=_CHOICE_SEED) / 2 ** 64 * total
        for es, weight in zip(candidates, weights):
            if point < weight:
                return es
            point -= weight
        return next(es for es, w in zip(candidates, weights) if w > 0)   # rounding at the very end

    async def _space_of(self, es: ErasureSet) -> SetSpace:
        """The set's space, measured at most every ``SPACE_TTL_SECONDS`` (one measurement in flight)."""
        now = time.monotonic()
        cached = self._space.get((es.pool, es.index))
        if cached is None or cached[0] <= now:
            cached = (now + SPACE_TTL_SECONDS, asyncio.ensure_future(_measure(es.drives)))
            self._space[(es.pool, es.index)] = cached
        return await asyncio.shield(cached[1])


async def _measure(drives: Sequence[Drive | None]) -> SetSpace:
    async def one(drive: Drive) -> tuple[int, bool]:
        try:
            info = await drive.disk_info()
        except DriveError:
            return 0, False                # offline drives count for nothing, and do not block the set
        if info.total <= 0:
            return 0, False
        return info.free, info.total - info.free > FULL_FRACTION * info.total
    measured = await asyncio.gather(*(one(d) for d in drives if d is not None))
    return SetSpace(sum(free for free, _ in measured), any(full for _, full in measured))


# --- shard writing ----------------------------------------------------------------------------------
@dataclasses.dataclass(slots=True)
class StoredData:
    """A body written out but not yet committed: inline shards, or shard files in temporary dirs."""

    size: int
    stored_size: int
    md5: bytes
    inline_shards: list[bytes] | None = None
    tmp_dirs: dict[int, str] | None = None


async def write_data(es: ErasureSet, k: int, m: int, distribution: list[int], body: PutBody,
                     size_hint: int | None, inline_threshold: int, transform: WriteTransform | None = None,
                     name: str = "part.1") -> StoredData:
    """Stream ``body`` through the pipeline (and ``transform``, this PUT's own) into inline shards (small)
    or temporary shard files. ``size_hint`` is the body's length; with a transform, the stored length."""
    source = StoredStream(body, transform, BLOCK_SIZE)
    first = await source.read(inline_threshold + 1) if inline_threshold >= 0 else b""
    if inline_threshold >= 0 and len(first) <= inline_threshold:
        shards = encode_inline(get_codec(k, m), first, BLOCK_SIZE)
        return StoredData(source.size, source.stored_size, await source.md5.digest(), inline_shards=shards)
    writer, tmp_dirs = await es.create_writers(k, m, distribution, size_hint or 0, name)
    try:
        carry = first
        while True:
            if len(carry) < BLOCK_SIZE:
                carry += await source.read(BLOCK_SIZE - len(carry))
            block, carry = carry[:BLOCK_SIZE], carry[BLOCK_SIZE:]
            if not block:
                break
            if source.stored_size > MAX_OBJECT_SIZE:
                raise errors.EntityTooLarge()
            await writer.write(block)
            if len(block) < BLOCK_SIZE:
                break
        md5 = await source.md5.digest()
        written = await writer.close()
    except BaseException:
        await writer.abort()
        await discard(es, tmp_dirs)
        raise
    # Only shards whose close succeeded may be committed (and count toward the write quorum): its final
    # flush, or with a group commit its last write (the commit's barrier flushes it, and fails it there).
    durable = {distribution[s] for s, ok in enumerate(written) if ok}
    await discard(es, {pos: tmp for pos, tmp in tmp_dirs.items() if pos not in durable})
    tmp_dirs = {pos: tmp for pos, tmp in tmp_dirs.items() if pos in durable}
    return StoredData(source.size, source.stored_size, md5, tmp_dirs=tmp_dirs)


async def discard(es: ErasureSet, tmp_dirs: dict[int, str] | None) -> None:
    """Remove system-volume dirs (drive position -> path), e.g. temporary dirs that were not committed."""
    if not tmp_dirs:
        return

    async def remove(pos: int, tmp: str) -> None:
        drive = es.drives[pos]
        if drive is not None:
            try:
                await drive.delete(paths.SYS_VOLUME, tmp, recursive=True)
            except DriveError:
                pass
    await asyncio.shield(asyncio.gather(*(remove(p, t) for p, t in tmp_dirs.items())))
