"""boto3 against the engine, with boto3's default settings.

Recent botocore computes a CRC32 for every upload by default. Over plain http it sends it in an
``x-amz-checksum-crc32`` header; over https it streams the body as aws-chunked with the checksum in a
trailer (``STREAMING-UNSIGNED-PAYLOAD-TRAILER``). Upload tests run both ways: ``tls`` runs against an
engine serving HTTPS itself (``tls_engine``), and in those runs ``s3`` and ``bucket`` are that engine's too.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3.s3.transfer
import httpx
import pytest
from botocore.exceptions import ClientError

from .helpers import KiB, MiB, assert_same, error_code, md5_hex, multipart_etag, payload


def _over_tls(request: pytest.FixtureRequest) -> bool:
    callspec = getattr(request.node, "callspec", None)
    return callspec is not None and callspec.params.get("s3c") == "tls"


@pytest.fixture
def s3(s3: Any, request: pytest.FixtureRequest) -> Any:
    """The session's client; in ``s3c``'s tls runs the TLS engine's (so ``bucket`` is made there too)."""
    return request.getfixturevalue("tls_engine").tls_client if _over_tls(request) else s3


@pytest.fixture(params=["http", "tls"])
def s3c(request: pytest.FixtureRequest, engine: Any) -> Iterator[Any]:
    """A default boto3 client over http (checksum header) and over https (checksum trailer)."""
    if request.param == "http":
        client = engine.client()
    else:
        tls = request.getfixturevalue("tls_engine")
        client = tls.client(endpoint_url=tls.https_url, verify=tls.ca_file)
    sent: list[dict[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        sent.append({k.lower(): v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()})

    client.meta.events.register("before-send.s3", record)
    client.sent_headers = sent   # inspected by tests to prove which upload path ran
    client.transport = request.param
    yield client


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def crc32_b64(data: bytes) -> str:
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def status_of(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def expect_error(code: str, status: int, fn: Any, *args: Any, **kwargs: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        fn(*args, **kwargs)
    assert (error_code(info.value), status_of(info.value)) == (code, status), info.value.response
    return info.value


def xml_error_code(body: bytes) -> str:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(body)
    return root.findtext("Code") or ""


# --- basic object round trips ----------------------------------------------------------------------
def test_put_get_head_delete(s3c: Any, bucket: str) -> None:
    data = payload("obj", 1, 300 * KiB + 7)
    put = s3c.put_object(Bucket=bucket, Key="dir/obj.bin", Body=data, ContentType="application/x-test",
                         Metadata={"color": "blue", "owner": "e2e"}, CacheControl="max-age=60",
                         ContentDisposition='attachment; filename="x.bin"')
    assert put["ETag"] == f'"{md5_hex(data)}"'
    upload_headers = [h for h in s3c.sent_headers if h.get("x-amz-checksum-crc32") or h.get("x-amz-trailer")]
    assert upload_headers, "boto3 sent no CRC32 checksum: the default checksum path was not exercised"
    if s3c.transport == "tls":
        h = upload_headers[-1]
        assert h.get("x-amz-trailer") == "x-amz-checksum-crc32", h
        assert "aws-chunked" in h.get("content-encoding", ""), h
        assert h.get("x-amz-content-sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER", h

    head = s3c.head_object(Bucket=bucket, Key="dir/obj.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == f'"{md5_hex(data)}"'
    assert head["ContentType"] == "application/x-test"
    assert head["Metadata"] == {"color": "blue", "owner": "e2e"}
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentDisposition"] == 'attachment; filename="x.bin"'
    assert isinstance(head["LastModified"], datetime.datetime)

    got = s3c.get_object(Bucket=bucket, Key="dir/obj.bin")
    assert_same(got["Body"].read(), data)
    assert got["Metadata"] == {"color": "blue", "owner": "e2e"}

    s3c.delete_object(Bucket=bucket, Key="dir/obj.bin")
    expect_error("404", 404, s3c.head_object, Bucket=bucket, Key="dir/obj.bin")
    expect_error("NoSuchKey", 404, s3c.get_object, Bucket=bucket, Key="dir/obj.bin")
    # Deleting a key that does not exist succeeds.
    s3c.delete_object(Bucket=bucket, Key="dir/obj.bin")


def test_empty_and_inline_and_block_sized_objects(s3c: Any, bucket: str) -> None:
    sizes = [0, 1, 4 * KiB, 128 * KiB, 128 * KiB + 1, MiB - 1, MiB, MiB + 1, 4 * MiB + 3]
    for size in sizes:
        data = payload("sz", size, size)
        s3c.put_object(Bucket=bucket, Key=f"size-{size}", Body=data)
    for size in sizes:
        got = s3c.get_object(Bucket=bucket, Key=f"size-{size}")
        assert got["ContentLength"] == size
        assert_same(got["Body"].read(), payload("sz", size, size), f"object of {size} bytes")


def test_multipart_upload_file_and_download(s3c: Any, bucket: str, tmp_path: Path) -> None:
    data = payload("big", 2, 12 * MiB + 12345)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    cfg = boto3.s3.transfer.TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                                           max_concurrency=3)
    s3c.upload_file(str(src), bucket, "big.bin", Config=cfg)
    head = s3c.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == f'"{multipart_etag(data, 5 * MiB)}"'
    dst = tmp_path / "dst.bin"
    s3c.download_file(bucket, "big.bin", str(dst), Config=cfg)   # parallel ranged GETs
    assert_same(dst.read_bytes(), data)
    # A range across the boundary of parts 1 and 2 and of 1 MiB erasure blocks.
    start = 5 * MiB - 100
    got = s3c.get_object(Bucket=bucket, Key="big.bin", Range=f"bytes={start}-{start + 299}")
    assert got["ContentRange"] == f"bytes {start}-{start + 299}/{len(data)}"
    assert_same(got["Body"].read(), data[start:start + 300])


def test_multipart_low_level(s3c: Any, s3: Any, bucket: str) -> None:
    key = "mp/low-level.bin"
    p1 = payload(key, 1, 5 * MiB)
    p2 = payload(key, 2, 5 * MiB + 1)
    p3 = payload(key, 3, 1000)
    up = s3c.create_multipart_upload(Bucket=bucket, Key=key, ContentType="text/x-mp", Metadata={"m": "1"})
    uid = up["UploadId"]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [(key, uid)]
    etags = [s3c.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=b)["ETag"]
             for n, b in ((1, p1), (2, p2), (3, p3))]
    assert etags == [f'"{md5_hex(b)}"' for b in (p1, p2, p3)]
    # Re-uploading a part replaces it.
    etags[2] = s3c.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=3, Body=p3)["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [
        (1, len(p1), etags[0]), (2, len(p2), etags[1]), (3, len(p3), etags[2])]
    paged = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid, MaxParts=2)
    assert paged["IsTruncated"] is True and [p["PartNumber"] for p in paged["Parts"]] == [1, 2]
    rest = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid, PartNumberMarker=paged["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]

    done = s3c.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2, 3), etags)]})
    whole = p1 + p2 + p3
    expected_etag = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in (p1, p2, p3))).hexdigest() + "-3"
    assert done["ETag"] == f'"{expected_etag}"'
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["ETag"] == f'"{expected_etag}"'
    assert got["ContentType"] == "text/x-mp" and got["Metadata"] == {"m": "1"}
    assert_same(got["Body"].read(), whole)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    expect_error("NoSuchUpload", 404, s3.list_parts, Bucket=bucket, Key=key, UploadId=uid)


def test_upload_part_copy_with_range(s3: Any, bucket: str) -> None:
    src = payload("src", 0, 7 * MiB + 11)
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    r1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"},
                             CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    r2 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=100-199")
    assert r1["CopyPartResult"]["ETag"] == f'"{md5_hex(src[:5 * MiB])}"'
    assert r2["CopyPartResult"]["ETag"] == f'"{md5_hex(src[100:200])}"'
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
    assert_same(s3.get_object(Bucket=bucket, Key="dst")["Body"].read(), src[:5 * MiB] + src[100:200])


def test_abort_multipart(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="gone", UploadId=uid, PartNumber=1, Body=b"x" * 1000)
    s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=uid)
    expect_error("NoSuchUpload", 404, s3.upload_part, Bucket=bucket, Key="gone", UploadId=uid,
                 PartNumber=2, Body=b"y")
    expect_error("NoSuchUpload", 404, s3.complete_multipart_upload, Bucket=bucket, Key="gone", UploadId=uid,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"' + md5_hex(b"x" * 1000) + '"'}]})
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="gone")


# --- ranges --------------------------------------------------------------------------------------
def test_range_reads(s3: Any, bucket: str) -> None:
    data = payload("range", 0, 3 * MiB + 17)
    n = len(data)
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    small = payload("range-small", 0, 1000)
    s3.put_object(Bucket=bucket, Key="small", Body=small)
    cases = [
        ("bytes=0-0", 0, 0), ("bytes=0-99", 0, 99), ("bytes=10-", 10, n - 1),
        (f"bytes={MiB - 5}-{MiB + 5}", MiB - 5, MiB + 5),            # across an erasure block
        (f"bytes={2 * MiB}-{3 * MiB - 1}", 2 * MiB, 3 * MiB - 1),    # exactly one block
        ("bytes=-100", n - 100, n - 1), (f"bytes={n - 1}-", n - 1, n - 1),
        (f"bytes=5-{n + 1000}", 5, n - 1),                            # end past the object: clipped
        (f"bytes=-{n + 50}", 0, n - 1),                               # suffix longer than the object
    ]
    for header, first, last in cases:
        got = s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206, header
        assert got["ContentRange"] == f"bytes {first}-{last}/{n}", header
        assert got["ContentLength"] == last - first + 1, header
        assert_same(got["Body"].read(), data[first:last + 1], header)
    got = s3.get_object(Bucket=bucket, Key="small", Range="bytes=990-2000")
    assert_same(got["Body"].read(), small[990:])
    for bad in (f"bytes={n}-", f"bytes={n + 10}-{n + 20}"):
        expect_error("InvalidRange", 416, s3.get_object, Bucket=bucket, Key="r", Range=bad)
    # Unsatisfiable or malformed syntax is ignored: the whole object, 200 (RFC 9110).
    got = s3.get_object(Bucket=bucket, Key="small", Range="bytes=abc")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert_same(got["Body"].read(), small)


# --- listing -------------------------------------------------------------------------------------
def test_list_objects_v2_paging_and_delimiters(s3: Any, bucket: str) -> None:
    keys = sorted([f"a/{i:02d}" for i in range(9)] + [f"b/c/{i}" for i in range(5)]
                  + [f"top{i}" for i in range(6)] + ["a/sub/x", "b/y"])
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    seen: list[str] = []
    token = None
    for _ in range(20):
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=7, **kw)
        assert page["KeyCount"] == len(page.get("Contents", []))
        assert page["KeyCount"] <= 7
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == keys
    objs = {o["Key"]: o for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert objs["a/00"]["Size"] == 4 and objs["a/00"]["ETag"] == f'"{md5_hex(b"a/00")}"'

    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "b/"]
    assert [o["Key"] for o in top["Contents"]] == [f"top{i}" for i in range(6)]
    sub = s3.list_objects_v2(Bucket=bucket, Prefix="b/", Delimiter="/")
    assert [p["Prefix"] for p in sub["CommonPrefixes"]] == ["b/c/"]
    assert [o["Key"] for o in sub["Contents"]] == ["b/y"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="b/c/4")
    assert [o["Key"] for o in after["Contents"]] == [k for k in keys if k > "b/c/4"]
    # Delimiter paging: prefixes count against max-keys and are not repeated.
    rolled: list[str] = []
    token = None
    for _ in range(20):
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=2, **kw)
        rolled += [p["Prefix"] for p in page.get("CommonPrefixes", [])] + [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert sorted(rolled) == ["a/", "b/"] + [f"top{i}" for i in range(6)]
    assert len(rolled) == len(set(rolled))
    owner = s3.list_objects_v2(Bucket=bucket, MaxKeys=1, FetchOwner=True)["Contents"][0]
    assert "Owner" in owner


def test_list_objects_v1_marker(s3: Any, bucket: str) -> None:
    keys = [f"k{i:03d}" for i in range(12)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    seen: list[str] = []
    marker = ""
    for _ in range(20):
        page = s3.list_objects(Bucket=bucket, MaxKeys=5, Marker=marker)
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        marker = page.get("NextMarker") or seen[-1]
    assert seen == keys


def test_odd_keys_and_url_encoding(s3: Any, bucket: str) -> None:
    keys = ["sp ace", "plus+sign", "per%cent", "üñíçødé/ключ", "q?uery&amp=1", "tab\tkey", "a#b", "~tilde",
            ("/".join(["x" * 200] * 5) + "y" * 20)[:1024]]          # the longest key S3 allows
    assert len(keys[-1].encode()) == 1024
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    for k in keys:
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == k.encode(), k
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]   # boto3 asks for url encoding
    assert listed == sorted(keys, key=lambda k: k.encode())
    expect_error("KeyTooLongError", 400, s3.put_object, Bucket=bucket, Key="y/" * 512 + "z", Body=b"")
    # A single path segment longer than a file name may be refused (like MinIO), but only as a 400.
    try:
        s3.put_object(Bucket=bucket, Key="s" * 300, Body=b"long segment")
    except ClientError as exc:
        assert status_of(exc) == 400, exc.response
    else:
        assert s3.get_object(Bucket=bucket, Key="s" * 300)["Body"].read() == b"long segment"


# --- copy, tagging, delete objects ---------------------------------------------------------------------
def test_copy_object(s3: Any, bucket: str, unique_name: Any) -> None:
    data = payload("copy", 0, MiB + 512 * KiB)
    s3.put_object(Bucket=bucket, Key="src", Body=data, Metadata={"a": "1"}, ContentType="text/src")
    r = s3.copy_object(Bucket=bucket, Key="same-meta", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"]["ETag"] == f'"{md5_hex(data)}"'
    h = s3.head_object(Bucket=bucket, Key="same-meta")
    assert h["Metadata"] == {"a": "1"} and h["ContentType"] == "text/src"
    s3.copy_object(Bucket=bucket, Key="new-meta", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   Metadata={"b": "2"}, ContentType="text/dst")
    h = s3.head_object(Bucket=bucket, Key="new-meta")
    assert h["Metadata"] == {"b": "2"} and h["ContentType"] == "text/dst"
    other = unique_name("cp")
    s3.create_bucket(Bucket=other)
    try:
        s3.copy_object(Bucket=other, Key="x", CopySource={"Bucket": bucket, "Key": "src"})
        assert_same(s3.get_object(Bucket=other, Key="x")["Body"].read(), data)
        s3.delete_object(Bucket=other, Key="x")
    finally:
        s3.delete_bucket(Bucket=other)
    # Copying an object onto itself is allowed only when something changes.
    s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"c": "3"})
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"c": "3"}
    assert_same(s3.get_object(Bucket=bucket, Key="src")["Body"].read(), data)
    expect_error("InvalidRequest", 400, s3.copy_object, Bucket=bucket, Key="src",
                 CopySource={"Bucket": bucket, "Key": "src"})
    expect_error("NoSuchKey", 404, s3.copy_object, Bucket=bucket, Key="z",
                 CopySource={"Bucket": bucket, "Key": "missing"})


def test_tagging(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="t", Body=b"tagged", Tagging="a=1&b=two%20words")
    tags = s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "two words")]
    assert s3.get_object(Bucket=bucket, Key="t")["TagCount"] == 2
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "z", "Value": "26"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "z", "Value": "26"}]
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == b"tagged"
    expect_error("NoSuchKey", 404, s3.get_object_tagging, Bucket=bucket, Key="nope")


def test_delete_objects(s3: Any, bucket: str) -> None:
    keys = [f"d/{i}" for i in range(6)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"1")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[:4] + ["d/missing"]]})
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted(keys[:4] + ["d/missing"])
    assert r.get("Errors", []) == []
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": keys[4]}], "Quiet": True})
    assert r.get("Deleted", []) == [] and r.get("Errors", []) == []
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [keys[5]]


# --- buckets -------------------------------------------------------------------------------------
def test_bucket_operations(s3: Any, unique_name: Any) -> None:
    name = unique_name("bk")
    s3.create_bucket(Bucket=name)
    try:
        assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        s3.head_bucket(Bucket=name)
        loc = s3.get_bucket_location(Bucket=name)["LocationConstraint"]
        assert loc in (None, "", "us-east-1")
        # Already owned: 200 in us-east-1, AWS's legacy answer (tests/e2e/test_aws_behaviour.py: other regions).
        assert s3.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
        s3.put_object(Bucket=name, Key="x", Body=b"x")
        expect_error("BucketNotEmpty", 409, s3.delete_bucket, Bucket=name)
        s3.delete_object(Bucket=name, Key="x")
    finally:
        s3.delete_bucket(Bucket=name)
    expect_error("404", 404, s3.head_bucket, Bucket=name)
    expect_error("NoSuchBucket", 404, s3.get_object, Bucket=name, Key="x")
    expect_error("NoSuchBucket", 404, s3.put_object, Bucket=name, Key="x", Body=b"x")
    expect_error("NoSuchBucket", 404, s3.list_objects_v2, Bucket=name)
    expect_error("NoSuchBucket", 404, s3.delete_bucket, Bucket=name)
    for bad in ("ab", "Bad_Name", "-leading-dash", "a" * 64, "double..dot", "192.168.1.1"):
        expect_error("InvalidBucketName", 400, s3.create_bucket, Bucket=bad)


# --- versioning ----------------------------------------------------------------------------------
def test_versioning(s3: Any, bucket: str) -> None:
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") is None
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    v1_data, v2_data = payload("v", 1, 1000), payload("v", 2, 200 * KiB)
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=v1_data)["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=v2_data)["VersionId"]
    assert v1 and v2 and v1 != v2 and "null" not in (v1, v2)
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(v2, True), (v1, False)]
    assert_same(s3.get_object(Bucket=bucket, Key="k")["Body"].read(), v2_data)
    old = s3.get_object(Bucket=bucket, Key="k", VersionId=v1)
    assert old["VersionId"] == v1
    assert_same(old["Body"].read(), v1_data)
    assert s3.head_object(Bucket=bucket, Key="k", VersionId=v1)["ContentLength"] == len(v1_data)

    marker = s3.delete_object(Bucket=bucket, Key="k")
    assert marker["DeleteMarker"] is True and marker["VersionId"] not in (v1, v2)
    err = expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="k")
    assert err.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true"
    listing = s3.list_object_versions(Bucket=bucket)
    assert [(m["VersionId"], m["IsLatest"]) for m in listing["DeleteMarkers"]] == [(marker["VersionId"], True)]
    assert [v["VersionId"] for v in listing["Versions"]] == [v2, v1]
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert_same(s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read(), v1_data)
    expect_error("MethodNotAllowed", 405, s3.get_object, Bucket=bucket, Key="k", VersionId=marker["VersionId"])

    # Removing the marker brings v2 back; removing v1 leaves only v2.
    s3.delete_object(Bucket=bucket, Key="k", VersionId=marker["VersionId"])
    assert_same(s3.get_object(Bucket=bucket, Key="k")["Body"].read(), v2_data)
    r = s3.delete_object(Bucket=bucket, Key="k", VersionId=v1)
    assert r["VersionId"] == v1
    assert [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]] == [v2]
    expect_error("NoSuchVersion", 404, s3.get_object, Bucket=bucket, Key="k", VersionId=v1)

    # Copy from an old version; a bucket holding only versions and markers is not empty.
    s3.copy_object(Bucket=bucket, Key="restored", CopySource={"Bucket": bucket, "Key": "k", "VersionId": v2})
    assert_same(s3.get_object(Bucket=bucket, Key="restored")["Body"].read(), v2_data)
    s3.delete_object(Bucket=bucket, Key="restored")
    expect_error("BucketNotEmpty", 409, s3.delete_bucket, Bucket=bucket)

    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"null-1").get("VersionId") in (None, "null")
    s3.put_object(Bucket=bucket, Key="k", Body=b"null-2")
    ids = [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket, Prefix="k")["Versions"]]
    assert ids == ["null", v2]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"null-2"


# --- presigned URLs ------------------------------------------------------------------------------
def test_presigned_get_and_put(engine: Any, bucket: str) -> None:
    # botocore presigns S3 URLs with SigV2 unless told otherwise; the engine speaks SigV4.
    s3 = engine.client(signature_version="s3v4")
    data = payload("presigned", 0, 2 * MiB + 3)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=300)
    r = httpx.put(put_url, content=data, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == f'"{md5_hex(data)}"'
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=300)
    r = httpx.get(get_url, timeout=60)
    assert r.status_code == 200
    assert_same(r.content, data)
    r = httpx.get(get_url, headers={"Range": "bytes=100-199"}, timeout=60)
    assert r.status_code == 206 and r.content == data[100:200]
    # A changed signature, key or expiry is refused.
    tampered = get_url.replace("X-Amz-Signature=", "X-Amz-Signature=0")[:len(get_url)]
    r = httpx.get(tampered, timeout=30)
    assert r.status_code == 403 and xml_error_code(r.content) == "SignatureDoesNotMatch"
    r = httpx.get(get_url.replace(f"/{bucket}/p?", f"/{bucket}/q?"), timeout=30)
    assert r.status_code == 403 and xml_error_code(r.content) == "SignatureDoesNotMatch"
    short = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=1)
    time.sleep(2.1)
    r = httpx.get(short, timeout=30)
    assert r.status_code == 403 and xml_error_code(r.content) == "AccessDenied", r.text


# --- conditional requests ------------------------------------------------------------------------
def test_conditional_requests(s3: Any, bucket: str) -> None:
    data = b"conditional"
    etag = s3.put_object(Bucket=bucket, Key="c", Body=data)["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    past = modified - datetime.timedelta(hours=1)
    future = modified + datetime.timedelta(hours=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == data
    assert s3.get_object(Bucket=bucket, Key="c", IfNoneMatch='"0000"')["Body"].read() == data
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == data
    assert s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=future)["Body"].read() == data
    expect_error("PreconditionFailed", 412, s3.get_object, Bucket=bucket, Key="c", IfMatch='"0000"')
    expect_error("PreconditionFailed", 412, s3.get_object, Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    expect_error("304", 304, s3.get_object, Bucket=bucket, Key="c", IfNoneMatch=etag)
    expect_error("304", 304, s3.get_object, Bucket=bucket, Key="c", IfModifiedSince=future)
    expect_error("412", 412, s3.head_object, Bucket=bucket, Key="c", IfMatch='"0000"')
    expect_error("304", 304, s3.head_object, Bucket=bucket, Key="c", IfNoneMatch=etag)
    # RFC 7232 precedence: If-Match true wins over If-Unmodified-Since false.
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince=past)["Body"].read() == data
    # Conditional PUT: If-None-Match: * creates only.
    expect_error("PreconditionFailed", 412, s3.put_object, Bucket=bucket, Key="c", Body=b"other", IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == data
    s3.put_object(Bucket=bucket, Key="new", Body=b"first", IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="new")["Body"].read() == b"first"


# --- checksums -----------------------------------------------------------------------------------
def test_checksum_mode_returns_checksums(s3c: Any, bucket: str) -> None:
    import crc32c as crc32c_mod

    data = payload("ck", 0, 700 * KiB + 5)
    s3c.put_object(Bucket=bucket, Key="default", Body=data)       # boto3's default CRC32
    got = s3c.get_object(Bucket=bucket, Key="default", ChecksumMode="ENABLED")
    assert got.get("ChecksumCRC32") == crc32_b64(data), got["ResponseMetadata"]["HTTPHeaders"]
    assert_same(got["Body"].read(), data)
    head = s3c.head_object(Bucket=bucket, Key="default", ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32") == crc32_b64(data)

    s3c.put_object(Bucket=bucket, Key="sha256", Body=data, ChecksumAlgorithm="SHA256")
    got = s3c.get_object(Bucket=bucket, Key="sha256", ChecksumMode="ENABLED")
    assert got.get("ChecksumSHA256") == b64(hashlib.sha256(data).digest())
    got["Body"].read()
    s3c.put_object(Bucket=bucket, Key="crc32c", Body=data, ChecksumAlgorithm="CRC32C")
    got = s3c.get_object(Bucket=bucket, Key="crc32c", ChecksumMode="ENABLED")
    assert got.get("ChecksumCRC32C") == b64(crc32c_mod.crc32c(data).to_bytes(4, "big"))
    got["Body"].read()
    s3c.put_object(Bucket=bucket, Key="sha1", Body=data, ChecksumAlgorithm="SHA1")
    got = s3c.get_object(Bucket=bucket, Key="sha1", ChecksumMode="ENABLED")
    assert got.get("ChecksumSHA1") == b64(hashlib.sha1(data).digest())
    got["Body"].read()
    # A wrong checksum value is refused and nothing is stored.
    expect_error("BadDigest", 400, s3c.put_object, Bucket=bucket, Key="bad", Body=data,
                 ChecksumCRC32=crc32_b64(data + b"x"))
    expect_error("NoSuchKey", 404, s3c.get_object, Bucket=bucket, Key="bad")


def test_multipart_checksums(s3c: Any, bucket: str, tmp_path: Path) -> None:
    """upload_file sends per-part CRC32s (header or trailer); the object reports a CRC32 back."""
    data = payload("mpck", 0, 11 * MiB)
    src = tmp_path / "f"
    src.write_bytes(data)
    cfg = boto3.s3.transfer.TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3c.upload_file(str(src), bucket, "mp", Config=cfg)
    head = s3c.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    value = head.get("ChecksumCRC32")
    assert value, head["ResponseMetadata"]["HTTPHeaders"]
    if head.get("ChecksumType") == "FULL_OBJECT":
        assert value == crc32_b64(data)
    else:   # COMPOSITE: crc32 of the parts' crc32s, "-N"
        parts = [data[i:i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
        composite = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)
        assert value == f"{crc32_b64(composite)}-{len(parts)}"
    got = s3c.get_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert_same(got["Body"].read(), data)


# --- errors --------------------------------------------------------------------------------------
def test_error_bad_credentials(engine: Any, bucket: str) -> None:
    wrong_secret = engine.client(secret_key="not-the-secret-key-at-all")
    expect_error("SignatureDoesNotMatch", 403, wrong_secret.list_buckets)
    expect_error("SignatureDoesNotMatch", 403, wrong_secret.put_object, Bucket=bucket, Key="x", Body=b"x")
    unknown = engine.client(access_key="NOSUCHACCESSKEY0000")
    expect_error("InvalidAccessKeyId", 403, unknown.list_buckets)
    status, body = engine.request("GET", f"/{bucket}", sign=False)
    assert (status, xml_error_code(body)) == (403, "AccessDenied")


def test_error_request_time_too_skewed(engine: Any, bucket: str) -> None:
    for skew in (-20 * 60, 20 * 60, -24 * 3600):
        headers = engine.sign("GET", f"/{bucket}", "list-type=2",
                              payload_hash=hashlib.sha256(b"").hexdigest(), now=time.time() + skew)
        from http.client import HTTPConnection

        conn = HTTPConnection("127.0.0.1", engine.port, timeout=30)
        conn.request("GET", f"/{bucket}?list-type=2", headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert (resp.status, xml_error_code(body)) == (403, "RequestTimeTooSkewed"), (skew, body)
    # Within the allowed skew: fine.
    headers = engine.sign("GET", f"/{bucket}", "list-type=2", payload_hash=hashlib.sha256(b"").hexdigest(),
                          now=time.time() - 120)
    status, body = engine.request("GET", f"/{bucket}", "list-type=2", headers=headers, sign=False)
    assert status == 200, body


def test_error_bad_digest(s3: Any, bucket: str) -> None:
    data = b"the real body"
    wrong = b64(hashlib.md5(b"another body").digest())
    expect_error("BadDigest", 400, s3.put_object, Bucket=bucket, Key="md5", Body=data, ContentMD5=wrong)
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=bucket, Key="md5")
    expect_error("InvalidDigest", 400, s3.put_object, Bucket=bucket, Key="md5", Body=data, ContentMD5="notbase64!")
    s3.put_object(Bucket=bucket, Key="md5", Body=data, ContentMD5=b64(hashlib.md5(data).digest()))
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mpmd5")["UploadId"]
    expect_error("BadDigest", 400, s3.upload_part, Bucket=bucket, Key="mpmd5", UploadId=uid, PartNumber=1,
                 Body=data, ContentMD5=wrong)
    s3.abort_multipart_upload(Bucket=bucket, Key="mpmd5", UploadId=uid)


def test_error_x_amz_content_sha256_mismatch(engine: Any, bucket: str) -> None:
    body = b"body"
    headers = engine.sign("PUT", f"/{bucket}/sha", payload_hash=hashlib.sha256(b"other").hexdigest())
    status, resp = engine.request("PUT", f"/{bucket}/sha", body=body, headers=headers, sign=False)
    assert status == 400 and xml_error_code(resp) in ("XAmzContentSHA256Mismatch", "BadDigest"), resp
    status, _ = engine.request("GET", f"/{bucket}/sha")
    assert status == 404


def test_error_malformed_xml(engine: Any, s3: Any, bucket: str) -> None:
    def post(path: str, query: str, body: bytes, method: str = "POST") -> tuple[int, str]:
        md5 = b64(hashlib.md5(body).digest())
        status, resp = engine.request(method, path, query, body=body, headers={"Content-MD5": md5})
        return status, xml_error_code(resp)

    assert post(f"/{bucket}", "delete=", b"<Delete><Object><Key>a</Key></Object") == (400, "MalformedXML")
    assert post(f"/{bucket}", "delete=", b"not xml at all") == (400, "MalformedXML")
    assert post(f"/{bucket}", "versioning=", b"<VersioningConfiguration><Status>Enabled",
                method="PUT") == (400, "MalformedXML")
    s3.put_object(Bucket=bucket, Key="t", Body=b"x")
    assert post(f"/{bucket}/t", "tagging=", b"<Tagging><TagSet><Tag><Key>a</Key>", method="PUT") == \
        (400, "MalformedXML")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mx")["UploadId"]
    assert post(f"/{bucket}/mx", f"uploadId={quote(uid, safe='')}", b"<CompleteMultipartUpload><Part>") == \
        (400, "MalformedXML")
    s3.abort_multipart_upload(Bucket=bucket, Key="mx", UploadId=uid)


def test_error_entity_too_small(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=1, Body=b"a" * 1024)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="small", UploadId=uid, PartNumber=2, Body=b"b" * 1024)["ETag"]
    expect_error("EntityTooSmall", 400, s3.complete_multipart_upload, Bucket=bucket, Key="small", UploadId=uid,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    # One small part alone is fine (the last part may be small).
    s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"a" * 1024


def test_error_invalid_part_and_order(s3: Any, bucket: str) -> None:
    key = "parts"
    p1, p2 = payload(key, 1, 5 * MiB), payload(key, 2, 100)
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2, Body=p2)["ETag"]

    def complete(parts: list[tuple[int, str]]) -> Any:
        return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]})

    expect_error("InvalidPartOrder", 400, complete, [(2, e2), (1, e1)])
    expect_error("InvalidPart", 400, complete, [(1, e1), (2, '"' + "0" * 32 + '"')])
    expect_error("InvalidPart", 400, complete, [(1, e1), (3, e2)])
    expect_error("InvalidArgument", 400, s3.upload_part, Bucket=bucket, Key=key, UploadId=uid,
                 PartNumber=10001, Body=b"x")
    expect_error("NoSuchUpload", 404, s3.upload_part, Bucket=bucket, Key=key, UploadId="bogus-upload-id",
                 PartNumber=1, Body=b"x")
    expect_error("NoSuchUpload", 404, s3.abort_multipart_upload, Bucket=bucket, Key=key, UploadId="bogus-upload-id")
    # The failed completions left the upload intact.
    complete([(1, e1), (2, e2)])
    assert_same(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), p1 + p2)


def test_crc64nvme_and_full_object_multipart_checksums(s3c: Any, bucket: str) -> None:
    from awscrt import checksums

    data = payload("crc64", 0, 11 * MiB + 3)
    s3c.put_object(Bucket=bucket, Key="c64", Body=data[:300 * KiB], ChecksumAlgorithm="CRC64NVME")
    got = s3c.get_object(Bucket=bucket, Key="c64", ChecksumMode="ENABLED")
    assert got.get("ChecksumCRC64NVME") == b64(checksums.crc64nvme(data[:300 * KiB]).to_bytes(8, "big"))
    got["Body"].read()

    # A FULL_OBJECT checksum over a multipart upload: the parts' CRCs combine into the whole object's.
    uid = s3c.create_multipart_upload(Bucket=bucket, Key="full", ChecksumAlgorithm="CRC32",
                                      ChecksumType="FULL_OBJECT")["UploadId"]
    parts = []
    for n, start in enumerate(range(0, len(data), 5 * MiB), 1):
        chunk = data[start:start + 5 * MiB]
        r = s3c.upload_part(Bucket=bucket, Key="full", UploadId=uid, PartNumber=n, Body=chunk,
                            ChecksumAlgorithm="CRC32")
        assert r.get("ChecksumCRC32") == crc32_b64(chunk)
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    done = s3c.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=uid, ChecksumType="FULL_OBJECT",
                                         ChecksumCRC32=crc32_b64(data), MultipartUpload={"Parts": parts})
    assert done.get("ChecksumCRC32") == crc32_b64(data)
    head = s3c.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32") == crc32_b64(data) and head.get("ChecksumType") == "FULL_OBJECT"
    assert_same(s3c.get_object(Bucket=bucket, Key="full")["Body"].read(), data)


def test_full_object_checksum_is_verified_at_completion(s3c: Any, bucket: str) -> None:
    """CompleteMultipartUpload's x-amz-checksum-crc32 is the client's whole-object value: a wrong one
    is refused (S3 answers 400), and no object is created."""
    uid = s3c.create_multipart_upload(Bucket=bucket, Key="fullbad", ChecksumAlgorithm="CRC32",
                                      ChecksumType="FULL_OBJECT")["UploadId"]
    r = s3c.upload_part(Bucket=bucket, Key="fullbad", UploadId=uid, PartNumber=1, Body=b"tiny",
                        ChecksumAlgorithm="CRC32")
    with pytest.raises(ClientError) as info:
        s3c.complete_multipart_upload(Bucket=bucket, Key="fullbad", UploadId=uid, ChecksumType="FULL_OBJECT",
                                      ChecksumCRC32=crc32_b64(b"other"), MultipartUpload={"Parts": [
                                          {"PartNumber": 1, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]}]})
    assert error_code(info.value) in ("BadDigest", "InvalidRequest"), info.value.response
    s3c.abort_multipart_upload(Bucket=bucket, Key="fullbad", UploadId=uid)
    expect_error("NoSuchKey", 404, s3c.get_object, Bucket=bucket, Key="fullbad")
