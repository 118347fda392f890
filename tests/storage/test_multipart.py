"""Multipart uploads: parts, listing, completion rules, ETag and checksums, abort."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest
from awscrt import checksums as crt
from storage_helpers import BytesBody, read_all

from storage_engine import errors
from storage_engine.objects.layer import ErasureObjectLayer
from storage_engine.objects.types import CompletePart, PutOptions

MIB = 1 << 20


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_complete_round_trip(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        upload_id = await layer.new_multipart_upload("bkt", "mp/obj", PutOptions(metadata={"content-type": "a/b"}))
        parts = [os.urandom(5 * MIB), os.urandom(5 * MIB + 17), os.urandom(1000)]
        infos = []
        for number, data in enumerate(parts, 1):
            infos.append(await layer.put_object_part("bkt", "mp/obj", upload_id, number, BytesBody(data), PutOptions()))
        # Re-uploading a part replaces it.
        parts[2] = os.urandom(2000)
        infos[2] = await layer.put_object_part("bkt", "mp/obj", upload_id, 3, BytesBody(parts[2]), PutOptions())
        listed = await layer.list_parts("bkt", "mp/obj", upload_id)
        assert [(p.number, p.size, p.etag) for p in listed.parts] == [(i.number, i.size, i.etag) for i in infos]
        page = await layer.list_parts("bkt", "mp/obj", upload_id, max_parts=2)
        assert page.is_truncated and page.next_part_number_marker == 2
        uploads = await layer.list_multipart_uploads("bkt")
        assert [(u.key, u.upload_id) for u in uploads.uploads] == [("mp/obj", upload_id)]
        assert (await layer.get_multipart_upload("bkt", "mp/obj", upload_id)).metadata == {"content-type": "a/b"}

        info = await layer.complete_multipart_upload(
            "bkt", "mp/obj", upload_id, [CompletePart(i.number, f'"{i.etag}"') for i in infos], PutOptions())
        md5s = b"".join(hashlib.md5(p).digest() for p in parts)
        assert info.etag == f"{hashlib.md5(md5s).hexdigest()}-3"
        assert info.size == sum(map(len, parts))
        whole = b"".join(parts)
        assert await read_all(layer, "bkt", "mp/obj") == whole
        assert await read_all(layer, "bkt", "mp/obj", offset=5 * MIB - 10, length=MIB) == whole[5 * MIB - 10:6 * MIB - 10]
        head = await layer.get_object_info("bkt", "mp/obj")
        assert [p.number for p in head.parts] == [1, 2, 3] and head.metadata == {"content-type": "a/b"}
        with pytest.raises(errors.NoSuchUpload):
            await layer.list_parts("bkt", "mp/obj", upload_id)
        assert (await layer.list_multipart_uploads("bkt")).uploads == []
    with_layer(scenario)


def test_completion_rules(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        upload_id = await layer.new_multipart_upload("bkt", "k", PutOptions())
        small = await layer.put_object_part("bkt", "k", upload_id, 1, BytesBody(b"a" * 100), PutOptions())
        last = await layer.put_object_part("bkt", "k", upload_id, 2, BytesBody(b"b" * 100), PutOptions())
        with pytest.raises(errors.InvalidPartOrder):
            await layer.complete_multipart_upload("bkt", "k", upload_id, [CompletePart(2, last.etag),
                                                                          CompletePart(1, small.etag)], PutOptions())
        with pytest.raises(errors.InvalidPart):
            await layer.complete_multipart_upload("bkt", "k", upload_id, [CompletePart(1, "0" * 32)], PutOptions())
        with pytest.raises(errors.InvalidPart):
            await layer.complete_multipart_upload("bkt", "k", upload_id, [CompletePart(7, small.etag)], PutOptions())
        with pytest.raises(errors.EntityTooSmall):
            await layer.complete_multipart_upload("bkt", "k", upload_id, [CompletePart(1, small.etag),
                                                                          CompletePart(2, last.etag)], PutOptions())
        with pytest.raises(errors.InvalidArgument):
            await layer.put_object_part("bkt", "k", upload_id, 10001, BytesBody(b""), PutOptions())
        with pytest.raises(errors.NoSuchUpload):
            await layer.put_object_part("bkt", "k", "f" * 32, 1, BytesBody(b""), PutOptions())
        with pytest.raises(errors.NoSuchUpload):
            await layer.put_object_part("bkt", "k", "../../../etc", 1, BytesBody(b""), PutOptions())
        with pytest.raises(errors.NoSuchUpload):
            await layer.list_parts("bkt", "other-key", upload_id)
        # A single small part is fine (it is the last).
        info = await layer.complete_multipart_upload("bkt", "k", upload_id, [CompletePart(2, last.etag)], PutOptions())
        assert await read_all(layer, "bkt", "k") == b"b" * 100 and info.etag.endswith("-1")
        # A retry of that completion gets the same answer; another list of parts is no retry.
        again = await layer.complete_multipart_upload("bkt", "k", upload_id, [CompletePart(2, last.etag)],
                                                      PutOptions())
        assert again.etag == info.etag and again.version_id == info.version_id
        with pytest.raises(errors.NoSuchUpload):
            await layer.complete_multipart_upload("bkt", "k", upload_id, [CompletePart(1, small.etag)], PutOptions())
    with_layer(scenario)


def test_abort_and_upload_listing(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        ids = {key: await layer.new_multipart_upload("bkt", key, PutOptions()) for key in ["a/1", "a/2", "b", "c"]}
        await layer.put_object_part("bkt", "b", ids["b"], 1, BytesBody(b"x" * 10), PutOptions())
        listing = await layer.list_multipart_uploads("bkt", delimiter="/")
        assert listing.prefixes == ["a/"] and [u.key for u in listing.uploads] == ["b", "c"]
        page = await layer.list_multipart_uploads("bkt", max_uploads=2)
        assert page.is_truncated and [u.key for u in page.uploads] == ["a/1", "a/2"]
        rest = await layer.list_multipart_uploads("bkt", key_marker=page.next_key_marker or "",
                                                  upload_id_marker=page.next_upload_id_marker or "")
        assert [u.key for u in rest.uploads] == ["b", "c"]
        await layer.abort_multipart_upload("bkt", "b", ids["b"])
        with pytest.raises(errors.NoSuchUpload):
            await layer.abort_multipart_upload("bkt", "b", ids["b"])
        assert [u.key for u in (await layer.list_multipart_uploads("bkt")).uploads] == ["a/1", "a/2", "c"]
    with_layer(scenario)


@pytest.mark.parametrize("kind", ["COMPOSITE", "FULL_OBJECT"])
def test_checksums(with_layer, kind: str) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        opts = PutOptions(checksum_algorithm="CRC32", checksum_type=kind)  # type: ignore[arg-type]
        upload_id = await layer.new_multipart_upload("bkt", "k", opts)
        parts = [os.urandom(5 * MIB), os.urandom(3000)]
        infos = []
        for number, data in enumerate(parts, 1):
            body = BytesBody(data, checksums={"CRC32": _crc32(data)})
            infos.append(await layer.put_object_part("bkt", "k", upload_id, number, body, PutOptions()))
        info = await layer.complete_multipart_upload(
            "bkt", "k", upload_id, [CompletePart(i.number, i.etag, dict(i.checksums)) for i in infos], PutOptions())
        assert info.checksum_type == kind
        if kind == "FULL_OBJECT":
            assert info.checksums == {"CRC32": _crc32(b"".join(parts))}
        else:
            raw = b"".join(base64.b64decode(_crc32(p)) for p in parts)
            assert info.checksums == {"CRC32": f"{_crc32(raw)}-2"}
        assert crt.crc32(b"".join(parts)) == zlib.crc32(b"".join(parts))
    with_layer(scenario)


def test_multipart_overwrites_and_versions(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        await layer.put_object("bkt", "k", BytesBody(b"old" * 100_000), PutOptions())
        upload_id = await layer.new_multipart_upload("bkt", "k", PutOptions())
        part = await layer.put_object_part("bkt", "k", upload_id, 1, BytesBody(b"new"), PutOptions())
        with pytest.raises(errors.PreconditionFailed):
            await layer.complete_multipart_upload("bkt", "k", upload_id, [CompletePart(1, part.etag)],
                                                  PutOptions(if_none_match_star=True))
        await layer.complete_multipart_upload("bkt", "k", upload_id, [CompletePart(1, part.etag)], PutOptions())
        assert await read_all(layer, "bkt", "k") == b"new"
        assert len((await layer.list_object_versions("bkt")).versions) == 1
    with_layer(scenario)


def test_complete_broken_by_a_write_meanwhile_is_a_conflict(with_layer) -> None:
    """If-None-Match: * held when CompleteMultipartUpload started; a PUT that finished before its commit
    broke it: 409 ConditionalRequestConflict, nothing written, the upload kept (a retry then gets 412)."""
    import contextlib

    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        upload_id = await layer.new_multipart_upload("bkt", "k", PutOptions())
        part = await layer.put_object_part("bkt", "k", upload_id, 1, BytesBody(b"part"), PutOptions())
        es, _ = await layer.multipart.find("bkt", "k", upload_id)
        original = es.lock

        def lock_after_a_write(bucket: str, key: str):  # noqa: ANN202 - an async context manager
            es.lock = original                          # once

            @contextlib.asynccontextmanager
            async def held():  # noqa: ANN202
                await layer.put_object("bkt", "k", BytesBody(b"other writer"), PutOptions())
                async with original(bucket, key):
                    yield
            return held()

        es.lock = lock_after_a_write  # type: ignore[method-assign]
        with pytest.raises(errors.ConditionalRequestConflict):
            await layer.complete_multipart_upload("bkt", "k", upload_id, [CompletePart(1, part.etag)],
                                                  PutOptions(if_none_match_star=True))
        assert await read_all(layer, "bkt", "k") == b"other writer"
        with pytest.raises(errors.PreconditionFailed):
            await layer.complete_multipart_upload("bkt", "k", upload_id, [CompletePart(1, part.etag)],
                                                  PutOptions(if_none_match_star=True))
        await layer.complete_multipart_upload("bkt", "k", upload_id, [CompletePart(1, part.etag)], PutOptions())
        assert await read_all(layer, "bkt", "k") == b"part"
    with_layer(scenario)
