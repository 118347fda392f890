"""Operation semantics through boto3 (default config: CRC32 checksums in aws-chunked trailers)."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


# --- buckets -------------------------------------------------------------------------------------------
def test_bucket_lifecycle(client: Any) -> None:
    name = "api-bucket-lifecycle"
    client.create_bucket(Bucket=name)
    try:
        assert name in [b["Name"] for b in client.list_buckets()["Buckets"]]
        head = client.head_bucket(Bucket=name)
        assert head["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert client.get_bucket_location(Bucket=name)["LocationConstraint"] is None
        # Already owned: 200 in us-east-1 (AWS's legacy answer; BucketAlreadyOwnedByYou in other regions).
        assert client.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
        client.put_object(Bucket=name, Key="k", Body=b"x")
        with pytest.raises(ClientError) as exc:
            client.delete_bucket(Bucket=name)
        assert error_of(exc) == ("BucketNotEmpty", 409)
        client.delete_object(Bucket=name, Key="k")
    finally:
        client.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        client.head_bucket(Bucket=name)
    assert error_of(exc)[1] == 404
    with pytest.raises(ClientError) as exc:
        client.list_objects_v2(Bucket=name)
    assert error_of(exc) == ("NoSuchBucket", 404)


# --- objects -------------------------------------------------------------------------------------------
def test_put_get_head_with_metadata(client: Any, bkt: str) -> None:
    body = b"hello, world\n" * 100
    put = client.put_object(Bucket=bkt, Key="dir/obj.txt", Body=body, ContentType="text/plain",
                            CacheControl="no-cache", ContentDisposition='attachment; filename="a.txt"',
                            ContentLanguage="en", ContentEncoding="identity",
                            Expires=datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc),
                            Metadata={"color": "blue", "Mixed-Case": "v"}, Tagging="a=1&b=2")
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    get = client.get_object(Bucket=bkt, Key="dir/obj.txt")
    assert get["Body"].read() == body
    assert get["ContentType"] == "text/plain"
    assert get["CacheControl"] == "no-cache"
    assert get["ContentDisposition"] == 'attachment; filename="a.txt"'
    assert get["ContentLanguage"] == "en"
    assert get["ContentEncoding"] == "identity"
    assert get["Metadata"] == {"color": "blue", "mixed-case": "v"}
    assert get["TagCount"] == 2
    assert get["ETag"] == put["ETag"]
    assert get["ContentLength"] == len(body)
    head = client.head_object(Bucket=bkt, Key="dir/obj.txt")
    assert head["ContentLength"] == len(body) and head["ETag"] == put["ETag"]
    assert head["LastModified"].year >= 2024
    assert head["ContentType"] == "text/plain"


def test_checksums_round_trip(client: Any, bkt: str) -> None:
    client.put_object(Bucket=bkt, Key="c", Body=b"checksummed", ChecksumAlgorithm="SHA256")
    # (boto3 sends x-amz-checksum-mode: ENABLED by default; without it no checksum is returned,
    # which test_handlers covers.)
    enabled = client.get_object(Bucket=bkt, Key="c", ChecksumMode="ENABLED")
    assert enabled["ChecksumSHA256"] and enabled["Body"].read() == b"checksummed"
    head = client.head_object(Bucket=bkt, Key="c", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == enabled["ChecksumSHA256"]
    ranged = client.get_object(Bucket=bkt, Key="c", ChecksumMode="ENABLED", Range="bytes=0-2")
    assert "ChecksumSHA256" not in ranged and ranged["Body"].read() == b"che"


def test_default_content_type_and_empty_object(client: Any, bkt: str) -> None:
    client.put_object(Bucket=bkt, Key="empty", Body=b"")
    get = client.get_object(Bucket=bkt, Key="empty")
    assert get["Body"].read() == b"" and get["ContentLength"] == 0
    assert get["ContentType"] == "binary/octet-stream"
    assert get["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'


def test_ranges(client: Any, bkt: str) -> None:
    data = bytes(range(256)) * 40
    client.put_object(Bucket=bkt, Key="r", Body=data)
    for header, expected in (("bytes=0-0", data[:1]), ("bytes=100-199", data[100:200]),
                             ("bytes=10000-", data[10000:]), ("bytes=-7", data[-7:]),
                             ("bytes=10230-99999", data[10230:])):
        got = client.get_object(Bucket=bkt, Key="r", Range=header)
        assert got["Body"].read() == expected, header
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"].endswith(f"/{len(data)}")
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket=bkt, Key="r", Range=f"bytes={len(data)}-")
    assert error_of(exc) == ("InvalidRange", 416)


def test_conditional_reads(client: Any, bkt: str) -> None:
    etag = client.put_object(Bucket=bkt, Key="k", Body=b"v")["ETag"]
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    assert client.get_object(Bucket=bkt, Key="k", IfMatch=etag)["Body"].read() == b"v"
    assert client.get_object(Bucket=bkt, Key="k", IfModifiedSince=past)["Body"].read() == b"v"
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket=bkt, Key="k", IfNoneMatch=etag)
    assert error_of(exc)[1] == 304
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket=bkt, Key="k", IfMatch='"0000"')
    assert error_of(exc) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket=bkt, Key="k", IfUnmodifiedSince=past)
    assert error_of(exc) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as exc:
        client.head_object(Bucket=bkt, Key="k", IfModifiedSince=future)
    assert error_of(exc)[1] == 304
    # If-Match true wins over If-Unmodified-Since false (RFC 7232 section 6).
    assert client.head_object(Bucket=bkt, Key="k", IfMatch=etag, IfUnmodifiedSince=past)["ETag"] == etag


def test_conditional_writes(client: Any, bkt: str) -> None:
    client.put_object(Bucket=bkt, Key="once", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bkt, Key="once", Body=b"2", IfNoneMatch="*")
    assert error_of(exc) == ("PreconditionFailed", 412)
    assert client.get_object(Bucket=bkt, Key="once")["Body"].read() == b"1"


def test_response_header_overrides(client: Any, bkt: str) -> None:
    client.put_object(Bucket=bkt, Key="k", Body=b"x", ContentType="text/plain")
    got = client.get_object(Bucket=bkt, Key="k", ResponseContentType="application/json",
                            ResponseContentDisposition="inline", ResponseCacheControl="max-age=5")
    assert got["ContentType"] == "application/json"
    assert got["ContentDisposition"] == "inline" and got["CacheControl"] == "max-age=5"


def test_missing_objects(client: Any, bkt: str) -> None:
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket=bkt, Key="missing")
    assert error_of(exc) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as exc:
        client.head_object(Bucket=bkt, Key="missing")
    assert error_of(exc)[1] == 404
    assert client.delete_object(Bucket=bkt, Key="missing")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_storage_class(client: Any, bkt: str) -> None:
    client.put_object(Bucket=bkt, Key="rrs", Body=b"x", StorageClass="REDUCED_REDUNDANCY")
    assert client.head_object(Bucket=bkt, Key="rrs")["StorageClass"] == "REDUCED_REDUNDANCY"
    assert client.list_objects_v2(Bucket=bkt)["Contents"][0]["StorageClass"] == "REDUCED_REDUNDANCY"
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bkt, Key="g", Body=b"x", StorageClass="GLACIER")
    assert error_of(exc) == ("InvalidStorageClass", 400)


def test_metadata_too_large(client: Any, bkt: str) -> None:
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bkt, Key="m", Body=b"x", Metadata={"big": "v" * 2100})
    assert error_of(exc) == ("MetadataTooLarge", 400)


def test_special_keys(client: Any, bkt: str) -> None:
    keys = ["a b", "plus+sign", "percent%20", "unicode-\u20ac-\u00e9", "q?x=1&y", "folder/", "hash#tag",
            "semi;colon", "tilde~", "quote'\"", "<xml>&amp;"]
    for key in keys:
        client.put_object(Bucket=bkt, Key=key, Body=key.encode())
    for key in keys:
        assert client.get_object(Bucket=bkt, Key=key)["Body"].read() == key.encode(), key
    listed = [o["Key"] for o in client.list_objects_v2(Bucket=bkt)["Contents"]]
    assert sorted(listed) == sorted(keys)
    listed_v1 = [o["Key"] for o in client.list_objects(Bucket=bkt)["Contents"]]
    assert sorted(listed_v1) == sorted(keys)


# --- copy ----------------------------------------------------------------------------------------------
def test_copy_object(client: Any, bkt: str) -> None:
    src = client.put_object(Bucket=bkt, Key="src", Body=b"source data", ContentType="text/plain",
                            Metadata={"a": "1"}, Tagging="t=1")
    copied = client.copy_object(Bucket=bkt, Key="dst", CopySource={"Bucket": bkt, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == src["ETag"]
    got = client.get_object(Bucket=bkt, Key="dst")
    assert got["Body"].read() == b"source data"
    assert got["Metadata"] == {"a": "1"} and got["ContentType"] == "text/plain" and got["TagCount"] == 1

    client.copy_object(Bucket=bkt, Key="dst2", CopySource=f"{bkt}/src", MetadataDirective="REPLACE",
                       Metadata={"b": "2"}, ContentType="application/x-test",
                       TaggingDirective="REPLACE", Tagging="x=y&z=w")
    got2 = client.get_object(Bucket=bkt, Key="dst2")
    assert got2["Metadata"] == {"b": "2"} and got2["ContentType"] == "application/x-test"
    assert got2["TagCount"] == 2

    with pytest.raises(ClientError) as exc:
        client.copy_object(Bucket=bkt, Key="src", CopySource={"Bucket": bkt, "Key": "src"})
    assert error_of(exc) == ("InvalidRequest", 400)
    client.copy_object(Bucket=bkt, Key="src", CopySource={"Bucket": bkt, "Key": "src"},
                       MetadataDirective="REPLACE", Metadata={"new": "meta"})
    assert client.head_object(Bucket=bkt, Key="src")["Metadata"] == {"new": "meta"}

    with pytest.raises(ClientError) as exc:
        client.copy_object(Bucket=bkt, Key="x", CopySource={"Bucket": bkt, "Key": "src"}, CopySourceIfMatch='"00"')
    assert error_of(exc) == ("PreconditionFailed", 412)
    etag = client.head_object(Bucket=bkt, Key="src")["ETag"]
    with pytest.raises(ClientError) as exc:
        client.copy_object(Bucket=bkt, Key="x", CopySource={"Bucket": bkt, "Key": "src"}, CopySourceIfNoneMatch=etag)
    assert error_of(exc) == ("PreconditionFailed", 412)
    client.copy_object(Bucket=bkt, Key="x", CopySource={"Bucket": bkt, "Key": "src"}, CopySourceIfMatch=etag)
    with pytest.raises(ClientError) as exc:
        client.copy_object(Bucket=bkt, Key="x", CopySource={"Bucket": bkt, "Key": "nope"})
    assert error_of(exc) == ("NoSuchKey", 404)


def test_copy_special_key_across_buckets(client: Any, bkt: str) -> None:
    other = bkt + "-dst"
    client.create_bucket(Bucket=other)
    try:
        key = "dir/with space+plus\u20ac"
        client.put_object(Bucket=bkt, Key=key, Body=b"z" * 1000)
        client.copy_object(Bucket=other, Key="copy", CopySource={"Bucket": bkt, "Key": key})
        assert client.get_object(Bucket=other, Key="copy")["Body"].read() == b"z" * 1000
    finally:
        client.delete_object(Bucket=other, Key="copy")
        client.delete_bucket(Bucket=other)


# --- tagging -------------------------------------------------------------------------------------------
def test_object_tagging(client: Any, bkt: str) -> None:
    client.put_object(Bucket=bkt, Key="k", Body=b"x")
    assert client.get_object_tagging(Bucket=bkt, Key="k")["TagSet"] == []
    tags = [{"Key": "project", "Value": "blue & green"}, {"Key": "empty", "Value": ""}]
    client.put_object_tagging(Bucket=bkt, Key="k", Tagging={"TagSet": tags})
    assert sorted(client.get_object_tagging(Bucket=bkt, Key="k")["TagSet"], key=lambda t: t["Key"]) == sorted(
        tags, key=lambda t: t["Key"])
    assert client.head_object(Bucket=bkt, Key="k")["ResponseMetadata"]["HTTPHeaders"].get("x-amz-tagging-count") == "2"
    with pytest.raises(ClientError) as exc:
        client.put_object_tagging(Bucket=bkt, Key="k", Tagging={
            "TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]})
    assert error_of(exc) == ("InvalidTag", 400)
    with pytest.raises(ClientError) as exc:
        client.put_object_tagging(Bucket=bkt, Key="k", Tagging={"TagSet": [{"Key": "k" * 129, "Value": "v"}]})
    assert error_of(exc) == ("InvalidTag", 400)
    client.delete_object_tagging(Bucket=bkt, Key="k")
    assert client.get_object_tagging(Bucket=bkt, Key="k")["TagSet"] == []


# --- delete objects ------------------------------------------------------------------------------------
def test_delete_objects(client: Any, bkt: str) -> None:
    keys = [f"del/{i}" for i in range(25)]
    for key in keys:
        client.put_object(Bucket=bkt, Key=key, Body=b"x")
    result = client.delete_objects(Bucket=bkt, Delete={"Objects": [{"Key": k} for k in keys + ["never-existed"]]})
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted(keys + ["never-existed"])
    assert "Errors" not in result
    assert client.list_objects_v2(Bucket=bkt).get("KeyCount") == 0
    client.put_object(Bucket=bkt, Key="q", Body=b"x")
    quiet = client.delete_objects(Bucket=bkt, Delete={"Objects": [{"Key": "q"}], "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet


def test_delete_objects_nested_keys(client: Any, bkt: str) -> None:
    """Deleting siblings and cousins at once (as ``aws s3 rm --recursive`` does) must not lose quorum."""
    keys = [f"tree/{d}/{s}/{i}" for d in range(3) for s in range(3) for i in range(4)]
    for key in keys:
        client.put_object(Bucket=bkt, Key=key, Body=b"x")
    result = client.delete_objects(Bucket=bkt, Delete={"Objects": [{"Key": k} for k in keys]})
    assert result.get("Errors", []) == []
    assert client.list_objects_v2(Bucket=bkt, Prefix="tree/")["KeyCount"] == 0
