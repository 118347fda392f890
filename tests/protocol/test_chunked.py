"""aws-chunked bodies (signed, unsigned-trailer, signed-trailer) and x-amz-checksum-* verification.

Bodies are built here by hand from the AWS documentation, independently of the code under test,
plus the AWS documentation's own example vector, plus requests captured from boto3 itself.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import io
import zlib
from typing import Any

import pytest

from storage_engine.auth import verify_request
from storage_engine.auth.credentials import CredentialStore, Credentials
from storage_engine.checksums import checksum_of
from storage_engine.errors import (
    BadDigest, IncompleteBody, InvalidDigest, InvalidRequest, S3Error, SignatureDoesNotMatch,
)

from .helpers import ACCESS_KEY, HOST, REGION, SECRET_KEY, make_request, read_all, run, settings, store

AMZ_DATE = "20240501T120000Z"
NOW = calendar.timegm((2024, 5, 1, 12, 0, 0))
SCOPE = f"20240501/{REGION}/s3/aws4_request"
EMPTY = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _signing_key(secret: str = SECRET_KEY, date: str = "20240501") -> bytes:
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (REGION, "s3", "aws4_request"):
        key = _hmac(key, part)
    return key


def _seed(method: str, path: str, headers: dict[str, str], mode: str) -> tuple[dict[str, str], str]:
    """Headers with Authorization for a streaming request; returns them and the seed signature."""
    headers = {k.lower(): v for k, v in headers.items()}
    headers.update({"host": HOST, "x-amz-date": AMZ_DATE, "x-amz-content-sha256": mode})
    names = sorted(headers)
    canonical = "\n".join([method, path, "", "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names), mode])
    sts = "\n".join(["AWS4-HMAC-SHA256", AMZ_DATE, SCOPE, hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(_signing_key(), sts.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{SCOPE}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return headers, signature


def build(payload: bytes, mode: str, *, chunk: int = 8192, checksum: str | None = "crc32",
          bad: str = "") -> tuple[dict[str, str], bytes]:
    """A complete streaming request (headers, wire body) in ``mode``, optionally corrupted by ``bad``."""
    signed = mode.startswith("STREAMING-AWS4-HMAC")
    trailer = mode.endswith("TRAILER")
    headers: dict[str, str] = {"content-encoding": "aws-chunked",
                               "x-amz-decoded-content-length": str(len(payload) + (1 if bad == "length" else 0))}
    if trailer and checksum:
        headers["x-amz-trailer"] = f"x-amz-checksum-{checksum}"
    headers, previous = _seed("PUT", "/bucket/key", headers, mode)
    key = _signing_key()
    wire = bytearray()
    pieces = [payload[i:i + chunk] for i in range(0, len(payload), chunk)] + [b""]
    for index, piece in enumerate(pieces):
        if signed:
            sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", AMZ_DATE, SCOPE, previous, EMPTY,
                             hashlib.sha256(piece).hexdigest()])
            previous = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
            signature = previous
            if bad == "chunk-signature" and index == 0:
                signature = "0" * 64
            wire += f"{len(piece):x};chunk-signature={signature}\r\n".encode()
        else:
            wire += f"{len(piece):x}\r\n".encode()
        if bad == "data" and index == 0:
            piece = b"X" + piece[1:]
        wire += piece
        if piece:
            wire += b"\r\n"
    if trailer and checksum:
        value = checksum_of(checksum, payload)
        if bad == "checksum":
            value = checksum_of(checksum, payload + b"!")
        elif bad == "base64":
            value = "not base64!"
        canonical = f"x-amz-checksum-{checksum}:{value}\n"
        wire += canonical.replace("\n", "\r\n").encode()
        if signed:
            sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", AMZ_DATE, SCOPE, previous,
                             hashlib.sha256(canonical.encode()).hexdigest()])
            signature = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
            if bad == "trailer-signature":
                signature = "f" * 64
            wire += f"x-amz-trailer-signature:{signature}\r\n".encode()
    wire += b"\r\n"
    if bad == "truncated":
        wire = wire[:len(wire) // 2]
    if bad == "framing":
        wire = wire.replace(b"\r\n", b"\n", 1)
    headers["content-length"] = str(len(wire))
    return headers, bytes(wire)


async def _verify_and_read(headers: dict[str, str], wire: bytes, *, piece: int, read_size: int,
                           chunked: bool = False) -> tuple[bytes, dict[str, str]]:
    request = make_request("PUT", f"http://{HOST}/bucket/key", headers, wire, piece=piece, chunked=chunked)
    verified = await verify_request(request, store(), settings(), now=NOW)
    data = await read_all(verified.body, read_size)
    return data, verified.body.checksums()


def consume(headers: dict[str, str], wire: bytes, *, piece: int = 1 << 20, read_size: int = 1 << 20,
            chunked: bool = False) -> tuple[bytes, dict[str, str]]:
    return run(_verify_and_read(headers, wire, piece=piece, read_size=read_size, chunked=chunked))


MODES = ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
         "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"]
PAYLOAD = bytes(range(256)) * 100 + b"tail"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("piece,read_size", [(1 << 20, 1 << 20), (7, 1000), (8190, 4096), (100000, 3)])
def test_good_streaming_bodies_decode(mode: str, piece: int, read_size: int) -> None:
    headers, wire = build(PAYLOAD, mode)
    data, checksums = consume(headers, wire, piece=piece, read_size=read_size)
    assert data == PAYLOAD
    if mode.endswith("TRAILER"):
        assert checksums == {"CRC32": checksum_of("CRC32", PAYLOAD)}


@pytest.mark.parametrize("mode", [m for m in MODES if m.endswith("TRAILER")])
@pytest.mark.parametrize("algorithm", ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"])
def test_every_trailer_algorithm(mode: str, algorithm: str) -> None:
    headers, wire = build(PAYLOAD, mode, checksum=algorithm)
    data, checksums = consume(headers, wire)
    assert data == PAYLOAD and checksums == {algorithm.upper(): checksum_of(algorithm, PAYLOAD)}


BAD_CASES = [
    ("chunk-signature", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", SignatureDoesNotMatch),
    ("data", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", SignatureDoesNotMatch),
    ("data", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", SignatureDoesNotMatch),
    ("data", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", BadDigest),
    ("checksum", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", BadDigest),
    ("checksum", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", BadDigest),
    ("base64", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", InvalidDigest),
    ("trailer-signature", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", SignatureDoesNotMatch),
    ("truncated", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", IncompleteBody),
    ("truncated", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", IncompleteBody),
    ("length", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", IncompleteBody),
    ("framing", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", InvalidRequest),
]


@pytest.mark.parametrize("bad,mode,error", BAD_CASES)
@pytest.mark.parametrize("piece", [1 << 20, 5])
def test_corrupted_streaming_bodies_fail(bad: str, mode: str, error: type[S3Error], piece: int) -> None:
    headers, wire = build(PAYLOAD[:3000], mode, chunk=1024, bad=bad)
    with pytest.raises(error):
        consume(headers, wire, piece=piece, read_size=700)


def test_error_surfaces_on_the_read_that_reaches_the_end() -> None:
    headers, wire = build(PAYLOAD, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", bad="checksum")

    async def go() -> None:
        request = make_request("PUT", f"http://{HOST}/bucket/key", headers, wire)
        verified = await verify_request(request, store(), settings(), now=NOW)
        first = await verified.body.read(len(PAYLOAD) - 10)
        assert len(first) == len(PAYLOAD) - 10          # exactly n, mid-body
        with pytest.raises(BadDigest):
            await verified.body.read(10)                 # reaches the end: fails here, not later
        with pytest.raises(BadDigest):
            await verified.body.read(10)                 # and keeps failing
    run(go())


def test_aws_documentation_example_vector() -> None:
    """The 'Example: PUT Object' of AWS's SigV4 streaming documentation (66560 bytes of 'a')."""
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    access = "AKIAIOSFODNN7EXAMPLE"
    seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    signatures = ["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                  "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                  "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"]
    wire = (f"10000;chunk-signature={signatures[0]}\r\n".encode() + b"a" * 65536 + b"\r\n"
            + f"400;chunk-signature={signatures[1]}\r\n".encode() + b"a" * 1024 + b"\r\n"
            + f"0;chunk-signature={signatures[2]}\r\n\r\n".encode())
    assert len(wire) == 66824
    headers = {
        "Host": "s3.amazonaws.com", "x-amz-date": "20130524T000000Z", "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access}/20130524/us-east-1/s3/aws4_request,"
                         "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                         f"x-amz-decoded-content-length;x-amz-storage-class,Signature={seed}",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560", "Content-Length": "66824",
    }
    credentials = CredentialStore(Credentials(access, secret, is_root=True))
    now = calendar.timegm((2013, 5, 24, 0, 0, 0))

    async def go(data: bytes) -> bytes:
        request = make_request("PUT", "http://s3.amazonaws.com/examplebucket/chunkObject.txt", headers, data,
                               piece=4000)
        verified = await verify_request(request, credentials, settings(), now=now)
        return await read_all(verified.body, 1 << 16)
    assert run(go(wire)) == b"a" * 66560
    with pytest.raises(SignatureDoesNotMatch):
        run(go(wire.replace(b"a" * 10, b"b" * 10, 1)))


# --- requests captured from boto3 ------------------------------------------------------------------
def _capture(endpoint: str, **put_args: Any) -> tuple[str, str, dict[str, str], bytes]:
    import boto3
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config

    captured: list[tuple[str, str, dict[str, str], bytes]] = []

    class _Raw:
        def stream(self, **_: Any) -> Any:
            return iter([b""])

    def before_send(request: Any, **_: Any) -> AWSResponse:
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        captured.append((request.method, request.url, headers, body or b""))
        return AWSResponse(request.url, 200, {"ETag": '"0"'}, _Raw())

    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name=REGION,
                          config=Config(s3={"addressing_style": "path"}))
    client.meta.events.register("before-send.s3.*", before_send)
    client.put_object(Bucket="bucket", Key="some key", **put_args)
    return captured[-1]


async def _boto_roundtrip(method: str, url: str, headers: dict[str, str], body: bytes, chunked: bool):
    url = url.replace("https://", "http://")
    request = make_request(method, url, headers, body, piece=1000, chunked=chunked)
    verified = await verify_request(request, store(), settings())
    return await read_all(verified.body, 4096), verified.body.checksums()


@pytest.mark.parametrize("endpoint", ["https://127.0.0.1:9000", "http://127.0.0.1:9000"])
@pytest.mark.parametrize("algorithm", [None, "CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_boto3_put_object_bodies(endpoint: str, algorithm: str | None) -> None:
    payload = PAYLOAD * 3
    args: dict[str, Any] = {"Body": io.BytesIO(payload)}
    if algorithm:
        args["ChecksumAlgorithm"] = algorithm
    method, url, headers, body = _capture(endpoint, **args)
    chunked = headers.get("Transfer-Encoding") == "chunked"
    data, checksums = run(_boto_roundtrip(method, url, headers, body, chunked))
    assert data == payload
    algorithm = algorithm or "CRC32"
    assert checksums == {algorithm: checksum_of(algorithm, payload)}
    # Corrupt one payload byte: some layer must reject it.
    index = body.find(b"tail")
    corrupted = body[:index] + b"TAIL" + body[index + 4:]
    with pytest.raises(S3Error) as info:
        run(_boto_roundtrip(method, url, headers, corrupted, chunked))
    assert info.value.code in ("BadDigest", "XAmzContentSHA256Mismatch", "SignatureDoesNotMatch")


def test_sdk_algorithm_without_value_is_computed_and_reported() -> None:
    body = b"compute me"
    headers, _ = _seed("PUT", "/bucket/key", {"x-amz-sdk-checksum-algorithm": "CRC32C"}, "UNSIGNED-PAYLOAD")
    data, checksums = consume({**headers, "content-length": str(len(body))}, body)
    assert data == body and checksums == {"CRC32C": checksum_of("CRC32C", body)}


def test_checksum_header_mismatch_and_bad_base64() -> None:
    body = b"payload"
    good = base64.b64encode((zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "big")).decode()
    for value, error in [(checksum_of("CRC32", b"other"), BadDigest), ("%%%", InvalidDigest), ("AAAA", BadDigest)]:
        headers, _ = _seed("PUT", "/bucket/key", {"x-amz-checksum-crc32": value}, "UNSIGNED-PAYLOAD")
        with pytest.raises(error):
            consume({**headers, "content-length": str(len(body))}, body)
    headers, _ = _seed("PUT", "/bucket/key", {"x-amz-checksum-crc32": good}, "UNSIGNED-PAYLOAD")
    assert consume({**headers, "content-length": str(len(body))}, body)[1] == {"CRC32": good}


def test_two_checksum_algorithms_are_refused() -> None:
    headers, _ = _seed("PUT", "/bucket/key", {"x-amz-checksum-crc32": checksum_of("CRC32", b""),
                                              "x-amz-checksum-sha1": checksum_of("SHA1", b"")}, "UNSIGNED-PAYLOAD")
    with pytest.raises(InvalidRequest):
        consume(headers, b"")


# --- fuzzing the decoder: any corruption is an S3 error, never a crash or wrong data -------------------
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st  # noqa: E402


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mode=st.sampled_from(MODES), position=st.integers(min_value=0, max_value=10**6),
       action=st.sampled_from(["flip", "cut", "insert", "delete"]), value=st.binary(min_size=1, max_size=8),
       piece=st.sampled_from([1 << 20, 13, 700]))
def test_fuzzed_streaming_bodies(mode: str, position: int, action: str, value: bytes, piece: int) -> None:
    payload = PAYLOAD[:2500]
    headers, wire = build(payload, mode, chunk=1000)
    at = position % len(wire)
    if action == "flip":
        mutated = wire[:at] + bytes([wire[at] ^ (value[0] or 1)]) + wire[at + 1:]
    elif action == "cut":
        mutated = wire[:at]
    elif action == "insert":
        mutated = wire[:at] + value + wire[at:]
    else:
        mutated = wire[:at] + wire[at + len(value):]
    headers = {**headers, "content-length": str(len(mutated))}
    try:
        data, _ = consume(headers, mutated, piece=piece, read_size=600)
    except S3Error:
        return
    # Accepted: must be the original payload (e.g. a flip inside an ignored chunk extension).
    assert data == payload, (action, at)
