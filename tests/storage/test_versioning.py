"""S3 versioning semantics: version ids, null versions, delete markers, by-id access, version listing."""

from __future__ import annotations

import pytest
from storage_helpers import BytesBody, read_all

from storage_engine import errors
from storage_engine.objects.layer import ErasureObjectLayer
from storage_engine.objects.types import PutOptions


def test_unversioned_overwrite_and_delete(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        assert await layer.get_bucket_versioning("bkt") == ""
        await layer.put_object("bkt", "k", BytesBody(b"1" * 200_000), PutOptions())
        await layer.put_object("bkt", "k", BytesBody(b"2"), PutOptions())
        listing = await layer.list_object_versions("bkt")
        assert [(v.key, v.version_id) for v in listing.versions] == [("k", "null")]
        result = await layer.delete_object("bkt", "k")
        assert (result.version_id, result.delete_marker) == (None, False)
        with pytest.raises(errors.NoSuchKey):
            await layer.get_object("bkt", "k")
        assert (await layer.delete_object("bkt", "never")).delete_marker is False
        assert (await layer.list_object_versions("bkt")).versions == []
    with_layer(scenario)


def test_enabled_versions_and_markers(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        await layer.put_object("bkt", "k", BytesBody(b"null-version"), PutOptions())
        await layer.set_bucket_versioning("bkt", "Enabled")
        v1 = await layer.put_object("bkt", "k", BytesBody(b"one"), PutOptions())
        v2 = await layer.put_object("bkt", "k", BytesBody(b"two" * 100_000), PutOptions())
        assert v1.version_id != "null" and v1.version_id != v2.version_id
        assert await read_all(layer, "bkt", "k") == b"two" * 100_000
        assert await read_all(layer, "bkt", "k", v1.version_id) == b"one"
        assert await read_all(layer, "bkt", "k", "null") == b"null-version"

        marker = await layer.delete_object("bkt", "k")
        assert marker.delete_marker and marker.version_id
        with pytest.raises(errors.NoSuchKey) as exc:
            await layer.get_object_info("bkt", "k")
        assert exc.value.headers["x-amz-delete-marker"] == "true"
        with pytest.raises(errors.MethodNotAllowed):
            await layer.get_object("bkt", "k", marker.version_id)
        with pytest.raises(errors.NoSuchVersion):
            await layer.get_object_info("bkt", "k", "00000000-0000-0000-0000-000000000000")
        with pytest.raises(errors.InvalidArgument):
            await layer.get_object_info("bkt", "k", "../../etc")

        listing = await layer.list_object_versions("bkt")
        assert [(v.version_id, v.is_latest, v.delete_marker) for v in listing.versions] == [
            (marker.version_id, True, True), (v2.version_id, False, False), (v1.version_id, False, False),
            ("null", False, False)]
        assert (await layer.list_objects("bkt")).objects == []

        removed = await layer.delete_object("bkt", "k", marker.version_id)
        assert removed.delete_marker and removed.version_id == marker.version_id
        assert (await layer.get_object_info("bkt", "k")).version_id == v2.version_id
        await layer.delete_object("bkt", "k", v2.version_id)
        assert await read_all(layer, "bkt", "k") == b"one"
        info = await layer.get_object_info("bkt", "k", v1.version_id)
        assert info.is_latest
    with_layer(scenario)


def test_suspended(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        await layer.set_bucket_versioning("bkt", "Enabled")
        v1 = await layer.put_object("bkt", "k", BytesBody(b"one"), PutOptions())
        await layer.set_bucket_versioning("bkt", "Suspended")
        n1 = await layer.put_object("bkt", "k", BytesBody(b"null1"), PutOptions())
        n2 = await layer.put_object("bkt", "k", BytesBody(b"null2"), PutOptions())
        assert n1.version_id == n2.version_id == "null"
        ids = [v.version_id for v in (await layer.list_object_versions("bkt")).versions]
        assert ids == ["null", v1.version_id]
        result = await layer.delete_object("bkt", "k")
        assert (result.version_id, result.delete_marker) == ("null", True)
        versions = (await layer.list_object_versions("bkt")).versions
        assert [(v.version_id, v.delete_marker) for v in versions] == [("null", True), (v1.version_id, False)]
    with_layer(scenario)


def test_version_listing_markers(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        await layer.set_bucket_versioning("bkt", "Enabled")
        expected = []
        for key in ["a", "b", "c"]:
            ids = [(await layer.put_object("bkt", key, BytesBody(key.encode()), PutOptions())).version_id
                   for _ in range(3)]
            expected += [(key, vid) for vid in reversed(ids)]
        got: list[tuple[str, str]] = []
        key_marker = version_marker = ""
        while True:
            page = await layer.list_object_versions("bkt", key_marker=key_marker, version_id_marker=version_marker,
                                                    max_keys=2)
            got += [(v.key, v.version_id) for v in page.versions]
            if not page.is_truncated:
                break
            key_marker, version_marker = page.next_key_marker or "", page.next_version_id_marker or ""
        assert got == expected
    with_layer(scenario)
