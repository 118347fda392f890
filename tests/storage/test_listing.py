"""Listing order, prefixes, delimiters and markers."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from storage_helpers import BytesBody

from storage_engine.drives import listing_index, walk
from storage_engine.drives.local import LocalDrive
from storage_engine.objects.layer import ErasureObjectLayer
from storage_engine.objects.types import PutOptions

# m/ holds only files, whose names ("a.xl.meta", "a-b.xl.meta") sort otherwise than their keys.
KEYS = ["a", "a!", "a/b", "a/b/c", "a/b!", "a/c", "a0", "b/", "b/x", "photos/2024/1.jpg", "photos/2024/2.jpg",
        "photos/2024.txt", "photos/2025/1.jpg", "z", "ä", "日本/語", "a-b/c", "a.b", "a/", "m/a", "m/a!", "m/a.b",
        "m/a-b", "m/a0"]


def _utf8_sorted(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode())


async def _fill(layer: ErasureObjectLayer) -> None:
    await layer.make_bucket("bkt")
    for key in random.sample(KEYS, len(KEYS)):
        await layer.put_object("bkt", key, BytesBody(b"x"), PutOptions())


def _expected(prefix: str, delimiter: str, marker: str = "", keys: list[str] = KEYS) -> tuple[list[str], list[str]]:
    objects, prefixes = [], []
    for key in _utf8_sorted(keys):
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
                                  ("nothing", "/"), ("a//", "/"), ("日", "/"), ("m/", "")]:
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


# Keys AWS accepts that no file system can hold as they are: empty, "." and ".." segments, and segments
# longer than a file name. P shares its first 240 bytes (one .xl.cont piece) with short and long
# siblings, so a listing must merge a continuation directory into its parent in key order.
P = "p" * 240
AWS_KEYS = ["a//b", "/lead", "/", "//", "a/./b", "a/../b", ".", "..", "./x", "../x", "a/.", "a/..", "a/", "a",
            "x.xl.cont", "x.xl.cont/y", "x.xl.esc/", "s" * 247, "s" * 248, "s" * 1000, "d" * 500 + "/" + "e" * 500,
            "é" * 300, "日" * 341, P + "A" * 20, P + "Z", P + "Zz" * 30, P + "M/x", P + "N" * 20 + "/x",
            P + "N" * 20 + "/" + P + "/deep", P, P + "/"]


def test_keys_aws_accepts(with_layer, tmp_path) -> None:
    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        for i, key in enumerate(random.sample(AWS_KEYS, len(AWS_KEYS))):
            await layer.put_object("bkt", key, BytesBody(key.encode() * (1 if i % 2 else 200)), PutOptions())
        for i, key in enumerate(AWS_KEYS):
            reader = await layer.get_object("bkt", key)
            try:
                data = b"".join([chunk async for chunk in reader.stream(0, None)])
            finally:
                await reader.close()
            assert data.startswith(key.encode()) and len(data) % len(key.encode()) == 0, key
        for prefix, delimiter in [("", ""), ("", "/"), ("/", "/"), ("a/", "/"), ("a/.", ""), (P, ""), (P, "/"),
                                  (P + "N", "/"), (P + "Z", ""), ("s" * 300, ""), ("x.xl.", "/"), ("/", "")]:
            result = await layer.list_objects("bkt", prefix, delimiter)
            want_objects, want_prefixes = _expected(prefix, delimiter, keys=AWS_KEYS)
            assert [o.key for o in result.objects] == want_objects, (prefix, delimiter)
            assert result.prefixes == want_prefixes, (prefix, delimiter)
        for delimiter in ("", "/"):                    # a page ends inside a continuation directory
            want_objects, want_prefixes = _expected("", delimiter, keys=AWS_KEYS)
            objects: list[str] = []
            prefixes: list[str] = []
            marker = ""
            while True:
                page = await layer.list_objects("bkt", "", delimiter, marker, max_keys=2)
                objects += [o.key for o in page.objects]
                prefixes += page.prefixes
                if not page.is_truncated:
                    break
                assert page.next_marker
                marker = page.next_marker
            assert (objects, prefixes) == (want_objects, want_prefixes), delimiter
        for key in AWS_KEYS:
            await layer.delete_object("bkt", key)
        assert (await layer.list_objects("bkt")).objects == []
    with_layer(scenario)
    # Nothing was stored outside the bucket's directory, and deletes left no file behind.
    for drive in tmp_path.iterdir():
        assert sorted(p.name for p in drive.iterdir()) == [".rustfs.sys", "bkt"]
        assert [p for p in (drive / "bkt").rglob("*") if p.is_file()] == []


def test_random_keys_list_in_order(with_layer) -> None:
    """Random keys over an alphabet of separators, dots and multi-byte characters, with segments from
    empty to several file names long, list exactly as S3 orders them, in pages and with delimiters."""
    rng = random.Random(14)
    alphabet = ["a", "b", ".", "/", "é", "日", "\U0001f600"]

    def segment() -> str:
        return "".join(rng.choice(alphabet[:3] + alphabet[4:]) for _ in range(rng.choice([0, 1, 2, 3, 90, 130])))

    keys: set[str] = set()
    while len(keys) < 120:
        key = "/".join(segment() for _ in range(rng.randint(1, 3)))
        if key and len(key.encode()) <= 1024:
            keys.add(key)
    key_list = sorted(keys)

    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        for key in key_list:
            await layer.put_object("bkt", key, BytesBody(b"x"), PutOptions())
        for prefix, delimiter, page_size in [("", "", 7), ("", "/", 5), ("a", "/", 3), ("é", "", 4), ("/", "/", 2)]:
            want = _expected(prefix, delimiter, keys=key_list)
            objects: list[str] = []
            prefixes: list[str] = []
            marker = ""
            while True:
                page = await layer.list_objects("bkt", prefix, delimiter, marker, max_keys=page_size)
                objects += [o.key for o in page.objects]
                prefixes += page.prefixes
                if not page.is_truncated:
                    break
                assert page.next_marker
                marker = page.next_marker
            assert (objects, prefixes) == want, (prefix, delimiter)
    with_layer(scenario)


def test_a_cached_directory_listing_sees_every_change(with_layer) -> None:
    """Big directories' listings and headers are reused while the directory is unchanged (drives/walk.py,
    objects/listing.py): an overwrite, a delete and a new key all show at once."""
    import time

    keys = [f"d/{i:04d}" for i in range(300)]

    async def listed(layer: ErasureObjectLayer) -> dict[str, int]:
        out: dict[str, int] = {}
        marker = ""
        while True:
            page = await layer.list_objects("bkt", "d/", "", marker, max_keys=128)
            out.update((o.key, o.size) for o in page.objects)
            if not page.is_truncated:
                return out
            assert page.next_marker
            marker = page.next_marker

    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        for key in keys:
            await layer.put_object("bkt", key, BytesBody(b"x"), PutOptions())
        time.sleep(0.2)                 # past the file system's timestamp granularity: listings get cached
        assert await listed(layer) == dict.fromkeys(keys, 1)
        assert await listed(layer) == dict.fromkeys(keys, 1)     # from the cache
        await layer.put_object("bkt", "d/0100", BytesBody(b"longer"), PutOptions())
        await layer.delete_object("bkt", "d/0200")
        await layer.put_object("bkt", "d/0150a", BytesBody(b"new"), PutOptions())
        expected = {**dict.fromkeys(keys, 1), "d/0100": 6, "d/0150a": 3}
        del expected["d/0200"]
        assert await listed(layer) == expected
        time.sleep(0.2)
        assert await listed(layer) == expected
        await layer.put_object("bkt", "d/0100", BytesBody(b"xy"), PutOptions())
        assert (await listed(layer))["d/0100"] == 2
    with_layer(scenario)



def test_a_listing_right_after_writes_is_cached_for_its_next_page(with_layer, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A big directory listed within the clock's tick of its last change waits for the tick to pass, so
    its listing is cached and the next page does not scan the directory again. The clock is simulated:
    it stands at the last change's mtime until a walk waits."""
    keys = [f"d/{i:04d}" for i in range(300)]

    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        for key in keys:
            await layer.put_object("bkt", key, BytesBody(b"x"), PutOptions())
        clock = [max((tmp_path / f"d{i}" / "bkt" / "d").stat().st_mtime_ns for i in range(4))]
        monkeypatch.setattr(walk, "_clock_ns", lambda: clock[0])
        monkeypatch.setattr(walk, "_SETTLE_DIR_SIZE", 0)          # whatever size the file system gives it
        monkeypatch.setattr(walk, "_sleep", lambda seconds: clock.__setitem__(0, clock[0] + int(seconds * 1e9)))
        scans: list[str] = []
        real_sorted = walk._sorted

        def counted(path: str, dir_key: str, names: list[str]) -> object:
            scans.append(path)
            return real_sorted(path, dir_key, names)
        monkeypatch.setattr(walk, "_sorted", counted)
        first = await layer.list_objects("bkt", "d/", max_keys=100)
        assert len(scans) == 3                     # the walked drives
        second = await layer.list_objects("bkt", "d/", marker=first.objects[-1].key, max_keys=100)
        assert [o.key for o in first.objects + second.objects] == keys[:200]
        assert len(scans) == 3                     # from the cached listings
    with_layer(scenario)


def test_later_pages_of_a_big_listing_come_from_cached_listings_in_the_event_loop(
        with_layer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first page of a big directory's listing walks the drives in their threads and caches each
    drive's listing; the pages after it are taken from those listings without a thread hop, until the
    directory changes."""
    keys = [f"d/{i:04d}" for i in range(400)]

    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        for key in keys:
            await layer.put_object("bkt", key, BytesBody(b"x"), PutOptions())
        listing_index.wait_for_rebuilds()
        clock = [max((tmp_path / f"d{i}" / "bkt" / "d").stat().st_mtime_ns for i in range(4))]
        monkeypatch.setattr(walk, "_clock_ns", lambda: clock[0])
        monkeypatch.setattr(walk, "_SETTLE_DIR_SIZE", 0)
        monkeypatch.setattr(walk, "_sleep", lambda seconds: clock.__setitem__(0, clock[0] + int(seconds * 1e9)))
        threaded: list[str] = []
        real_walk = LocalDrive.walk

        async def counted(self: LocalDrive, *args: Any) -> Any:
            threaded.append(self.endpoint)
            return await real_walk(self, *args)
        monkeypatch.setattr(LocalDrive, "walk", counted)
        pages = [await layer.list_objects("bkt", "d/", max_keys=100)]
        assert len(threaded) == 3                  # the walked drives, each in its thread
        while pages[-1].is_truncated:
            pages.append(await layer.list_objects("bkt", "d/", marker=pages[-1].objects[-1].key, max_keys=100))
        assert [o.key for page in pages for o in page.objects] == keys
        assert len(threaded) == 3                  # every later page from the cached listings
        await layer.put_object("bkt", "d/0150x", BytesBody(b"xy"), PutOptions())
        again = await layer.list_objects("bkt", "d/", marker="d/0149", max_keys=2)
        assert [(o.key, o.size) for o in again.objects] == [("d/0150", 1), ("d/0150x", 2)]
        assert len(threaded) > 3                   # the changed directory is walked again
    with_layer(scenario)


def test_a_small_directory_is_listed_without_waiting(with_layer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a directory big enough to have its listing cached waits for the clock's tick after a write: a
    PUT then a LIST of a few keys is not slowed down."""
    waits: list[float] = []

    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        for i in range(20):
            await layer.put_object("bkt", f"d/{i:02d}", BytesBody(b"x"), PutOptions())
        monkeypatch.setattr(walk, "_sleep", waits.append)
        assert len((await layer.list_objects("bkt", "d/")).objects) == 20
    with_layer(scenario)
    assert waits == []


@pytest.mark.parametrize("case", ["same tick", "whole seconds"])
def test_a_listing_that_a_change_could_hide_from_is_not_cached(with_layer, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """A big directory's listing is cached only when a later change must move its mtime: not when it was
    listed within a clock tick of its last change, nor when its file system keeps whole seconds. Simulated
    by changing keys and then setting the directories' mtimes back, as such a file system would leave them."""
    keys = [f"d/{i:04d}" for i in range(300)]
    dirs = [tmp_path / f"d{i}" / "bkt" / "d" for i in range(4)]

    async def listed(layer: ErasureObjectLayer) -> dict[str, int]:
        page = await layer.list_objects("bkt", "d/", max_keys=1000)
        return {o.key: o.size for o in page.objects}

    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        for key in keys:
            await layer.put_object("bkt", key, BytesBody(b"x"), PutOptions())
        if case == "whole seconds":
            for d in dirs:
                past = (int(time.time()) - 5) * 10**9
                os.utime(d, ns=(past, past))
        mtimes = [d.stat().st_mtime_ns for d in dirs]
        if case == "same tick":
            monkeypatch.setattr(walk, "_clock_ns", lambda: max(mtimes))   # listed right after the last change
        assert await listed(layer) == dict.fromkeys(keys, 1)
        await layer.put_object("bkt", "d/0100", BytesBody(b"longer"), PutOptions())
        await layer.delete_object("bkt", "d/0200")
        for d, mtime in zip(dirs, mtimes):
            os.utime(d, ns=(mtime, mtime))
        expected = {**dict.fromkeys(keys, 1), "d/0100": 6}
        del expected["d/0200"]
        assert await listed(layer) == expected
    with_layer(scenario)


@pytest.mark.parametrize("damaged", [(0,), (0, 1), (0, 1, 2)])
def test_a_corrupt_header_is_listed_from_the_quorum_or_fails_the_listing(with_layer, tmp_path: Path,
                                                                         damaged: tuple[int, ...]) -> None:
    """A key whose meta file is corrupt on some walked drives is listed as the quorum has it. Corrupt on
    every walked drive (3 of 4), the quorum cannot say: the listing fails rather than leave the key out."""
    from storage_engine.errors import InsufficientReadQuorum

    async def scenario(layer: ErasureObjectLayer) -> None:
        await layer.make_bucket("bkt")
        for key in ("a", "b", "c"):
            await layer.put_object("bkt", key, BytesBody(b"x" * 5000), PutOptions())
        for drive in damaged:
            meta = tmp_path / f"d{drive}" / "bkt" / "b.xl.meta"
            data = bytearray(meta.read_bytes())
            data[20] ^= 0xFF
            meta.write_bytes(bytes(data))
        if len(damaged) == 3:
            with pytest.raises(InsufficientReadQuorum):
                await layer.list_objects("bkt")
        else:
            listed = (await layer.list_objects("bkt")).objects
            assert [(o.key, o.size) for o in listed] == [("a", 5000), ("b", 5000), ("c", 5000)]
    with_layer(scenario)
