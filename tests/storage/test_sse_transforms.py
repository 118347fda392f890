"""The seam's transforms on their own: the encrypting transform fed in any chunking, the decrypting one fed the
stored bytes in any split (they open packages straight from the pieces), ranges, and streams spliced."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator

import pytest

from storage_engine import errors
from storage_engine.crypto import keys, packages
from storage_engine.crypto.packages import PACKAGE_SIZE, STORED_PACKAGE, Cipher
from storage_engine.crypto.sse import DecryptingTransform, EncryptingTransform, PartSpan

OBJECT_KEY = bytes(range(32))


async def _encrypt(part: int, data: bytes, chunks: list[int], cipher: Cipher = Cipher.AES_256_GCM) -> bytes:
    transform = EncryptingTransform(keys.part_key(OBJECT_KEY, part), cipher)
    out = []
    pos = 0
    for size in chunks:
        out.append(bytes(await transform.update(data[pos:pos + size])))
        pos += size
    assert pos == len(data)
    out.append(bytes(await transform.finish()))
    return b"".join(out)


def _chunks(size: int, rng: random.Random) -> list[int]:
    out = []
    while size:
        n = min(size, rng.choice([1, 100, PACKAGE_SIZE - 1, PACKAGE_SIZE, PACKAGE_SIZE + 1, 1 << 20, 3 << 20]))
        out.append(n)
        size -= n
    return out


async def _pieces(data: bytes, rng: random.Random) -> AsyncIterator[bytes | memoryview]:
    view = memoryview(data)
    pos = 0
    while pos < len(data):
        n = rng.choice([1, 15, 17, STORED_PACKAGE - 1, STORED_PACKAGE, STORED_PACKAGE + 1, 300_000, 1 << 20])
        yield view[pos:pos + n]
        pos += n


async def _decode(transform: DecryptingTransform, stored: bytes, offset: int, length: int,
                  rng: random.Random) -> bytes:
    start, span = transform.stored_span(offset, length)
    return b"".join([bytes(p) async for p in transform.decode(_pieces(stored[start:start + span], rng),
                                                              offset, length)])


@pytest.mark.parametrize("cipher", list(Cipher))
def test_any_chunking_and_any_split_round_trip(cipher: Cipher) -> None:
    rng = random.Random(int(cipher))

    async def main() -> None:
        sizes = [0, 1, PACKAGE_SIZE, PACKAGE_SIZE + 1, 16 * PACKAGE_SIZE, 33 * PACKAGE_SIZE + 5]
        parts = [os.urandom(size) for size in sizes]
        stored = [await _encrypt(n, data, _chunks(len(data), rng), cipher) for n, data in enumerate(parts, 1)]
        assert [len(s) for s in stored] == [packages.stored_size(len(d)) for d in parts]
        spans = [PartSpan(n, len(d), len(s)) for n, (d, s) in enumerate(zip(parts, stored), 1)]
        transform = DecryptingTransform(OBJECT_KEY, cipher, spans)
        whole, all_stored = b"".join(parts), b"".join(stored)
        assert await _decode(transform, all_stored, 0, len(whole), rng) == whole
        for _ in range(60):
            offset = rng.randrange(len(whole))
            length = rng.randrange(1, len(whole) - offset + 1)
            assert await _decode(transform, all_stored, offset, length, rng) == whole[offset:offset + length]
        assert await _decode(transform, all_stored, 5, 0, rng) == b""
    asyncio.run(main())


def test_a_package_of_another_upload_of_the_part_fails() -> None:
    """Two uploads of part 1 share its key (not its nonce): packages of one spliced into the other fail,
    at a block boundary (1 MiB) as well as inside a block."""
    rng = random.Random(3)
    size = 40 * PACKAGE_SIZE

    async def main() -> None:
        data = os.urandom(size)
        first = await _encrypt(1, data, [size])
        second = await _encrypt(1, data, [size])
        transform = DecryptingTransform(OBJECT_KEY, Cipher.AES_256_GCM, [PartSpan(1, size, len(first))])
        assert await _decode(transform, first, 0, size, rng) == data
        # One package; a whole 1 MiB block (16 packages, what one thread-pool call opens); the final one.
        for package, count in ((5, 1), (16, 16), (39, 1)):
            lo, hi = package * STORED_PACKAGE, (package + count) * STORED_PACKAGE
            spliced = first[:lo] + second[lo:hi] + first[hi:]
            with pytest.raises(errors.InternalError):
                await _decode(transform, spliced, 0, size, rng)
        # Truncated: the stored bytes end early.
        with pytest.raises(errors.InternalError):
            await _decode(transform, first[:-1], 0, size, rng)
    asyncio.run(main())


def test_metadata_that_does_not_fit_the_packages_is_refused() -> None:
    with pytest.raises(errors.InternalError):
        DecryptingTransform(OBJECT_KEY, Cipher.AES_256_GCM, [PartSpan(1, 100, 100)])
