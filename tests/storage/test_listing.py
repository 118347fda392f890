"""Listing order, prefixes, delimiters and markers."""

from __future__ import annotations

import random

from storage_helpers import BytesBody

from storage_engine.objects.layer import ErasureObjectLayer
from storage_engine.objects.types import PutOptions

KEYS = ["a", "a!", "a/b", "a/b/c", "a/b!", "a/c", "a0", "b/", "b/x", "photos/2024/1.jpg", "photos/2024/2.jpg",
        "photos/2024.txt", "photos/2025/1.jpg", "z", "ä", "日本/語", "a-b/c", "a.b", "a/"]


def _utf8_sorted(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode())


async def _fill(layer: ErasureObjectLayer) -> None:
    await layer.make_bucket("bkt")
    for key in random.sample(KEYS, len(KEYS)):
        await layer.put_object("bkt", key, BytesBody(b"x"), PutOptions())


def _expected(prefix: str, delimiter: str, marker: str = "") -> tuple[list[str], list[str]]:
    objects, prefixes = [], []
    for key in _utf8_sorted(KEYS):
        if not key.startswith(prefix) or key <= marker:
            continue
        index = key.find(delimiter, len(prefix)) if delimiter else -1
        if index >= 0:
            common = key[:index + len(delimiter)]
            if common not in prefixes and common > marker:
                prefixes.append(common)
        else:
            objects.append(key)
    return objects, prefixes


def test_order_prefix_delimiter(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await _fill(layer)
        for prefix, delimiter in [("", ""), ("", "/"), ("a", "/"), ("a/", "/"), ("a/b", ""), ("photos/", "/"),
                                  ("photos/2024", "/"), ("photos/2024/", "/"), ("", "b"), ("a", "!"),
                                  ("nothing", "/"), ("a//", "/"), ("日", "/")]:
            result = await layer.list_objects("bkt", prefix, delimiter)
            want_objects, want_prefixes = _expected(prefix, delimiter)
            assert [o.key for o in result.objects] == want_objects, (prefix, delimiter)
            assert result.prefixes == want_prefixes, (prefix, delimiter)
            assert not result.is_truncated
    with_layer(scenario)


def test_pagination(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await _fill(layer)
        for delimiter, page_size in [("", 1), ("/", 1), ("", 3), ("/", 3)]:
            want_objects, want_prefixes = _expected("", delimiter)
            objects: list[str] = []
            prefixes: list[str] = []
            marker = ""
            while True:
                page = await layer.list_objects("bkt", "", delimiter, marker, max_keys=page_size)
                assert len(page.objects) + len(page.prefixes) <= page_size
                objects += [o.key for o in page.objects]
                prefixes += page.prefixes
                if not page.is_truncated:
                    break
                assert page.next_marker
                marker = page.next_marker
            assert objects == want_objects and prefixes == want_prefixes, delimiter
    with_layer(scenario)


def test_delete_markers_hidden_and_empty_prefixes(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        await layer.set_bucket_versioning("bkt", "Enabled")
        await layer.put_object("bkt", "gone/x", BytesBody(b"x"), PutOptions())
        await layer.put_object("bkt", "kept/y", BytesBody(b"y"), PutOptions())
        await layer.delete_object("bkt", "gone/x")
        result = await layer.list_objects("bkt", "", "/")
        assert result.prefixes == ["kept/"] and result.objects == []
        versions = await layer.list_object_versions("bkt", "", "/")
        assert versions.prefixes == ["gone/", "kept/"]
        await layer.set_bucket_versioning("bkt", "Suspended")
        # Unversioned-style deletes leave no empty directories behind as phantom prefixes.
        await layer.put_object("bkt", "tmp/a/b/c", BytesBody(b"z"), PutOptions())
        await layer.delete_object("bkt", "tmp/a/b/c", "null")
        assert "tmp/" not in (await layer.list_objects("bkt", "", "/")).prefixes
    with_layer(scenario)


def test_many_keys(with_layer) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        keys = [f"k{i:05d}" for i in range(1200)] + [f"d/{i}" for i in range(30)]
        for key in keys:
            await layer.put_object("bkt", key, BytesBody(b""), PutOptions())
        page = await layer.list_objects("bkt", max_keys=1000)
        assert page.is_truncated and len(page.objects) == 1000
        rest = await layer.list_objects("bkt", marker=page.next_marker or "", max_keys=1000)
        assert not rest.is_truncated
        assert [o.key for o in page.objects + rest.objects] == _utf8_sorted(keys)
        grouped = await layer.list_objects("bkt", delimiter="/", max_keys=5000)
        assert grouped.prefixes == ["d/"] and len(grouped.objects) == 1200
    with_layer(scenario)
