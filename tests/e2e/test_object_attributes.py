"""GetObjectAttributes with boto3 (and once with the AWS CLI): ETag, checksums as AWS reports them (a
multipart COMPOSITE checksum without its "-N", FULL_OBJECT as is), parts paged, size, storage class,
versions, delete markers and SSE-C."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from storage_engine.checksums import checksum_of

from .helpers import MiB, aws_s3api, md5_hex, payload

ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
PART = 5 * MiB


@pytest.fixture(scope="module")
def server(engine_factory: Callable[..., Any]) -> Any:
    return engine_factory(env={"RUSTFS_SSE_C_ALLOW_INSECURE": "true"}, name="attrs")


@pytest.fixture(scope="module")
def s3a(server: Any) -> Any:
    return server.client()


@pytest.fixture(scope="module")
def abucket(s3a: Any) -> Iterator[str]:
    s3a.create_bucket(Bucket="attrs")
    yield "attrs"


def _multipart(s3: Any, bucket: str, key: str, algorithm: str, checksum_type: str | None,
               sizes: list[int]) -> tuple[list[bytes], dict[str, Any]]:
    extra = {"ChecksumType": checksum_type} if checksum_type else {}
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm, **extra)
    chunks, parts = [], []
    for number, size in enumerate(sizes, 1):
        chunk = payload(key, number, size)
        chunks.append(chunk)
        resp = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=chunk,
                              ChecksumAlgorithm=algorithm)
        parts.append({"PartNumber": number, "ETag": resp["ETag"],
                      f"Checksum{algorithm}": resp[f"Checksum{algorithm}"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"],
                                        MultipartUpload={"Parts": parts})
    return chunks, done


def test_single_put_object(s3a: Any, abucket: str) -> None:
    data = b"attributes of a plain object"
    put = s3a.put_object(Bucket=abucket, Key="plain", Body=data, ChecksumAlgorithm="SHA256")
    attrs = s3a.get_object_attributes(Bucket=abucket, Key="plain", ObjectAttributes=ALL)
    assert attrs["ETag"] == md5_hex(data) == put["ETag"].strip('"')        # unquoted, as AWS
    assert attrs["ObjectSize"] == len(data)
    assert attrs["StorageClass"] == "STANDARD"
    assert attrs["Checksum"]["ChecksumSHA256"] == checksum_of("SHA256", data)
    assert attrs["Checksum"]["ChecksumType"] == "FULL_OBJECT"
    assert "ObjectParts" not in attrs                                     # not a multipart object
    assert "LastModified" in attrs
    only = s3a.get_object_attributes(Bucket=abucket, Key="plain", ObjectAttributes=["ObjectSize"])
    assert only["ObjectSize"] == len(data) and "ETag" not in only and "Checksum" not in only


def test_multipart_composite_checksum_and_parts_paging(s3a: Any, abucket: str) -> None:
    chunks, done = _multipart(s3a, abucket, "composite", "SHA256", None, [PART, PART, 1000])
    assert done["ChecksumSHA256"].endswith("-3")                          # GET and HEAD say "-N"
    attrs = s3a.get_object_attributes(Bucket=abucket, Key="composite", ObjectAttributes=ALL)
    raw = b"".join(base64.b64decode(checksum_of("SHA256", c)) for c in chunks)
    assert attrs["Checksum"] == {"ChecksumSHA256": base64.b64encode(hashlib.sha256(raw).digest()).decode(),
                                 "ChecksumType": "COMPOSITE"}             # ... GetObjectAttributes does not
    assert attrs["ETag"] == done["ETag"].strip('"') and attrs["ETag"].endswith("-3")
    assert attrs["ObjectSize"] == 2 * PART + 1000
    parts = attrs["ObjectParts"]
    assert parts["TotalPartsCount"] == 3 and parts["IsTruncated"] is False
    assert [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in parts["Parts"]] == \
        [(n, len(c), checksum_of("SHA256", c)) for n, c in enumerate(chunks, 1)]

    page = s3a.get_object_attributes(Bucket=abucket, Key="composite", ObjectAttributes=["ObjectParts"], MaxParts=2)
    assert page["ObjectParts"]["IsTruncated"] is True and page["ObjectParts"]["MaxParts"] == 2
    assert [p["PartNumber"] for p in page["ObjectParts"]["Parts"]] == [1, 2]
    marker = page["ObjectParts"]["NextPartNumberMarker"]
    rest = s3a.get_object_attributes(Bucket=abucket, Key="composite", ObjectAttributes=["ObjectParts"],
                                     MaxParts=2, PartNumberMarker=marker)
    assert rest["ObjectParts"]["IsTruncated"] is False and rest["ObjectParts"]["PartNumberMarker"] == 2
    assert [p["PartNumber"] for p in rest["ObjectParts"]["Parts"]] == [3]


def test_multipart_full_object_checksum(s3a: Any, abucket: str) -> None:
    chunks, done = _multipart(s3a, abucket, "full", "CRC32", "FULL_OBJECT", [PART, 777])
    attrs = s3a.get_object_attributes(Bucket=abucket, Key="full", ObjectAttributes=["Checksum"])
    assert attrs["Checksum"] == {"ChecksumCRC32": checksum_of("CRC32", b"".join(chunks)),
                                 "ChecksumType": "FULL_OBJECT"}
    assert done["ChecksumCRC32"] == attrs["Checksum"]["ChecksumCRC32"]


def test_versions_and_delete_markers(s3a: Any) -> None:
    bucket = "attrs-versioned"
    s3a.create_bucket(Bucket=bucket)
    s3a.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3a.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3a.put_object(Bucket=bucket, Key="k", Body=b"second")["VersionId"]
    latest = s3a.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert latest["VersionId"] == v2 and latest["ObjectSize"] == 6
    old = s3a.get_object_attributes(Bucket=bucket, Key="k", VersionId=v1, ObjectAttributes=["ETag", "ObjectSize"])
    assert old["VersionId"] == v1 and old["ObjectSize"] == 3 and old["ETag"] == md5_hex(b"one")
    marker = s3a.delete_object(Bucket=bucket, Key="k")["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3a.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag"])
    resp = exc.value.response
    assert resp["Error"]["Code"] == "NoSuchKey" and resp["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as exc:
        s3a.get_object_attributes(Bucket=bucket, Key="k", VersionId=marker, ObjectAttributes=["ETag"])
    resp = exc.value.response
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 405
    assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"


def test_errors(s3a: Any, abucket: str) -> None:
    s3a.put_object(Bucket=abucket, Key="e", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3a.get_object_attributes(Bucket=abucket, Key="missing", ObjectAttributes=["ETag"])
    assert exc.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as exc:
        s3a.get_object_attributes(Bucket=abucket, Key="e", ObjectAttributes=["Colour"])
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"


def test_sse_c_needs_the_key(s3a: Any, abucket: str) -> None:
    key = os.urandom(16).hex()          # 32 bytes, as boto3 takes it (a str)
    s3a.put_object(Bucket=abucket, Key="ssec", Body=b"secret", SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    with pytest.raises(ClientError) as exc:
        s3a.get_object_attributes(Bucket=abucket, Key="ssec", ObjectAttributes=["ObjectSize"])
    assert exc.value.response["Error"]["Code"] == "InvalidRequest"
    # botocore neither encodes the key nor computes its MD5 for this operation: the caller does both.
    key_b64 = base64.b64encode(key.encode()).decode()
    key_md5 = base64.b64encode(hashlib.md5(key.encode()).digest()).decode()
    attrs = s3a.get_object_attributes(Bucket=abucket, Key="ssec", ObjectAttributes=["ObjectSize"],
                                      SSECustomerAlgorithm="AES256", SSECustomerKey=key_b64,
                                      SSECustomerKeyMD5=key_md5)
    assert attrs["ObjectSize"] == 6


def test_aws_cli(server: Any, s3a: Any, abucket: str, tmp_path: Path) -> None:
    data = b"seen by the AWS CLI"
    s3a.put_object(Bucket=abucket, Key="cli", Body=data)
    proc = aws_s3api(server, tmp_path / "awshome")("get-object-attributes", "--bucket", abucket, "--key", "cli",
                                                   "--object-attributes", "ETag", "ObjectSize", "StorageClass")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = json.loads(proc.stdout)
    assert out["ETag"] == md5_hex(data) and out["ObjectSize"] == len(data) and out["StorageClass"] == "STANDARD"


def test_needs_get_object_and_get_object_attributes(server: Any, s3a: Any, abucket: str) -> None:
    """As on AWS: s3:GetObject and s3:GetObjectAttributes (a version: s3:GetObjectVersion and
    s3:GetObjectVersionAttributes); either alone is refused."""
    import boto3.session

    iam = boto3.session.Session().client(
        "iam", endpoint_url=server.url, region_name=server.region, aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key)
    s3a.put_object(Bucket=abucket, Key="iam", Body=b"x")
    resource = f"arn:aws:s3:::{abucket}/*"
    outcomes = {}
    for name, actions in (("attrs-only", ["s3:GetObjectAttributes"]), ("get-only", ["s3:GetObject"]),
                          ("both", ["s3:GetObject", "s3:GetObjectAttributes"]),
                          ("version", ["s3:GetObjectVersion", "s3:GetObjectVersionAttributes"])):
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        client = server.client(access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
        for label, extra in (("latest", {}), ("version", {"VersionId": "null"})):
            try:
                client.get_object_attributes(Bucket=abucket, Key="iam", ObjectAttributes=["ObjectSize"], **extra)
                outcomes[name, label] = "ok"
            except ClientError as exc:
                outcomes[name, label] = exc.response["Error"]["Code"]
    assert outcomes == {("attrs-only", "latest"): "AccessDenied", ("attrs-only", "version"): "AccessDenied",
                        ("get-only", "latest"): "AccessDenied", ("get-only", "version"): "AccessDenied",
                        ("both", "latest"): "ok", ("both", "version"): "AccessDenied",
                        ("version", "latest"): "AccessDenied", ("version", "version"): "ok"}
