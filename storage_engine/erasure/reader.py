"""Reading a version back: data shards first, parity only when a data shard is missing or rotten.

Blocks are fetched a batch at a time (one read per shard per batch) and the next batch is read while the
current one is being consumed. A shard that fails its bitrot check or cannot be read is dropped for the
rest of the stream, the missing block is rebuilt from parity, and ``on_damage`` is called once so the
object gets healed in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Protocol

from storage_engine.drives.base import DriveError
from storage_engine.errors import InsufficientReadQuorum
from storage_engine.erasure.bitrot import ShardLayout, split_records
from storage_engine.erasure.codec import Codec

BATCH_BLOCKS = 4


class ShardSource(Protocol):
    async def read_at(self, offset: int, length: int) -> bytes | bytearray: ...
    def close(self) -> None: ...


class BytesSource:
    """An inline shard, in memory; ``data`` may be a loader, so shards never read are never decoded."""

    __slots__ = ("_data", "_loader")

    def __init__(self, data: bytes | Callable[[], bytes | None] | None) -> None:
        self._loader = data if callable(data) else None
        self._data = None if callable(data) else data

    @property
    def data(self) -> bytes | None:
        if self._loader is not None:
            self._data, self._loader = self._loader(), None
        return self._data

    async def read_at(self, offset: int, length: int) -> bytes:
        data = self.data
        if data is None:
            raise DriveError("inline shard missing")
        return data[offset:offset + length]

    def close(self) -> None:
        pass


PartOpener = Callable[[int], Awaitable[list[ShardSource | None]]]


class VersionReader:
    """Stored bytes of one version, made of one or more parts, each with its own shard files."""

    def __init__(self, codec: Codec, layouts: list[ShardLayout], opener: PartOpener,
                 on_damage: Callable[[], None], in_memory: bool = False) -> None:
        self._in_memory = in_memory
        self._codec = codec
        self._layouts = layouts
        self._opener = opener
        self._on_damage = on_damage
        self._damage_reported = False
        self._sources: dict[int, list[ShardSource | None]] = {}
        self._bad: dict[int, set[int]] = {}
        self.size = sum(layout.stored_size for layout in layouts)

    async def preopen(self, parts: int) -> None:
        """Open the shard files of the first ``parts`` parts now, before anyone can replace them."""
        for index in range(min(parts, len(self._layouts))):
            await self._sources_of(index)

    def readable(self) -> bool:
        """After ``preopen``: enough shards of the first part could be opened to read it."""
        sources = self._sources.get(0)
        if self._in_memory or sources is None or not self._layouts or self._layouts[0].stored_size == 0:
            return True
        return sum(s is not None for s in sources) >= self._codec.k

    def _damaged(self) -> None:
        if not self._damage_reported:
            self._damage_reported = True
            self._on_damage()

    async def _sources_of(self, part: int) -> list[ShardSource | None]:
        sources = self._sources.get(part)
        if sources is None:
            sources = await self._opener(part)
            self._sources[part] = sources
            bad = {s for s, src in enumerate(sources) if src is None}
            self._bad[part] = bad
            if bad:
                self._damaged()
        return sources

    def _plan(self, offset: int, length: int) -> Iterator[tuple[int, int, int, int, int]]:
        """(part, first block, last block, skip in first block, bytes wanted) for each batch."""
        part_start = 0
        end = offset + length
        for part, layout in enumerate(self._layouts):
            part_end = part_start + layout.stored_size
            lo, hi = max(offset, part_start), min(end, part_end)
            if lo < hi:
                first = (lo - part_start) // layout.block_size
                last = (hi - part_start - 1) // layout.block_size
                for batch_first in range(first, last + 1, BATCH_BLOCKS):
                    batch_last = min(batch_first + BATCH_BLOCKS - 1, last)
                    batch_lo = max(lo, part_start + batch_first * layout.block_size)
                    batch_hi = min(hi, part_start + (batch_last + 1) * layout.block_size)
                    skip = batch_lo - (part_start + batch_first * layout.block_size)
                    yield part, batch_first, batch_last, skip, batch_hi - batch_lo
            part_start = part_end

    async def stream(self, offset: int = 0, length: int | None = None,
                     views: bool = False) -> AsyncIterator[bytes | memoryview]:
        """The stored bytes of ``offset`` to ``offset + length``. With ``views``, pieces may be memoryviews
        into the shard reads (no copy when all data shards are healthy): for writing to a socket."""
        offset = max(0, min(offset, self.size))
        length = self.size - offset if length is None else max(0, min(length, self.size - offset))
        plan = self._plan(offset, length)
        job = next(plan, None)
        if self._in_memory:
            # Inline shards: nothing to overlap, so no read-ahead task (small GETs stay cheap).
            while job is not None:
                for piece in _slices(await self._read_batch(*job[:3], views), job[3], job[4]):
                    yield piece
                job = next(plan, None)
            return
        task = asyncio.ensure_future(self._read_batch(*job[:3], views)) if job else None
        try:
            while job is not None and task is not None:
                upcoming = next(plan, None)
                blocks = await task
                # Read ahead: the next batch comes off the drives while this one is sent.
                task = asyncio.ensure_future(self._read_batch(*upcoming[:3], views)) if upcoming else None
                for piece in _slices(blocks, job[3], job[4]):
                    yield piece
                job = upcoming
        finally:
            if task is not None and not task.done():
                task.cancel()

    async def _read_batch(self, part: int, first: int, last: int, views: bool = False) -> list[bytes | memoryview]:
        """Blocks ``first..last`` of ``part``, as pieces that are the blocks end to end."""
        layout = self._layouts[part]
        sources = await self._sources_of(part)
        bad = self._bad[part]
        offset, length = layout.span(first, last)
        k = self._codec.k
        good: dict[int, list[memoryview]] = {}
        candidates = [s for s in range(len(sources)) if s not in bad]
        while len(good) < k:
            take, candidates = candidates[:k - len(good)], candidates[k - len(good):]
            if not take:
                raise InsufficientReadQuorum()
            results = await _read_all([sources[s] for s in take], offset, length)
            for s, data in zip(take, results):
                fragments = split_records(data, layout, first, last) if data is not None else None
                if fragments is None:
                    bad.add(s)
                    self._damaged()
                else:
                    good[s] = fragments
        blocks: list[bytes | memoryview] = []
        for j, index in enumerate(range(first, last + 1)):
            fragments = {s: f[j] for s, f in good.items()}
            pieces = self._codec.data_views(fragments, layout.block_length(index)) if views else None
            if pieces is not None:
                blocks.extend(pieces)
            else:
                blocks.append(self._codec.decode(fragments, layout.block_length(index)))
        return blocks

    def close(self) -> None:
        for sources in self._sources.values():
            for source in sources:
                if source is not None:
                    source.close()
        self._sources.clear()


def _slices(blocks: list[bytes | memoryview], skip: int, wanted: int) -> Iterator[bytes | memoryview]:
    """The ``wanted`` bytes after the first ``skip`` of consecutive pieces."""
    for block in blocks:
        if skip >= len(block):
            skip -= len(block)
            continue
        piece = block[skip:skip + wanted] if skip or wanted < len(block) else block
        skip = 0
        wanted -= len(piece)
        if piece:
            yield piece
        if wanted <= 0:
            return


async def _read_all(sources: list[ShardSource | None], offset: int, length: int) -> list[bytes | bytearray | None]:
    if all(isinstance(s, BytesSource) for s in sources):
        out: list[bytes | bytearray | None] = []
        for source in sources:
            data = source.data if isinstance(source, BytesSource) else None
            out.append(data[offset:offset + length] if data is not None else None)
        return out
    results = await asyncio.gather(*(_read_one(s, offset, length) for s in sources))
    return list(results)


async def _read_one(source: ShardSource | None, offset: int, length: int) -> bytes | bytearray | None:
    if source is None:
        return None
    try:
        return await source.read_at(offset, length)
    except (DriveError, OSError):
        return None                        # unreadable counts like missing: rebuilt from parity
