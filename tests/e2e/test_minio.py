"""minio-py: fput_object (5 MiB parts), put_object of unknown length, ranged get_object, listing, stat."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from minio import Minio
from minio.error import S3Error as MinioError

from .helpers import KiB, MiB, assert_same, md5_hex, multipart_etag, payload


@pytest.fixture
def mc(engine: Any) -> Minio:
    return Minio(engine.address, access_key=engine.access_key, secret_key=engine.secret_key, secure=False,
                 region=engine.region)


def read_all(response: Any) -> bytes:
    try:
        return bytes(response.read())
    finally:
        response.close()
        response.release_conn()


def test_minio_round_trip(mc: Minio, bucket: str, tmp_path: Path) -> None:
    data = payload("minio", 0, 12 * MiB + 5)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    res = mc.fput_object(bucket, "dir/big.bin", str(src), part_size=5 * MiB, content_type="application/x-big",
                         metadata={"x-amz-meta-origin": "minio"})
    assert res.etag == multipart_etag(data, 5 * MiB)
    st = mc.stat_object(bucket, "dir/big.bin")
    assert st.size == len(data) and st.etag == res.etag and st.content_type == "application/x-big"
    assert (st.metadata.get("x-amz-meta-origin") or st.metadata.get("X-Amz-Meta-Origin")) == "minio"

    assert_same(read_all(mc.get_object(bucket, "dir/big.bin")), data)
    for offset, length in ((0, 1), (5 * MiB - 3, 6), (MiB, MiB), (len(data) - 10, 10)):
        got = read_all(mc.get_object(bucket, "dir/big.bin", offset=offset, length=length))
        assert_same(got, data[offset:offset + length], f"offset={offset} length={length}")
    tail = read_all(mc.get_object(bucket, "dir/big.bin", offset=len(data) - 100))
    assert_same(tail, data[-100:])

    out = tmp_path / "out.bin"
    mc.fget_object(bucket, "dir/big.bin", str(out))
    assert_same(out.read_bytes(), data)

    # Unknown length: minio-py buffers part_size and uploads parts.
    stream_data = payload("minio-stream", 0, 11 * MiB)
    mc.put_object(bucket, "dir/stream.bin", io.BytesIO(stream_data), length=-1, part_size=5 * MiB)
    assert_same(read_all(mc.get_object(bucket, "dir/stream.bin")), stream_data)
    small = payload("minio-small", 0, 3 * KiB)
    r = mc.put_object(bucket, "small", io.BytesIO(small), length=len(small))
    assert r.etag == md5_hex(small)

    names = sorted(o.object_name for o in mc.list_objects(bucket, recursive=True))
    assert names == ["dir/big.bin", "dir/stream.bin", "small"]
    top = sorted((o.object_name, o.is_dir) for o in mc.list_objects(bucket))
    assert top == [("dir/", True), ("small", False)]
    sizes = {o.object_name: o.size for o in mc.list_objects(bucket, prefix="dir/", recursive=True)}
    assert sizes == {"dir/big.bin": len(data), "dir/stream.bin": len(stream_data)}

    # Server-side compose (UploadPartCopy of whole objects and of a range).
    from minio.commonconfig import ComposeSource

    mc.compose_object(bucket, "composed", [ComposeSource(bucket, "dir/big.bin", offset=0, length=5 * MiB),
                                           ComposeSource(bucket, "dir/stream.bin"),
                                           ComposeSource(bucket, "small")])
    assert_same(read_all(mc.get_object(bucket, "composed")), data[:5 * MiB] + stream_data + small)
    mc.remove_object(bucket, "composed")

    mc.remove_object(bucket, "dir/big.bin")
    with pytest.raises(MinioError) as info:
        mc.stat_object(bucket, "dir/big.bin")
    assert info.value.code in ("NoSuchKey", "ResponseError") and info.value.response.status == 404
    with pytest.raises(MinioError) as info:
        read_all(mc.get_object(bucket, "dir/stream.bin", offset=len(stream_data) + 5))
    assert info.value.code == "InvalidRange"
    assert mc.bucket_exists(bucket) and not mc.bucket_exists(bucket + "-nope")
