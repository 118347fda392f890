"""Conditional writes with boto3: ``If-None-Match`` (``*`` or an ETag) and ``If-Match`` on PutObject and
CompleteMultipartUpload; 412 PreconditionFailed, 404 for If-Match of a missing key, and 409
ConditionalRequestConflict when a write that finished while the request was running broke its condition."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import sigv4_headers

from .helpers import MiB, error_of, md5_hex, payload


@pytest.fixture(scope="module")
def server(engine_factory: Callable[..., Any]) -> Any:
    return engine_factory(name="cond")


@pytest.fixture(scope="module")
def s3c(server: Any) -> Any:
    return server.client()


@pytest.fixture(scope="module")
def cbucket(s3c: Any) -> Iterator[str]:
    s3c.create_bucket(Bucket="cond")
    yield "cond"


def test_put_if_none_match_etag_and_if_match(s3c: Any, cbucket: str) -> None:
    etag = s3c.put_object(Bucket=cbucket, Key="inm", Body=b"first")["ETag"]
    assert error_of(s3c.put_object, Bucket=cbucket, Key="inm", Body=b"x", IfNoneMatch=etag) == \
        ("PreconditionFailed", 412)
    other = '"' + md5_hex(b"something else") + '"'
    s3c.put_object(Bucket=cbucket, Key="inm", Body=b"second", IfNoneMatch=other)
    assert s3c.get_object(Bucket=cbucket, Key="inm")["Body"].read() == b"second"
    # "*": only a new key.
    assert error_of(s3c.put_object, Bucket=cbucket, Key="inm", Body=b"x", IfNoneMatch="*") == \
        ("PreconditionFailed", 412)
    s3c.put_object(Bucket=cbucket, Key="inm-new", Body=b"x", IfNoneMatch='"' + md5_hex(b"x") + '"')
    # If-Match: 404 for a missing key, 412 for another ETag.
    assert error_of(s3c.put_object, Bucket=cbucket, Key="im", Body=b"x", IfMatch='"abc"') == ("NoSuchKey", 404)
    etag = s3c.put_object(Bucket=cbucket, Key="im", Body=b"one")["ETag"]
    assert error_of(s3c.put_object, Bucket=cbucket, Key="im", Body=b"x", IfMatch='"' + md5_hex(b"x") + '"') == \
        ("PreconditionFailed", 412)
    assert s3c.put_object(Bucket=cbucket, Key="im", Body=b"two", IfMatch=etag)["ETag"] == '"' + md5_hex(b"two") + '"'


def _upload(s3: Any, bucket: str, key: str) -> tuple[str, list[dict[str, Any]]]:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"part")["ETag"]
    return upload_id, [{"PartNumber": 1, "ETag": etag}]


def test_complete_multipart_conditions(s3c: Any, cbucket: str) -> None:
    upload_id, parts = _upload(s3c, cbucket, "mp")
    assert error_of(s3c.complete_multipart_upload, Bucket=cbucket, Key="mp", UploadId=upload_id,
                    MultipartUpload={"Parts": parts}, IfMatch='"abc"') == ("NoSuchKey", 404)
    done = s3c.complete_multipart_upload(Bucket=cbucket, Key="mp", UploadId=upload_id,
                                         MultipartUpload={"Parts": parts}, IfNoneMatch="*")
    upload_id, parts = _upload(s3c, cbucket, "mp")
    assert error_of(s3c.complete_multipart_upload, Bucket=cbucket, Key="mp", UploadId=upload_id,
                    MultipartUpload={"Parts": parts}, IfNoneMatch="*") == ("PreconditionFailed", 412)
    assert error_of(s3c.complete_multipart_upload, Bucket=cbucket, Key="mp", UploadId=upload_id,
                    MultipartUpload={"Parts": parts}, IfNoneMatch=done["ETag"]) == ("PreconditionFailed", 412)
    assert error_of(s3c.complete_multipart_upload, Bucket=cbucket, Key="mp", UploadId=upload_id,
                    MultipartUpload={"Parts": parts}, IfMatch='"' + md5_hex(b"no") + '"') == \
        ("PreconditionFailed", 412)
    # The upload is still there after the refusals: completing it on the current ETag works.
    again = s3c.complete_multipart_upload(Bucket=cbucket, Key="mp", UploadId=upload_id,
                                          MultipartUpload={"Parts": parts}, IfMatch=done["ETag"])
    assert again["ETag"] == done["ETag"]


def test_concurrent_write_during_the_request_is_a_conflict(server: Any, s3c: Any, cbucket: str) -> None:
    """An ``If-None-Match: *`` PUT whose body is still arriving when another PUT creates the key: 409."""
    key = "raced"
    body = payload(key, 1, 2 * MiB)
    headers = sigv4_headers("PUT", server.address, f"/{cbucket}/{key}", "", server.access_key, server.secret_key,
                            extra={"if-none-match": "*", "content-length": str(len(body))})
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    try:
        head = f"PUT /{cbucket}/{key} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode() + body[:1000])
        time.sleep(0.5)                                 # the engine has checked the condition: no key yet
        s3c.put_object(Bucket=cbucket, Key=key, Body=b"the other writer")
        sock.sendall(body[1000:])
        response = b""
        while b"\r\n\r\n" not in response or b"</Error>" not in response:
            chunk = sock.recv(65536)
            if not chunk:
                break
            response += chunk
    finally:
        sock.close()
    assert response.startswith(b"HTTP/1.1 409"), response[:300]
    assert b"<Code>ConditionalRequestConflict</Code>" in response, response
    assert s3c.get_object(Bucket=cbucket, Key=key)["Body"].read() == b"the other writer"
    # Retried, the request gets the real answer.
    assert error_of(s3c.put_object, Bucket=cbucket, Key=key, Body=b"x", IfNoneMatch="*") == \
        ("PreconditionFailed", 412)
