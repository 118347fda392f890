"""Metadata of object lock (docs/object-lock.md): a version's retention and legal hold ("lm", "lu", "lh"), the
bucket record's configuration ("lock") and an upload's lock headers; records without them read and pack unchanged."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import msgpack
import pytest
from storage_helpers import BytesBody, open_layer, run

from storage_engine import errors

from storage_engine.erasure.metadata import Version, decode_header, encode_header
from storage_engine.objects.buckets import BucketMeta
from storage_engine.objects.multipart import UploadMeta
from storage_engine.objects.object_lock import LockConfig, LockRequest
from storage_engine.objects.types import PutOptions


def _packb(value: Any) -> bytes:
    return cast(bytes, msgpack.packb(value, use_bin_type=True))


def test_version_lock_fields_round_trip_and_are_absent_when_unset() -> None:
    locked = Version("v1", "d" * 32, 1.0, size=5, lock_mode="COMPLIANCE", lock_until=1e10, legal_hold=False)
    [doc] = msgpack.unpackb(encode_header([locked]), raw=False)[1]
    assert (doc["lm"], doc["lu"], doc["lh"]) == ("COMPLIANCE", 1e10, False)
    [back] = decode_header(encode_header([locked]))
    assert (back.lock_mode, back.lock_until, back.legal_hold) == ("COMPLIANCE", 1e10, False)
    [plain] = msgpack.unpackb(encode_header([Version("v2", "d" * 32, 1.0, size=5)]), raw=False)[1]
    assert not {"lm", "lu", "lh"} & set(plain)


def test_bucket_record_keeps_the_configuration_and_old_records_read_unchanged() -> None:
    old = cast(bytes, msgpack.packb({"name": "b", "created": 1.0, "versioning": "Enabled"}))
    meta = BucketMeta.unpack(old)
    assert meta.object_lock is None and meta.pack() == old
    for config in (LockConfig(), LockConfig("GOVERNANCE", days=1), LockConfig("COMPLIANCE", years=3)):
        locked = BucketMeta("b", 1.0, "Enabled", object_lock=config)
        assert BucketMeta.unpack(locked.pack()).object_lock == config


def test_upload_record_keeps_the_lock_headers() -> None:
    upload = UploadMeta("b", "k", "u" * 32, 2.0, "STANDARD", 2, 2, [1, 2, 3, 4], lock=["GOVERNANCE", 1e10, True])
    back = UploadMeta.unpack(upload.pack())
    assert back.lock_request() == LockRequest("GOVERNANCE", 1e10, True)
    plain = UploadMeta("b", "k", "u" * 32, 2.0, "STANDARD", 2, 2, [1, 2, 3, 4])
    assert UploadMeta.unpack(plain.pack()).lock_request() is None
    assert plain.pack() == _packb(["b", "k", "u" * 32, 2.0, "STANDARD", 2, 2, [1, 2, 3, 4], {}, {}, None, None])


def test_heal_restores_the_lock_fields_and_the_lock_holds_after(tmp_path: Path) -> None:
    """A locked version's metadata lost on two of four drives comes back byte for byte, lock fields included;
    reads through the healed drives still see the lock, and the version still cannot be removed."""
    async def scenario() -> None:
        layer = await open_layer(tmp_path)
        await layer.make_bucket("bkt", object_lock=True)
        until = time.time() + 86400
        info = await layer.put_object("bkt", "k", BytesBody(b"locked" * 1000), PutOptions(
            lock=LockRequest("COMPLIANCE", until, True)))
        metas = [tmp_path / f"d{drive}" / "bkt" / "k.xl.meta" for drive in range(4)]
        before = [path.read_bytes() for path in metas]
        for path in metas[:2]:
            path.unlink()
        report = await layer.heal("bkt")
        assert report.failures == 0 and report.metadata_repaired >= 1
        assert [path.read_bytes() for path in metas] == before
        for path in metas[2:]:                          # only the healed copies remain
            path.unlink()
        healed = await layer.get_object_info("bkt", "k", info.version_id)
        assert (healed.lock_mode, healed.lock_until, healed.legal_hold) == ("COMPLIANCE", until, True)
        with pytest.raises(errors.AccessDenied):
            await layer.delete_object("bkt", "k", info.version_id, bypass_governance=True)
        await layer.close()
    run(scenario())
