"""Where clients rely on AWS's exact answers (issue 14, "Behaviour to match AWS exactly"), with boto3 and raw
signed requests against one engine per module (and one in another region)."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from storage_engine.checksums import checksum_of
from tests.conftest import sigv4_headers

from .helpers import MiB, aws_s3api, error_of, md5_hex, payload
from .test_streaming import chunked_put

PART = 5 * MiB


@pytest.fixture(scope="module")
def server(engine_factory: Callable[..., Any]) -> Any:
    return engine_factory(name="aws-behaviour")


@pytest.fixture(scope="module")
def s3b(server: Any) -> Any:
    return server.client()


@pytest.fixture(scope="module")
def bkt(s3b: Any) -> Iterator[str]:
    s3b.create_bucket(Bucket="behaviour")
    yield "behaviour"


def signed(server: Any, method: str, path: str, query: str = "", headers: dict[str, str] | None = None,
           body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """A SigV4-signed request with UNSIGNED-PAYLOAD; ``path`` already URI-encoded."""
    sent = sigv4_headers(method, server.address, path, query, server.access_key, server.secret_key,
                         extra=headers)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path + ("?" + query if query else ""), body=body or None, headers=sent)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def xml_code(body: bytes) -> str:
    match = re.search(rb"<Code>([^<]*)</Code>", body)
    return match.group(1).decode() if match else ""


# --- multipart ------------------------------------------------------------------------------------------
def _two_parts(s3: Any, bucket: str, key: str) -> tuple[str, list[dict[str, Any]]]:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, body in ((1, payload(key, 1, PART)), (2, b"tail")):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    return upload_id, parts


def test_retried_complete_multipart_upload_answers_the_same(s3b: Any, bkt: str) -> None:
    upload_id, parts = _two_parts(s3b, bkt, "retried")
    first = s3b.complete_multipart_upload(Bucket=bkt, Key="retried", UploadId=upload_id,
                                          MultipartUpload={"Parts": parts})
    again = s3b.complete_multipart_upload(Bucket=bkt, Key="retried", UploadId=upload_id,
                                          MultipartUpload={"Parts": parts})
    assert again["ETag"] == first["ETag"] and again["ETag"].endswith('-2"')
    assert s3b.head_object(Bucket=bkt, Key="retried")["ETag"] == first["ETag"]
    # Not a retry: other parts named, or an upload that never was.
    assert error_of(s3b.complete_multipart_upload, Bucket=bkt, Key="retried", UploadId=upload_id,
                    MultipartUpload={"Parts": parts[:1]}) == ("NoSuchUpload", 404)
    assert error_of(s3b.list_parts, Bucket=bkt, Key="retried", UploadId=upload_id) == ("NoSuchUpload", 404)
    assert error_of(s3b.complete_multipart_upload, Bucket=bkt, Key="retried", UploadId="0" * 32,
                    MultipartUpload={"Parts": parts}) == ("NoSuchUpload", 404)


def test_part_uploaded_twice_concurrently_last_to_finish_wins(server: Any, s3b: Any, bkt: str) -> None:
    key = "reupload"
    upload_id = s3b.create_multipart_upload(Bucket=bkt, Key=key)["UploadId"]
    slow_body, fast_body = payload(key, 1, PART), payload(key, 2, PART)
    path, query = f"/{bkt}/{key}", f"partNumber=1&uploadId={upload_id}"
    headers = sigv4_headers("PUT", server.address, path, query, server.access_key, server.secret_key,
                            extra={"content-length": str(PART)})
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:     # the first upload of part 1 starts, and is still running when the second one finishes
        head = f"PUT {path}?{query} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode() + slow_body[:MiB])
        time.sleep(0.3)
        fast = s3b.upload_part(Bucket=bkt, Key=key, UploadId=upload_id, PartNumber=1, Body=fast_body)["ETag"]
        sock.sendall(slow_body[MiB:])
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(65536)
            if not chunk:
                break
            response += chunk
    finally:
        sock.close()
    assert response.startswith(b"HTTP/1.1 200"), response[:300]
    slow = f'"{md5_hex(slow_body)}"'
    assert slow.encode() in response and fast != slow
    tail = s3b.upload_part(Bucket=bkt, Key=key, UploadId=upload_id, PartNumber=2, Body=b"tail")["ETag"]
    listed = s3b.list_parts(Bucket=bkt, Key=key, UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == [(1, slow), (2, tail)]       # the last to finish
    assert error_of(s3b.complete_multipart_upload, Bucket=bkt, Key=key, UploadId=upload_id,
                    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": fast},
                                               {"PartNumber": 2, "ETag": tail}]}) == ("InvalidPart", 400)
    # The client lists both uploads of part 1, in ascending order: the one that finished last counts.
    done = s3b.complete_multipart_upload(Bucket=bkt, Key=key, UploadId=upload_id, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": fast}, {"PartNumber": 1, "ETag": slow}, {"PartNumber": 2, "ETag": tail}]})
    assert done["ETag"].endswith('-2"')
    retried = s3b.complete_multipart_upload(Bucket=bkt, Key=key, UploadId=upload_id, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": fast}, {"PartNumber": 1, "ETag": slow}, {"PartNumber": 2, "ETag": tail}]})
    assert retried["ETag"] == done["ETag"]
    got = s3b.get_object(Bucket=bkt, Key=key)["Body"].read()
    assert got[:PART] == slow_body and got[PART:] == b"tail"


def test_part_number_beyond_the_parts_is_invalid_part_number(server: Any, s3b: Any, bkt: str) -> None:
    upload_id, parts = _two_parts(s3b, bkt, "parts")
    s3b.complete_multipart_upload(Bucket=bkt, Key="parts", UploadId=upload_id, MultipartUpload={"Parts": parts})
    s3b.put_object(Bucket=bkt, Key="single", Body=b"one part")
    for key, number in (("parts", 3), ("single", 2)):
        assert error_of(s3b.get_object, Bucket=bkt, Key=key, PartNumber=number) == ("InvalidPartNumber", 400)
        status, _, _ = signed(server, "HEAD", f"/{bkt}/{key}", f"partNumber={number}")
        assert status == 400
    assert s3b.get_object(Bucket=bkt, Key="parts", PartNumber=2)["Body"].read() == b"tail"


# --- buckets --------------------------------------------------------------------------------------------
def test_create_bucket_already_owned(s3b: Any, engine_factory: Callable[..., Any]) -> None:
    """200 in us-east-1 (AWS's legacy answer, and nothing about the bucket changes), BucketAlreadyOwnedByYou
    in any other region (the engine's)."""
    s3b.create_bucket(Bucket="owned-twice")
    s3b.put_object(Bucket="owned-twice", Key="kept", Body=b"x")
    resp = s3b.create_bucket(Bucket="owned-twice")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3b.get_object(Bucket="owned-twice", Key="kept")["Body"].read() == b"x"
    server = engine_factory(env={"RUSTFS_REGION": "eu-west-1"}, name="eu-west-1")
    server.region = "eu-west-1"
    try:
        client = server.client()
        config = {"LocationConstraint": "eu-west-1"}
        client.create_bucket(Bucket="owned-twice", CreateBucketConfiguration=config)
        assert error_of(client.create_bucket, Bucket="owned-twice", CreateBucketConfiguration=config) == \
            ("BucketAlreadyOwnedByYou", 409)
    finally:
        server.stop()


# --- checksums ------------------------------------------------------------------------------------------
def test_checksum_that_does_not_match_the_body_is_bad_digest(server: Any, s3b: Any, bkt: str) -> None:
    body = b"the body"
    crc_of_other = checksum_of("CRC32", b"other")                  # well-formed, of the wrong algorithm's size
    for name, value in (("x-amz-checksum-crc32", crc_of_other),
                        ("x-amz-checksum-sha256", crc_of_other),
                        ("x-amz-checksum-crc64nvme", checksum_of("SHA1", body))):
        status, _, answer = signed(server, "PUT", f"/{bkt}/digest", headers={name: value}, body=body)
        assert (status, xml_code(answer)) == (400, "BadDigest"), (name, answer)
    upload_id = s3b.create_multipart_upload(Bucket=bkt, Key="digest")["UploadId"]
    status, _, answer = signed(server, "PUT", f"/{bkt}/digest", f"partNumber=1&uploadId={upload_id}",
                               headers={"x-amz-checksum-sha1": crc_of_other}, body=body)
    assert (status, xml_code(answer)) == (400, "BadDigest"), answer
    status, answer = chunked_put(server, f"/{bkt}/digest", body, "unsigned-trailer", trailer_value="AAAAAAAAAAA=")
    assert (status, xml_code(answer)) == (400, "BadDigest"), answer
    assert error_of(s3b.head_object, Bucket=bkt, Key="digest") == ("404", 404)


# --- listings -------------------------------------------------------------------------------------------
def test_list_objects_v2_empty_continuation_token_lists_from_the_start(server: Any, s3b: Any) -> None:
    s3b.create_bucket(Bucket="token")
    for key in ("a", "b"):
        s3b.put_object(Bucket="token", Key=key, Body=b"")
    status, _, body = signed(server, "GET", "/token", "continuation-token=&list-type=2")
    assert status == 200, body
    assert re.findall(rb"<Key>([^<]*)</Key>", body) == [b"a", b"b"]


def test_encoding_type_url_encodes_what_aws_encodes(server: Any, s3b: Any) -> None:
    bucket = "encoding"
    s3b.create_bucket(Bucket=bucket)
    s3b.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    keys = ["d ir/a b+c%.txt", "d ir/z", "d ir/\u00fc.txt", "plain"]          # in UTF-8 order
    for key in keys:
        s3b.put_object(Bucket=bucket, Key=key, Body=b"")
    space = "d+ir/"
    # v1: Key, Prefix, Delimiter, Marker, NextMarker (and CommonPrefixes' Prefix)
    q = f"delimiter=%2F&encoding-type=url&marker={quote('d ir/a')}&max-keys=1&prefix={quote('d ir/')}"
    status, _, body = signed(server, "GET", f"/{bucket}", q)
    assert status == 200, body
    assert b"<Prefix>" + space.encode() + b"</Prefix>" in body and b"<Delimiter>/</Delimiter>" in body
    assert b"<Marker>d+ir/a</Marker>" in body
    assert re.findall(rb"<Key>([^<]*)</Key>", body) == [b"d+ir/a+b%2Bc%25.txt"]
    assert b"<NextMarker>d+ir/a+b%2Bc%25.txt</NextMarker>" in body
    # v2: Key, Prefix, Delimiter, StartAfter; never the continuation tokens
    q = f"delimiter=%2F&encoding-type=url&list-type=2&max-keys=1&prefix=&start-after={quote('c b')}"
    status, _, body = signed(server, "GET", f"/{bucket}", q)
    assert b"<StartAfter>c+b</StartAfter>" in body and b"<Prefix></Prefix>" in body
    assert re.findall(rb"<CommonPrefixes><Prefix>([^<]*)</Prefix>", body) == [space.encode()]
    token = re.search(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>", body)
    assert token is not None and b"%" not in token.group(1) and b"+" not in token.group(1)
    # versions: Key, Prefix, Delimiter, KeyMarker, NextKeyMarker; never the version id markers
    q = f"encoding-type=url&key-marker={quote('d ir/a b+c%.txt')}&max-keys=2&versions"
    status, _, body = signed(server, "GET", f"/{bucket}", q)
    assert b"<KeyMarker>d+ir/a+b%2Bc%25.txt</KeyMarker>" in body
    assert re.findall(rb"<Key>([^<]*)</Key>", body) == [b"d+ir/z", b"d+ir/%C3%BC.txt"]
    assert b"<NextKeyMarker>d+ir/%C3%BC.txt</NextKeyMarker>" in body
    # boto3 asks for url encoding and decodes it as AWS's (unquote_plus): every key comes back intact.
    assert [o["Key"] for o in s3b.list_objects_v2(Bucket=bucket)["Contents"]] == keys
    assert [o["Key"] for o in s3b.list_objects(Bucket=bucket)["Contents"]] == keys
    assert [v["Key"] for v in s3b.list_object_versions(Bucket=bucket)["Versions"]] == keys


# --- deletes --------------------------------------------------------------------------------------------
def _marker_headers(resp: dict[str, Any]) -> tuple[str | None, str | None]:
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    return headers.get("x-amz-delete-marker"), headers.get("x-amz-version-id")


def test_delete_object_says_delete_marker_whenever_aws_does(s3b: Any) -> None:
    bucket = "markers"
    s3b.create_bucket(Bucket=bucket)
    s3b.put_object(Bucket=bucket, Key="plain", Body=b"x")
    assert _marker_headers(s3b.delete_object(Bucket=bucket, Key="plain")) == (None, None)       # unversioned
    s3b.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    version = s3b.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    created = s3b.delete_object(Bucket=bucket, Key="k")
    marker = created["VersionId"]
    assert _marker_headers(created) == ("true", marker) and created["DeleteMarker"] is True
    # Deleting the delete marker by its version id says it was one; deleting a version does not.
    assert _marker_headers(s3b.delete_object(Bucket=bucket, Key="k", VersionId=marker)) == ("true", marker)
    assert _marker_headers(s3b.delete_object(Bucket=bucket, Key="k", VersionId=version)) == (None, version)
    # Suspended: a null delete marker, also for a key that never was; and removing it by "null".
    s3b.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3b.put_object(Bucket=bucket, Key="s", Body=b"x")
    assert _marker_headers(s3b.delete_object(Bucket=bucket, Key="s")) == ("true", "null")
    assert _marker_headers(s3b.delete_object(Bucket=bucket, Key="never")) == ("true", "null")
    assert _marker_headers(s3b.delete_object(Bucket=bucket, Key="s", VersionId="null")) == ("true", "null")


# --- tagging --------------------------------------------------------------------------------------------
def test_tagging_header_accepts_what_aws_accepts(server: Any, s3b: Any, bkt: str) -> None:
    # Raw UTF-8 (sent as its bytes), a bare key, an empty value, "+" as a space, %-escaped UTF-8.
    value = "caf\u00e9=cr\u00e8me&bare&empty=&two+words=a+b&esc=%E2%9C%93"
    status, _, body = signed(server, "PUT", f"/{bkt}/tagged",
                             headers={"x-amz-tagging": value.encode().decode("latin-1")}, body=b"x")
    assert status == 200, body
    tags = {t["Key"]: t["Value"] for t in s3b.get_object_tagging(Bucket=bkt, Key="tagged")["TagSet"]}
    assert tags == {"caf\u00e9": "cr\u00e8me", "bare": "", "empty": "", "two words": "a b", "esc": "\u2713"}
    assert error_of(s3b.put_object, Bucket=bkt, Key="bad-tags", Body=b"x", Tagging="k=%FF") == \
        ("InvalidArgument", 400)


# Keys AWS accepts that are not file names: empty, "." and ".." segments (plain names, never paths), and
# segments up to the whole 1,024-byte key.
AWS_KEYS = ["a//b", "/leading", "//", "a/./b", "a/../b", ".", "..", "../up", "dir/..", "s" * 300,
            "d" * 600 + "/" + "e" * 400, "\u00e9" * 500 + "/x"]


def test_keys_aws_accepts_with_boto3(s3b: Any) -> None:
    bucket = "aws-keys"
    s3b.create_bucket(Bucket=bucket)
    for i, key in enumerate(AWS_KEYS):
        body = payload(key, i, 100 if i % 2 else 6 * MiB)
        s3b.put_object(Bucket=bucket, Key=key, Body=body)
        assert s3b.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
        assert s3b.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body), key
    listed = [o["Key"] for page in s3b.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={
        "PageSize": 3}) for o in page.get("Contents", [])]
    assert listed == sorted(AWS_KEYS, key=lambda k: k.encode())
    top = s3b.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == sorted(
        {k.split("/")[0] + "/" for k in AWS_KEYS if "/" in k}, key=lambda k: k.encode())
    s3b.copy_object(Bucket=bucket, Key="a/./copy", CopySource={"Bucket": bucket, "Key": "a/../b"})
    assert s3b.get_object(Bucket=bucket, Key="a/./copy")["Body"].read() == payload("a/../b", 4, 6 * MiB)
    # A multipart upload of a long key, and deletes that leave the neighbours alone.
    long_key = "m" * 700 + "/" + "n" * 300
    upload = s3b.create_multipart_upload(Bucket=bucket, Key=long_key)["UploadId"]
    etag = s3b.upload_part(Bucket=bucket, Key=long_key, UploadId=upload, PartNumber=1, Body=b"part")["ETag"]
    s3b.complete_multipart_upload(Bucket=bucket, Key=long_key, UploadId=upload,
                                  MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3b.get_object(Bucket=bucket, Key=long_key)["Body"].read() == b"part"
    for key in [*AWS_KEYS, long_key, "a/./copy"]:
        s3b.delete_object(Bucket=bucket, Key=key)
    assert s3b.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_keys_aws_accepts_with_the_aws_cli(server: Any, s3b: Any, tmp_path: Any) -> None:
    bucket = "aws-keys-cli"
    s3b.create_bucket(Bucket=bucket)
    aws = aws_s3api(server, tmp_path / "awshome")
    source = tmp_path / "body"
    source.write_bytes(b"from the cli")
    for key in ("a//b", "../up", "x/./y", "l" * 900):
        proc = aws("put-object", "--bucket", bucket, "--key", key, "--body", str(source))
        assert proc.returncode == 0, proc.stderr
        out = tmp_path / "out"
        proc = aws("get-object", "--bucket", bucket, "--key", key, str(out))
        assert proc.returncode == 0 and out.read_bytes() == b"from the cli", proc.stderr
    proc = aws("list-objects-v2", "--bucket", bucket)
    assert [o["Key"] for o in json.loads(proc.stdout)["Contents"]] == ["../up", "a//b", "l" * 900, "x/./y"]


def test_head_of_a_key_no_one_can_store_is_not_found(server: Any, bkt: str) -> None:
    for target in (f"/{bkt}/nul%00byte", f"/{bkt}/" + "k" * 1025):
        status, _, _ = signed(server, "HEAD", target)
        assert status == 404, target
        status, _, body = signed(server, "GET", target)
        assert (status, xml_code(body)) == (404, "NoSuchKey"), target
        status, _, body = signed(server, "PUT", target, body=b"x")
        assert status == 400 and xml_code(body) in ("InvalidObjectName", "KeyTooLongError"), target
