"""Encryption in the object layer (docs/encryption.md): SSE-S3, SSE-KMS and SSE-C through the real layer on
tmp drives with the static KMS; ciphertext on disk; ranges; multipart; wrong and missing keys; bucket default
and auto encryption; tampering; a KMS that is down fails closed."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from storage_helpers import BytesBody, drive_paths, read_all, run, settings

from storage_engine import errors
from storage_engine.crypto.kms import DataKey, Kms, KmsUnavailable
from storage_engine.crypto.kms.static import StaticKms
from storage_engine.drives import paths
from storage_engine.crypto.packages import PACKAGE_SIZE, stored_size
from storage_engine.objects.layer import ErasureObjectLayer, open_object_layer
from storage_engine.objects.types import CompletePart, PutOptions, SseRequest
from storage_engine.topology import Pool

MiB = 1 << 20
MASTER = bytes(range(32))
SECRET = f"k1:{base64.b64encode(MASTER).decode()}"
CUSTOMER = hashlib.sha256(b"customer key").digest()
OTHER_CUSTOMER = hashlib.sha256(b"another key").digest()
MARKER = b"PLAINTEXT-MARKER-0123456789-"

MODES = {
    "S3": SseRequest("S3"),
    "KMS": SseRequest("KMS", kms_key_id="k1", context={"project": "p1"}),
    "C": SseRequest("C", customer_key=CUSTOMER),
}


def _key_of(sse: SseRequest) -> bytes | None:
    return sse.customer_key if sse.mode == "C" else None


class SwitchKms:
    """The static KMS, or (``down``) one that raises KmsUnavailable on every call."""

    def __init__(self) -> None:
        self.inner: Kms = StaticKms("k1", MASTER)
        self.backend = "static"
        self.default_key_id = "k1"
        self.down = False
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise KmsUnavailable("connection refused (test)")

    async def generate_data_key(self, key_id: str) -> DataKey:
        self._check()
        return await self.inner.generate_data_key(key_id)

    async def decrypt(self, key_id: str, wrapped: bytes) -> bytes:
        self._check()
        return await self.inner.decrypt(key_id, wrapped)

    async def rewrap(self, key_id: str, wrapped: bytes) -> bytes:
        self._check()
        return await self.inner.rewrap(key_id, wrapped)

    async def close(self) -> None:
        pass


async def _open(root: Path, kms: Kms | None = None, **overrides: Any) -> ErasureObjectLayer:
    values: dict[str, Any] = {"kms_secret_key": SECRET}
    values.update(overrides)
    return await open_object_layer([Pool(tuple(drive_paths(root)), 4)], settings(**values), kms=kms)


def _layer_run(root: Path, fn: Any, kms: Kms | None = None, **overrides: Any) -> Any:
    async def main() -> Any:
        layer = await _open(root, kms, **overrides)
        try:
            await layer.make_bucket("bkt")
            return await fn(layer)
        finally:
            await layer.close()
    return run(main())


def _pattern(size: int, seed: int = 0) -> bytes:
    """Non-repeating bytes (so a misplaced package shows), with the marker up front."""
    block = hashlib.sha256(str(seed).encode()).digest() * 2048       # 64 KiB
    data = (MARKER + block * (size // len(block) + 1))[:size]
    return data


def _files(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def _put(layer: ErasureObjectLayer, key: str, data: bytes, sse: SseRequest | None, **kw: Any) -> Any:
    return await layer.put_object("bkt", key, BytesBody(data, chunk=300_000), PutOptions(sse=sse, **kw))


async def _get(layer: ErasureObjectLayer, key: str, sse: SseRequest | None = None, offset: int = 0,
               length: int | None = None) -> bytes:
    reader = await layer.get_object("bkt", key, customer_key=_key_of(sse) if sse else None)
    try:
        return b"".join([bytes(c) async for c in reader.stream_views(offset, length)])
    finally:
        await reader.close()


@pytest.mark.parametrize("cipher", ["AES256-GCM", "CHACHA20-POLY1305"])
def test_round_trips_every_mode_and_size(tmp_path: Path, cipher: str) -> None:
    sizes = [0, 1000, MiB + 1, 3 * MiB + 12345]

    async def body(layer: ErasureObjectLayer) -> None:
        for mode, sse in MODES.items():
            for size in sizes:
                data = _pattern(size, size)
                key = f"{mode}-{size}"
                info = await _put(layer, key, data, sse)
                assert info.sse is not None and info.sse.mode == mode and info.size == size
                md5 = hashlib.md5(data).hexdigest()
                # SSE-S3 shows the MD5 (as AWS); SSE-KMS and SSE-C a MAC of it, never the MD5.
                assert (info.etag == md5) == (mode == "S3") and len(info.etag) == 32
                if mode == "C":
                    assert info.sse.customer_key_md5 == base64.b64encode(hashlib.md5(CUSTOMER).digest()).decode()
                if mode == "KMS":
                    assert info.sse.kms_key_id == "k1" and info.sse.context == {"project": "p1"}
                assert await _get(layer, key, sse) == data
                head = await layer.get_object_info("bkt", key, customer_key=_key_of(sse))
                assert (head.size, head.etag, head.sse and head.sse.mode) == (size, info.etag, mode)
                _, _, version = await layer.resolve_version("bkt", key, None)
                assert version.sse is not None and version.sse["c"] == (0 if cipher == "AES256-GCM" else 1)
                assert version.parts[0].stored_size == stored_size(size)
                assert version.inline == (stored_size(size) <= layer.settings.inline_threshold)
    _layer_run(tmp_path, body, sse_cipher=cipher)


def test_range_reads_on_package_and_block_edges(tmp_path: Path) -> None:
    size = 2 * MiB + 3 * PACKAGE_SIZE + 17
    data = _pattern(size, 7)
    edges = [0, 1, PACKAGE_SIZE - 1, PACKAGE_SIZE, PACKAGE_SIZE + 1, 16 * PACKAGE_SIZE - 1, MiB, MiB + 1,
             size - PACKAGE_SIZE, size - 17, size - 1]

    async def body(layer: ErasureObjectLayer) -> None:
        await _put(layer, "r", data, MODES["KMS"])
        for offset in edges:
            for length in (1, 2, PACKAGE_SIZE, PACKAGE_SIZE + 2, MiB + 5, size):
                assert await _get(layer, "r", None, offset, length) == data[offset:offset + length], (offset, length)
        assert await _get(layer, "r", None, size, 10) == b""
    _layer_run(tmp_path, body)


def test_bytes_on_the_drives_are_ciphertext(tmp_path: Path) -> None:
    big = MARKER * (MiB // len(MARKER) + 10)
    small = MARKER * 10

    async def body(layer: ErasureObjectLayer) -> None:
        for mode, sse in MODES.items():
            await _put(layer, f"big-{mode}", big, sse)
            await _put(layer, f"small-{mode}", small, sse)       # inline: in the metadata
        files = _files(tmp_path)
        assert not [path for path, content in files.items() if MARKER in content]
        # The search finds plaintext where there is some (so the check above means something).
        await _put(layer, "plain", small, None)
        assert [path for path, content in _files(tmp_path).items() if MARKER in content]
    _layer_run(tmp_path, body)


def _upload_parts(part: bytes, count: int) -> list[bytes]:
    return [part] * count


@pytest.mark.parametrize("mode", ["S3", "KMS", "C"])
def test_multipart_three_parts(tmp_path: Path, mode: str) -> None:
    sse = MODES[mode]
    part = _pattern(5 * MiB + 100, 3)
    last = _pattern(PACKAGE_SIZE + 1, 4)
    data = part + part + last

    async def body(layer: ErasureObjectLayer) -> None:
        upload = await layer.new_multipart_upload("bkt", "mp", PutOptions(sse=sse))
        etags = []
        for number, chunk in enumerate([part, part, last], 1):
            info = await layer.put_object_part("bkt", "mp", upload, number, BytesBody(chunk, chunk=700_000),
                                               PutOptions(sse=sse if mode == "C" else None))
            etags.append(info.etag)
            assert info.sse is not None and info.sse.mode == mode
        assert (await layer.get_multipart_upload("bkt", "mp", upload)).sse.mode == mode  # type: ignore[union-attr]
        assert (etags[0] == hashlib.md5(part).hexdigest()) == (mode == "S3")
        done = await layer.complete_multipart_upload("bkt", "mp", upload,
                                                     [CompletePart(i + 1, e) for i, e in enumerate(etags)], PutOptions())
        expected = hashlib.md5(b"".join(bytes.fromhex(e) for e in etags)).hexdigest() + "-3"
        assert done.etag == expected and done.size == len(data)
        assert done.sse is not None and done.sse.mode == mode
        assert await _get(layer, "mp", sse) == data
        s1 = len(part)
        for offset, length in [(s1 - 1, 2), (s1 - PACKAGE_SIZE, 2 * PACKAGE_SIZE), (2 * s1 - 3, 10),
                               (2 * s1, len(last)), (s1 // 2, s1 + 7), (0, len(data))]:
            assert await _get(layer, "mp", sse, offset, length) == data[offset:offset + length]
        # Per-part keys: equal plaintext parts are different ciphertext.
        es, view, version = await layer.resolve_version("bkt", "mp", None)
        stored = [p.stored_size for p in version.parts]
        reader = await es.open_version("bkt", "mp", view, version, on_damage=lambda: None)
        try:
            one = b"".join([bytes(c) async for c in reader.stream(0, stored[0])])
            two = b"".join([bytes(c) async for c in reader.stream(stored[0], stored[1])])
        finally:
            reader.close()
        assert len(one) == len(two) == stored_size(len(part))
        assert one != two and one[:4] == two[:4]      # same header shape, different bytes
        assert MARKER not in one + two
    _layer_run(tmp_path, body)


def test_sse_c_needs_the_right_key(tmp_path: Path) -> None:
    wrong = SseRequest("C", customer_key=OTHER_CUSTOMER)

    async def body(layer: ErasureObjectLayer) -> None:
        await _put(layer, "c", b"secret data" * 1000, MODES["C"])
        with pytest.raises(errors.SseCustomerKeyRequired) as missing:
            await layer.get_object("bkt", "c")
        assert missing.value.status == 400 and missing.value.code == "InvalidRequest"
        with pytest.raises(errors.SseCustomerKeyRequired):
            await layer.get_object_info("bkt", "c")
        with pytest.raises(errors.AccessDenied):
            await layer.get_object("bkt", "c", customer_key=OTHER_CUSTOMER)
        with pytest.raises(errors.AccessDenied):
            await layer.get_object_info("bkt", "c", customer_key=OTHER_CUSTOMER)
        # Listings need no key.
        assert [o.key for o in (await layer.list_objects("bkt")).objects] == ["c"]
        # A plaintext object refuses a customer key, as S3.
        await _put(layer, "p", b"plain", None)
        with pytest.raises(errors.InvalidRequest):
            await layer.get_object("bkt", "p", customer_key=CUSTOMER)
        # Multipart: each part must bring the upload's key.
        upload = await layer.new_multipart_upload("bkt", "cm", PutOptions(sse=MODES["C"]))
        with pytest.raises(errors.SseCustomerKeyRequired):
            await layer.put_object_part("bkt", "cm", upload, 1, BytesBody(b"x"), PutOptions())
        with pytest.raises(errors.AccessDenied):
            await layer.put_object_part("bkt", "cm", upload, 1, BytesBody(b"x"), PutOptions(sse=wrong))
        assert (await layer.list_parts("bkt", "cm", upload)).parts == []
    _layer_run(tmp_path, body)


def test_bucket_default_and_auto_encryption(tmp_path: Path) -> None:
    async def body(layer: ErasureObjectLayer) -> None:
        assert await layer.get_bucket_encryption("bkt") is None
        await layer.put_bucket_encryption("bkt", SseRequest("KMS", kms_key_id="k1"))
        assert await layer.get_bucket_encryption("bkt") == SseRequest("KMS", kms_key_id="k1")
        info = await _put(layer, "d", MARKER * 5, None)
        assert info.sse is not None and info.sse.mode == "KMS" and info.sse.kms_key_id == "k1"
        upload = await layer.new_multipart_upload("bkt", "dm", PutOptions())
        await layer.put_object_part("bkt", "dm", upload, 1, BytesBody(MARKER), PutOptions())
        # The request wins over the default.
        assert (await _put(layer, "c", b"x", MODES["C"])).sse.mode == "C"  # type: ignore[union-attr]
        await layer.set_bucket_versioning("bkt", "Enabled")                  # keeps the default
        assert await layer.get_bucket_encryption("bkt") == SseRequest("KMS", kms_key_id="k1")
        assert not [p for p, c in _files(tmp_path).items() if MARKER in c]
        await layer.put_bucket_encryption("bkt", None)
        assert await layer.get_bucket_encryption("bkt") is None
        assert (await _put(layer, "plain", b"x", None)).sse is None
        with pytest.raises(errors.InvalidArgument):
            await layer.put_bucket_encryption("bkt", SseRequest("C", customer_key=CUSTOMER))
        with pytest.raises(errors.NoSuchBucket):
            await layer.get_bucket_encryption("nope")
        # Removed with the bucket: a new bucket of the name starts without one.
        await layer.make_bucket("ebk")
        await layer.put_bucket_encryption("ebk", SseRequest("S3"))
        await layer.delete_bucket("ebk")
        await layer.make_bucket("ebk")
        assert await layer.get_bucket_encryption("ebk") is None
    _layer_run(tmp_path, body)

    async def auto(layer: ErasureObjectLayer) -> None:
        info = await _put(layer, "a", MARKER, None)
        assert info.sse is not None and info.sse.mode == "S3"
        assert await _get(layer, "a") == MARKER
    _layer_run(tmp_path / "auto", auto, kms_auto_encryption=True)


def _shard_files(root: Path, key: str) -> list[Path]:
    return sorted(p for p in root.rglob("part.1") if f"/bkt/{paths.data_container(key)}/" in str(p))


def test_tampered_shards_fail_the_get(tmp_path: Path) -> None:
    data = _pattern(MiB + 5, 9)

    async def body(layer: ErasureObjectLayer) -> None:
        await _put(layer, "t", data, MODES["S3"])
        await _put(layer, "u", _pattern(MiB + 5, 10), MODES["S3"])
        shards = _shard_files(tmp_path, "t")
        assert len(shards) == 4
        # The data of another object (a different key) in place of this one's: every shard is intact as a
        # file (bitrot hashes hold), the packages do not open.
        for path in shards:
            other = Path(str(path).replace(f"/bkt/{paths.data_container('t')}/", f"/bkt/{paths.data_container('u')}/"))
            other_dir = next(other.parent.parent.iterdir())
            path.write_bytes((other_dir / "part.1").read_bytes())
        with pytest.raises(errors.InternalError):
            await _get(layer, "t")
        # A flipped byte on more drives than parity repairs: the GET fails, never wrong bytes.
        await _put(layer, "f", data, MODES["S3"])
        for path in _shard_files(tmp_path, "f")[:3]:
            raw = bytearray(path.read_bytes())
            raw[100] ^= 1
            path.write_bytes(bytes(raw))
        with pytest.raises(errors.S3Error):
            await _get(layer, "f")
    _layer_run(tmp_path, body)


def test_damaged_key_material_fails_the_get(tmp_path: Path) -> None:
    async def body(layer: ErasureObjectLayer) -> None:
        for field in ("wk", "sk", "iv"):
            key = f"k-{field}"
            await _put(layer, key, b"data" * 100, MODES["KMS"])
            es, view, version = await layer.resolve_version("bkt", key, None)
            assert view is not None and version.sse is not None
            raw = bytearray(version.sse[field])
            raw[len(raw) // 2] ^= 0x01
            version.sse[field] = bytes(raw)
            await es.commit("bkt", key, view, list(view.versions))
            with pytest.raises(errors.InternalError):
                await _get(layer, key)
        # An envelope that is not one never reads as plaintext.
        await _put(layer, "k-env", b"data", MODES["S3"])
        es, view, version = await layer.resolve_version("bkt", "k-env", None)
        assert version.sse is not None
        version.sse["v"] = 99
        await es.commit("bkt", "k-env", view, list(view.versions))
        with pytest.raises(errors.InternalError):
            await _get(layer, "k-env")
    _layer_run(tmp_path, body)


def test_kms_down_fails_closed(tmp_path: Path) -> None:
    kms = SwitchKms()

    async def body(layer: ErasureObjectLayer) -> None:
        await _put(layer, "before", MARKER * 1000, MODES["S3"])
        mp = await layer.new_multipart_upload("bkt", "mp", PutOptions(sse=MODES["KMS"]))
        kms.down = True
        before = _files(tmp_path)
        for key, size in (("small", 100), ("large", 2 * MiB)):
            for sse in (MODES["S3"], MODES["KMS"], None):
                with pytest.raises(errors.KMSUnavailable):
                    await _put(layer, key, _pattern(size), sse)
        with pytest.raises(errors.KMSUnavailable):
            await layer.new_multipart_upload("bkt", "mp2", PutOptions(sse=MODES["S3"]))
        with pytest.raises(errors.KMSUnavailable):
            await layer.put_object_part("bkt", "mp", mp, 1, BytesBody(MARKER * 1000), PutOptions())
        with pytest.raises(errors.KMSUnavailable):
            await _get(layer, "before")
        # Nothing was stored: no version, no upload, no temporary leftovers.
        assert _files(tmp_path).keys() == before.keys()
        for key in ("small", "large"):
            with pytest.raises(errors.NoSuchKey):
                await layer.get_object_info("bkt", key)
        assert [u.key for u in (await layer.list_multipart_uploads("bkt")).uploads] == ["mp"]
        # SSE-C needs no KMS.
        await _put(layer, "c", b"c", MODES["C"])
        kms.down = False
        assert await _get(layer, "before") == MARKER * 1000
    _layer_run(tmp_path, body, kms=kms, kms_auto_encryption=True)


def test_every_put_gets_its_own_keys(tmp_path: Path) -> None:
    data = _pattern(3 * PACKAGE_SIZE, 5)

    async def body(layer: ErasureObjectLayer) -> None:
        sealed = set()
        for i in range(3):
            await _put(layer, f"same-{i}", data, MODES["S3"])
            _, _, version = await layer.resolve_version("bkt", f"same-{i}", None)
            assert version.sse is not None
            sealed.add((version.sse["wk"], version.sse["sk"], version.sse["iv"]))
        assert len(sealed) == 3
    _layer_run(tmp_path, body)


def test_concurrent_encrypted_puts(tmp_path: Path) -> None:
    import asyncio
    bodies = {f"k{i}": os.urandom(MiB + i * 1000) for i in range(6)}

    async def body(layer: ErasureObjectLayer) -> None:
        await asyncio.gather(*(_put(layer, k, v, MODES["KMS"]) for k, v in bodies.items()))
        for k, v in bodies.items():
            assert await read_all(layer, "bkt", k) == v
    _layer_run(tmp_path, body)


def test_encrypted_objects_heal_like_plain_ones(tmp_path: Path) -> None:
    data = _pattern(2 * MiB + 7, 11)

    async def body(layer: ErasureObjectLayer) -> None:
        await _put(layer, "h", data, MODES["KMS"])
        lost = _shard_files(tmp_path, "h")[0]
        lost.unlink()
        report = await layer.heal("bkt")
        assert report.shards_rebuilt >= 1 and lost.exists()
        for path in _shard_files(tmp_path, "h")[1:3]:      # now only the healed shard and one other remain
            path.unlink()
        assert await _get(layer, "h") == data
    _layer_run(tmp_path, body)
