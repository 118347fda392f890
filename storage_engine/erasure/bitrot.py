"""Bitrot protection and the layout of a shard file.

A shard file (or an inline shard) is a sequence of records, one per erasure block::

    xxh3_128(fragment) (16 bytes) | fragment

Every block but the last is ``BLOCK_SIZE`` bytes of stored data, so every record but the last has the
same size and any block's record is found by arithmetic. xxh3 costs nothing next to MD5 and erasure
coding; it detects rot, not tampering (tamper resistance comes with encryption).
"""

from __future__ import annotations

from dataclasses import dataclass

import xxhash

from storage_engine.erasure.codec import Codec

HASH_SIZE = 16
ALGORITHM = "xxh3_128"

digest = xxhash.xxh3_128_digest


@dataclass(frozen=True, slots=True)
class ShardLayout:
    """Where each block of one part lives in a shard file."""

    stored_size: int        # bytes of stored data in the part
    block_size: int
    full_record: int        # record size of a full block
    last_record: int        # record size of the last block (== full_record when it is full)
    blocks: int

    @classmethod
    def of(cls, codec: Codec, stored_size: int, block_size: int) -> ShardLayout:
        blocks = -(-stored_size // block_size)
        full = HASH_SIZE + codec.fragment_size(block_size)
        last_len = stored_size - (blocks - 1) * block_size if blocks else 0
        last = HASH_SIZE + codec.fragment_size(last_len) if blocks else 0
        return cls(stored_size, block_size, full, last, blocks)

    @property
    def file_size(self) -> int:
        return 0 if not self.blocks else (self.blocks - 1) * self.full_record + self.last_record

    def block_length(self, index: int) -> int:
        """Stored bytes in block ``index``."""
        if index == self.blocks - 1:
            return self.stored_size - index * self.block_size
        return self.block_size

    def span(self, first: int, last: int) -> tuple[int, int]:
        """(offset, length) in the shard file of the records of blocks ``first..last`` inclusive."""
        offset = first * self.full_record
        end = last * self.full_record + (self.last_record if last == self.blocks - 1 else self.full_record)
        return offset, end - offset


def split_records(data: bytes | bytearray, layout: ShardLayout, first: int, last: int) -> list[memoryview] | None:
    """The verified fragments of blocks ``first..last`` from their records (views into ``data``, no
    copies), or None on any damage."""
    out: list[memoryview] = []
    view = memoryview(data)
    pos = 0
    for index in range(first, last + 1):
        size = layout.last_record if index == layout.blocks - 1 else layout.full_record
        record = view[pos:pos + size]
        if len(record) != size or digest(record[HASH_SIZE:]) != record[:HASH_SIZE]:
            return None
        out.append(record[HASH_SIZE:])
        pos += size
    return out
