"""s3fs (fsspec over aiobotocore): block-wise writes (multipart), ranged cat_file, ls, rm."""

from __future__ import annotations

from typing import Any

import pytest
import s3fs

from .helpers import MiB, assert_same, multipart_etag, payload


@pytest.fixture
def fs(engine: Any) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(
        key=engine.access_key, secret=engine.secret_key, use_listings_cache=False, skip_instance_cache=True,
        client_kwargs={"endpoint_url": engine.url, "region_name": engine.region},
        config_kwargs={"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 2}})


def test_s3fs_round_trip(fs: s3fs.S3FileSystem, bucket: str) -> None:
    data = payload("s3fs", 0, 12 * MiB + 99)
    path = f"{bucket}/dir/big.bin"
    with fs.open(path, "wb", block_size=5 * MiB) as f:
        for i in range(0, len(data), MiB):        # small writes, flushed as 5 MiB parts
            f.write(data[i:i + MiB])
    info = fs.info(path)
    assert info["size"] == len(data)
    assert info["ETag"].strip('"') == multipart_etag(data, 5 * MiB)
    assert_same(fs.cat_file(path), data)
    for start, end in ((0, 1), (5 * MiB - 7, 5 * MiB + 7), (MiB, 3 * MiB), (len(data) - 1, len(data))):
        assert_same(fs.cat_file(path, start=start, end=end), data[start:end], f"[{start}:{end}]")
    assert_same(fs.cat_file(path, start=-50), data[-50:])
    with fs.open(path, "rb", block_size=MiB) as f:     # random access reads through readahead
        f.seek(7 * MiB + 3)
        assert_same(f.read(1000), data[7 * MiB + 3:7 * MiB + 1003])
        f.seek(10)
        assert_same(f.read(10), data[10:20])

    fs.pipe(f"{bucket}/dir/small.txt", b"small")
    fs.pipe(f"{bucket}/other.txt", b"other")
    assert sorted(fs.ls(f"{bucket}/dir", detail=False)) == [f"{bucket}/dir/big.bin", f"{bucket}/dir/small.txt"]
    top = {e["name"]: e["type"] for e in fs.ls(bucket, detail=True)}
    assert top == {f"{bucket}/dir": "directory", f"{bucket}/other.txt": "file"}
    assert sorted(fs.find(bucket)) == [f"{bucket}/dir/big.bin", f"{bucket}/dir/small.txt", f"{bucket}/other.txt"]
    fs.rm(f"{bucket}/dir", recursive=True)
    assert not fs.exists(path)
    assert fs.ls(bucket, detail=False) == [f"{bucket}/other.txt"]
    fs.rm(f"{bucket}/other.txt")
    with pytest.raises(FileNotFoundError):
        fs.cat_file(f"{bucket}/other.txt")
