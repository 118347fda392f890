"""Writing stored blocks as erasure-coded shards, one shard file per drive, with a write quorum.

A drive that fails mid-stream is dropped; the write goes on while at least ``write_quorum`` shards are
still being written (the missing shard is healed later), and fails below: ``StorageFull`` (507) when
full drives made the difference, else ``InsufficientWriteQuorum`` (503). Either way the reasons are
logged, since no drive need have gone offline (a full drive stays online).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from storage_engine.drives.base import DriveError, DriveFull, ShardWriter
from storage_engine.errors import InsufficientWriteQuorum, S3Error, StorageFull
from storage_engine.erasure.bitrot import digest
from storage_engine.erasure.codec import Codec

log = logging.getLogger(__name__)


def quorum_lost(written: int, quorum: int, failures: Sequence[BaseException]) -> S3Error:
    """The error of a write that reached ``written`` drives of the ``quorum`` it needed: StorageFull
    when the drives that were full would have made up the difference."""
    full = sum(isinstance(f, DriveFull) for f in failures)
    return StorageFull() if full and written + full >= quorum else InsufficientWriteQuorum()


class ErasureWriter:
    def __init__(self, codec: Codec, writers: list[ShardWriter | None], write_quorum: int,
                 failures: Sequence[BaseException] = ()) -> None:
        self._codec = codec
        self._writers = writers            # by shard index
        self._quorum = write_quorum
        self._failures: list[BaseException] = list(failures)   # why shards were dropped (creation included)
        self._check()

    def _check(self) -> None:
        if self._live() < self._quorum:
            raise self._lost()

    def _live(self) -> int:
        return sum(w is not None for w in self._writers)

    def _lost(self) -> S3Error:
        error = quorum_lost(self._live(), self._quorum, self._failures)
        log.warning("shard writes below the write quorum (%d of %d): %s; %s", self._live(), self._quorum,
                    "; ".join(str(f) or repr(f) for f in self._failures) or "no drive", error.code)
        return error

    async def write(self, block: bytes) -> None:
        """Encode and write one stored block (``block_size`` bytes, fewer only for the last one)."""
        fragments = self._codec.encode(block)
        failed = False
        for s, writer in enumerate(self._writers):
            if writer is None:
                continue
            fragment = fragments[s]
            try:
                # Sequential awaits are fine: a write only waits when the drive's previous buffer is
                # still being flushed, and all drives flush concurrently in their own threads.
                await writer.write(digest(fragment))
                await writer.write(fragment)
            except (DriveError, OSError) as exc:
                self._failures.append(exc)
                await _abort(writer)
                self._writers[s] = None
                failed = True
        if failed:
            await self._check_or_abort()

    async def close(self) -> list[bool]:
        """Make every shard durable; returns which shard indexes were written."""
        live = [(s, w) for s, w in enumerate(self._writers) if w is not None]
        results = await asyncio.gather(*(w.close() for _, w in live), return_exceptions=True)
        for (s, _), result in zip(live, results):
            if isinstance(result, BaseException):
                if not isinstance(result, (DriveError, OSError)):
                    raise result
                self._failures.append(result)
                self._writers[s] = None
        await self._check_or_abort()
        return [w is not None for w in self._writers]

    async def _check_or_abort(self) -> None:
        if self._live() < self._quorum:
            error = self._lost()
            await self.abort()
            raise error

    async def abort(self) -> None:
        for s, writer in enumerate(self._writers):
            if writer is not None:
                await _abort(writer)
                self._writers[s] = None


async def _abort(writer: ShardWriter) -> None:
    try:
        await writer.abort()
    except (DriveError, OSError):
        pass


def encode_inline(codec: Codec, data: bytes, block_size: int) -> list[bytes]:
    """The shard records of a small object, one bytes per shard index."""
    records: list[list[bytes]] = [[] for _ in range(codec.n)]
    for start in range(0, len(data), block_size):
        for s, fragment in enumerate(codec.encode(data[start:start + block_size])):
            records[s].append(digest(fragment))
            records[s].append(fragment)
    return [b"".join(r) for r in records]
