"""aws-chunked uploads built by hand against the real engine: every streaming variant the SDKs use.

boto3 covers STREAMING-UNSIGNED-PAYLOAD-TRAILER only over https (``test_boto3``'s ``tls`` runs); the
signed variants (per-chunk signatures, used by the Java/Go/JS SDKs and minio clients) are built here.
A bad chunk signature or trailer checksum must be refused, and nothing may be stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import zlib
from typing import Any

import pytest

from .helpers import KiB, MiB, assert_same, payload

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def signing_key(secret: str, date: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def chunked_put(engine: Any, path: str, data: bytes, mode: str, chunk: int = 64 * KiB,
                corrupt_chunk: int | None = None, trailer_value: str | None = None) -> tuple[int, bytes]:
    """PUT ``data`` as aws-chunked. ``mode``: signed | signed-trailer | unsigned-trailer."""
    content_sha = {"signed": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                   "signed-trailer": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                   "unsigned-trailer": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}[mode]
    trailer = mode.endswith("trailer")
    extra = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
    if trailer:
        extra["x-amz-trailer"] = "x-amz-checksum-crc32"
        extra["x-amz-sdk-checksum-algorithm"] = "CRC32"
    headers = engine.sign("PUT", path, "", content_sha, extra)
    amz_date = headers["x-amz-date"]
    scope = f"{amz_date[:8]}/{engine.region}/s3/aws4_request"
    key = signing_key(engine.secret_key, amz_date[:8], engine.region)
    prev = headers["authorization"].rsplit("Signature=", 1)[1]
    signed = mode.startswith("signed")

    body = bytearray()
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    for n, piece in enumerate(pieces):
        if signed:
            sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, EMPTY_SHA256,
                             hashlib.sha256(piece).hexdigest()])
            sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
            prev = sig
            if n == corrupt_chunk:
                sig = "0" * 64
            body += f"{len(piece):x};chunk-signature={sig}\r\n".encode()
        else:
            body += f"{len(piece):x}\r\n".encode()
        if piece:
            body += piece + b"\r\n"
    if trailer:
        value = trailer_value or crc32_b64(data)
        body += f"x-amz-checksum-crc32:{value}\r\n".encode()
        if signed:
            sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, prev,
                             hashlib.sha256(f"x-amz-checksum-crc32:{value}\n".encode()).hexdigest()])
            body += f"x-amz-trailer-signature:{hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()}\r\n".encode()
        body += b"\r\n"
    elif signed:
        body += b"\r\n"
    conn = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=60)
    try:
        conn.request("PUT", path, body=bytes(body), headers={**headers, "Content-Length": str(len(body))})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("mode", ["signed", "signed-trailer", "unsigned-trailer"])
@pytest.mark.parametrize("size", [0, 1000, 3 * MiB + 5])
def test_aws_chunked_variants(engine: Any, s3: Any, bucket: str, mode: str, size: int) -> None:
    data = payload(mode, size, size)
    status, body = chunked_put(engine, f"/{bucket}/k", data, mode)
    assert status == 200, body
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert_same(got["Body"].read(), data)
    assert got["ContentLength"] == size
    assert got["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    if mode.endswith("trailer"):
        assert got.get("ChecksumCRC32") == crc32_b64(data)


def test_aws_chunked_bad_chunk_signature(engine: Any, s3: Any, bucket: str) -> None:
    data = payload("badsig", 0, 300 * KiB)
    status, body = chunked_put(engine, f"/{bucket}/bad", data, "signed", corrupt_chunk=2)
    assert status == 403 and b"SignatureDoesNotMatch" in body, body
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")


@pytest.mark.parametrize("mode", ["signed-trailer", "unsigned-trailer"])
def test_aws_chunked_bad_trailer_checksum(engine: Any, s3: Any, bucket: str, mode: str) -> None:
    data = payload("badcrc", 0, 200 * KiB)
    status, body = chunked_put(engine, f"/{bucket}/bad", data, mode, trailer_value=crc32_b64(b"other"))
    assert status == 400 and b"BadDigest" in body, body
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")
