"""Round trips through the object layer: sizes around every boundary, ranges, metadata, validation."""

from __future__ import annotations

import gc
import hashlib
import os

import pytest
from storage_helpers import BytesBody, read_all

from storage_engine import errors
from storage_engine.config import BLOCK_SIZE
from storage_engine.objects.layer import ErasureObjectLayer
from storage_engine.objects.types import PutOptions

INLINE = 128 * 1024
SIZES = [0, 1, INLINE - 1, INLINE, INLINE + 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 5 * BLOCK_SIZE + 12345]


def test_round_trip_sizes(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        for size in SIZES:
            data = os.urandom(size)
            info = await layer.put_object("bkt", f"obj-{size}", BytesBody(data, chunk=65536), PutOptions(size=size))
            assert info.size == size
            assert info.etag == hashlib.md5(data).hexdigest()
            assert await read_all(layer, "bkt", f"obj-{size}") == data
            head = await layer.get_object_info("bkt", f"obj-{size}")
            assert (head.size, head.etag, head.version_id) == (size, info.etag, "null")
    with_layer(scenario)


def test_ranges(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        data = os.urandom(3 * BLOCK_SIZE + 777)
        await layer.put_object("bkt", "big", BytesBody(data), PutOptions())
        small = os.urandom(1000)
        await layer.put_object("bkt", "small", BytesBody(small), PutOptions())
        for offset, length in [(0, 1), (BLOCK_SIZE - 1, 2), (BLOCK_SIZE, BLOCK_SIZE), (5, 3 * BLOCK_SIZE),
                               (len(data) - 1, 1), (123, None), (len(data), 10)]:
            want = data[offset:offset + length] if length is not None else data[offset:]
            assert await read_all(layer, "bkt", "big", offset=offset, length=length) == want
        assert await read_all(layer, "bkt", "small", offset=10, length=20) == small[10:30]
    with_layer(scenario)


def test_metadata_tags_and_digest(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        meta = {"content-type": "text/plain", "x-amz-meta-a": "1"}
        data = b"hello"
        await layer.put_object("bkt", "k", BytesBody(data), PutOptions(metadata=meta, tags={"t": "v"},
                                                                       content_md5=hashlib.md5(data).digest()))
        info = await layer.get_object_info("bkt", "k")
        assert info.metadata == meta and info.tags == {"t": "v"}
        await layer.put_object_tags("bkt", "k", None, {"x": "y"})
        assert (await layer.get_object_info("bkt", "k")).tags == {"x": "y"}
        await layer.delete_object_tags("bkt", "k", None)
        assert (await layer.get_object_info("bkt", "k")).tags == {}
        with pytest.raises(errors.BadDigest):
            await layer.put_object("bkt", "k", BytesBody(b"other"), PutOptions(content_md5=b"x" * 16))
        assert await read_all(layer, "bkt", "k") == data      # the failed PUT left the old version
        checksums = {"CRC32": "AAAAAA=="}
        await layer.put_object("bkt", "c", BytesBody(b"z", checksums=checksums), PutOptions())
        assert (await layer.get_object_info("bkt", "c")).checksums == checksums
    with_layer(scenario)


def test_storage_class_rrs(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        data = os.urandom(BLOCK_SIZE + 5)
        info = await layer.put_object("bkt", "r", BytesBody(data), PutOptions(storage_class="REDUCED_REDUNDANCY"))
        assert info.storage_class == "REDUCED_REDUNDANCY"
        assert await read_all(layer, "bkt", "r") == data
        with pytest.raises(errors.InvalidStorageClass):
            await layer.put_object("bkt", "x", BytesBody(b""), PutOptions(storage_class="GLACIER"))
    with_layer(scenario)


@pytest.mark.parametrize("key,error", [
    ("", errors.InvalidObjectName), ("a\x00b", errors.InvalidObjectName), ("k" * 1025, errors.KeyTooLongError),
    ("é" * 512 + "k", errors.KeyTooLongError),
])
def test_bad_keys(with_layer, key: str, error: type[Exception]) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        with pytest.raises(error):
            await layer.put_object("bkt", key, BytesBody(b"x"), PutOptions())
    with_layer(scenario)


def test_awkward_keys(with_layer) -> None:
    """Trailing slashes, internal-looking names and unicode all work and stay distinct."""
    keys = ["dir/", "dir", "dir/x", "a.xl.meta", "a.xl.data/b", "a.xl.data", "a.xl.esc/c", "a", "a/xl.meta",
            "ünï/çødé", "sp ace/+plus", "..a/b..", "x/.hidden", "k" * 200 + "/" + "v" * 200]
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        for i, key in enumerate(keys):
            await layer.put_object("bkt", key, BytesBody(str(i).encode()), PutOptions())
        for i, key in enumerate(keys):
            assert await read_all(layer, "bkt", key) == str(i).encode(), key
        listed = [o.key for o in (await layer.list_objects("bkt")).objects]
        assert listed == sorted(keys, key=lambda k: k.encode())
    with_layer(scenario)


def test_buckets(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        for bad in ["ab", "UPPER", "a_b", "192.168.1.1", "-abc", "abc-", "a..b", "x" * 64]:
            with pytest.raises(errors.InvalidBucketName):
                await layer.make_bucket(bad)
        await layer.make_bucket("b-one")
        await layer.make_bucket("b.two")
        with pytest.raises(errors.BucketAlreadyOwnedByYou):
            await layer.make_bucket("b-one")
        assert [b.name for b in await layer.list_buckets()] == ["b-one", "b.two"]
        await layer.put_object("b-one", "k", BytesBody(b"1"), PutOptions())
        with pytest.raises(errors.BucketNotEmpty):
            await layer.delete_bucket("b-one")
        await layer.delete_object("b-one", "k")
        await layer.delete_bucket("b-one")
        with pytest.raises(errors.NoSuchBucket):
            await layer.get_bucket_info("b-one")
        with pytest.raises(errors.NoSuchBucket):
            await layer.put_object("b-one", "k", BytesBody(b"1"), PutOptions())
        with pytest.raises(errors.NoSuchBucket):
            await layer.get_object_info("nope-bucket", "k")
        with pytest.raises(errors.NoSuchKey):
            await layer.get_object_info("b.two", "missing")
        assert [b.name for b in await layer.list_buckets()] == ["b.two"]
    with_layer(scenario)


def test_preconditions(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        info = await layer.put_object("bkt", "k", BytesBody(b"1"), PutOptions(if_none_match_star=True))
        with pytest.raises(errors.PreconditionFailed):
            await layer.put_object("bkt", "k", BytesBody(b"2"), PutOptions(if_none_match_star=True))
        with pytest.raises(errors.PreconditionFailed):
            await layer.put_object("bkt", "k", BytesBody(b"2"), PutOptions(if_match="0" * 32))
        await layer.put_object("bkt", "k", BytesBody(b"3"), PutOptions(if_match=f'"{info.etag}"'))
        assert await read_all(layer, "bkt", "k") == b"3"
    with_layer(scenario)


def test_single_drive_and_two_drives(tmp_path) -> None:
    from storage_helpers import open_layer, run

    async def scenario(count: int) -> None:
        layer = await open_layer(tmp_path / str(count), count)
        try:
            await layer.make_bucket("bkt")
            data = os.urandom(BLOCK_SIZE * 2 + 3)
            await layer.put_object("bkt", "k", BytesBody(data), PutOptions())
            await layer.put_object("bkt", "s", BytesBody(b"small"), PutOptions())
            assert await read_all(layer, "bkt", "k") == data
            assert await read_all(layer, "bkt", "s") == b"small"
        finally:
            await layer.close()
    for count in (1, 2, 3, 6):
        run(scenario(count))


def test_puts_of_new_keys_leave_no_garbage_cycles(with_layer) -> None:
    """A new key's PUT finds no metadata on any drive. Those drive errors, kept as results with their
    tracebacks, formed a reference cycle each (frames to results to error to frames): about 80 objects
    per PUT that only the garbage collector freed, and the collector ran every hundred or so PUTs."""
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        await layer.put_object("bkt", "warm", BytesBody(b"x"), PutOptions())
        gc.collect()
        gc.disable()
        try:
            for i in range(50):
                await layer.put_object("bkt", f"new-{i}", BytesBody(b"x" * 100), PutOptions())
            assert gc.collect() < 50           # less than one cyclic object per PUT
        finally:
            gc.enable()
    with_layer(scenario)
