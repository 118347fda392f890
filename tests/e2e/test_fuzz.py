"""Fuzzing request parsing with hypothesis, over raw sockets, against a dedicated server.

Three layers: bytes that are barely HTTP (the parser), well-framed HTTP with random methods, paths,
queries, headers and bodies (the router), and correctly *signed* requests whose S3 parameters are
malformed (the handlers: bad XML, ranges, part numbers, max-keys, encodings). The server must never
answer 5xx (501 NotImplemented excepted), never hang, and stay healthy.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BUCKET = "fuzz"
TIMEOUT = 15.0
FUZZ_SETTINGS = settings(deadline=None, database=None, derandomize=False,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def server(engine_factory: Any) -> Iterator[Any]:
    srv = engine_factory(name="fuzz")
    client = srv.client()
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key="obj", Body=b"0123456789" * 100)
    client.put_object(Bucket=BUCKET, Key="dir/obj2", Body=b"x" * 200_000)
    _UPLOAD_ID["id"] = client.create_multipart_upload(Bucket=BUCKET, Key="mp")["UploadId"]
    yield srv
    srv.discard()


def exchange(port: int, raw: bytes, half_close: bool = True, head: bool = False) -> tuple[int | None, bytes]:
    """Send ``raw``, then read until the server closes or one response is complete.

    Returns (status or None when the connection closed without a response, bytes received)."""
    deadline = time.monotonic() + TIMEOUT
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        try:
            s.sendall(raw)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the server may reject early and close
        buf = b""
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError(f"server hung: no complete answer within {TIMEOUT}s to {raw[:300]!r}")
            if not chunk:
                break
            buf += chunk
            if response_complete(buf, head):
                break
        else:
            raise AssertionError(f"server hung on {raw[:300]!r}")
    while buf.startswith((b"HTTP/1.1 100", b"HTTP/1.0 100")):
        buf = buf.partition(b"\r\n\r\n")[2]
    if not buf:
        return None, buf
    assert buf.startswith(b"HTTP/1."), f"not an HTTP response: {buf[:200]!r} to {raw[:300]!r}"
    return int(buf.split(b" ", 2)[1]), buf


def response_complete(buf: bytes, head: bool = False) -> bool:
    header_block, sep, body = buf.partition(b"\r\n\r\n")   # (not `head`: that says whether this answers HEAD)
    if not sep:
        return False
    lines = header_block.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1]) if len(lines[0].split(b" ")) > 1 else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    if 100 <= status < 200:   # 100 Continue: the final response follows (also to a HEAD)
        return response_complete(body, head)
    if head or status in (204, 304):
        return True
    if b"content-length" in headers:
        return len(body) >= int(headers[b"content-length"])
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        return body.endswith(b"0\r\n\r\n")
    return False   # until close


def assert_ok_status(status: int | None, raw: bytes, resp: bytes) -> None:
    if status is None:
        return
    assert status < 500 or status == 501, f"{status} for {raw[:400]!r}:\n{resp[:600]!r}"


def assert_healthy(server: Any) -> None:
    assert server.is_running(), f"server died\n{server.log_tail()}"
    status, body = server.request("GET", "/")
    assert status == 200, body


# --- layer 1: barely HTTP ------------------------------------------------------------------------
REQUEST_LINES = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda m, t, v: m + b" " + t + b" " + v,
              st.sampled_from([b"GET", b"PUT", b"POST", b"DELETE", b"HEAD", b"BREW", b"", b"G\x00T"]),
              st.binary(min_size=0, max_size=100),
              st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/9", b"", b"http/1.1"])))


@settings(FUZZ_SETTINGS, max_examples=300)
@given(line=REQUEST_LINES,
       headers=st.lists(st.tuples(st.binary(max_size=30), st.binary(max_size=60)), max_size=6),
       body=st.binary(max_size=300))
def test_fuzz_raw_bytes(server: Any, line: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    raw = line + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in headers) + b"\r\n" + body
    status, resp = exchange(server.port, raw)
    assert_ok_status(status, raw, resp)


# --- layer 2: well-framed HTTP, random S3-ish content ------------------------------------------------
SUBRESOURCES = ["uploads", "uploadId", "partNumber", "versionId", "versions", "list-type", "max-keys",
                "continuation-token", "start-after", "delete", "tagging", "versioning", "prefix",
                "delimiter", "marker", "encoding-type", "fetch-owner", "location", "acl", "policy",
                "max-uploads", "max-parts", "part-number-marker", "key-marker", "version-id-marker",
                "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-Expires",
                "X-Amz-SignedHeaders", "response-content-type", "attributes", "x-id"]
VALUES = st.one_of(
    st.just(""), st.integers(-(2 ** 70), 2 ** 70).map(str), st.text(max_size=30),
    st.sampled_from(["url", "AWS4-HMAC-SHA256", "0", "-1", "10001", "1e9", "NaN", "%00", "..", "../..",
                     "%ZZ", "\u202e", "a" * 2000, "2", "true"]))
SEGMENTS = st.one_of(
    st.text(min_size=0, max_size=20),
    st.sampled_from(["..", ".", "", "%2e%2e", "%2F", "fuzz", "obj", "dir", "mp", "%00", "a%", "~", "\\",
                     "x" * 300, "rustfs", "admin", "v3", "heal", "health", ".rustfs.sys", "format.json"]))
HEADER_NAMES = ["Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
                "Content-MD5", "x-amz-content-sha256", "x-amz-date", "Authorization", "Content-Type",
                "x-amz-copy-source", "x-amz-copy-source-range", "x-amz-metadata-directive", "x-amz-tagging",
                "x-amz-checksum-crc32", "x-amz-checksum-sha256", "x-amz-sdk-checksum-algorithm",
                "x-amz-trailer", "x-amz-decoded-content-length", "Content-Encoding", "Expect",
                "x-amz-meta-a", "x-amz-storage-class", "x-amz-checksum-mode", "Host", "Connection"]
HEADER_VALUES = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=60),
    st.sampled_from(["bytes=0-0", "bytes=-1", "bytes=5-1", "bytes=", "bytes=0-1,2-3", "bytes=99999999999999999999-",
                     "*", '"abc"', "Wed, 21 Oct 2015 07:28:00 GMT", "garbage-date", "aws-chunked",
                     "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "UNSIGNED-PAYLOAD",
                     "AWS4-HMAC-SHA256 Credential=x/20200101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
                     "100-continue", "fuzz/obj", "/fuzz/obj?versionId=zz", "REPLACE", "COPY", "GLACIER",
                     "AAAAAA==", "-1", "18446744073709551617"]))
BODIES = st.one_of(
    st.binary(max_size=500),
    st.sampled_from([b"<Delete><Object><Key>obj</Key></Object></Delete>", b"<", b"<?xml version='1.0'?>",
                     b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>"
                     b"</CompleteMultipartUpload>",
                     b"<!DOCTYPE a [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><Tagging>&e;</Tagging>",
                     b"<a>" * 500, b"0\r\n\r\n", b"5;chunk-signature=00\r\nhello\r\n0\r\n\r\n"]))


@st.composite
def s3_requests(draw: Any) -> tuple[str, str, str, list[tuple[str, str]], bytes]:
    method = draw(st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH"]))
    segs = draw(st.lists(SEGMENTS, min_size=0, max_size=4))
    if draw(st.booleans()):
        segs = [BUCKET, *segs]
    path = "/" + "/".join(quote(s, safe=draw(st.sampled_from(["", "/", "%~", "/%."]))) for s in segs)
    pairs = draw(st.lists(st.tuples(st.sampled_from(SUBRESOURCES) | st.text(max_size=8), VALUES), max_size=4))
    query = "&".join(quote(k, safe="") + ("" if v == "" and draw(st.booleans()) else "=" + quote(v, safe=""))
                     for k, v in pairs)
    headers = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), HEADER_VALUES), max_size=5,
                            unique_by=lambda h: h[0].lower()))
    body = draw(BODIES) if method in ("PUT", "POST") or draw(st.booleans()) else b""
    return method, path, query, headers, body


def frame(method: str, target: str, headers: list[tuple[str, str]], body: bytes, port: int) -> bytes:
    names = {k.lower() for k, _ in headers}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: 127.0.0.1:{port}")
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in ("content-length", "connection")]
    lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body


@settings(FUZZ_SETTINGS, max_examples=500)
@given(req=s3_requests())
def test_fuzz_unsigned_http(server: Any, req: Any) -> None:
    method, path, query, headers, body = req
    raw = frame(method, path + ("?" + query if query else ""), headers, body, server.port)
    status, resp = exchange(server.port, raw, half_close=False, head=method == "HEAD")
    assert status is not None, f"no response to a well-framed request {raw[:300]!r}"
    assert_ok_status(status, raw, resp)


# --- layer 3: signed, reaching the handlers ------------------------------------------------------------
WRITABLE_KEYS = st.sampled_from(["new", "dir/", "a b", "ü", "x" * 1000, "dir/obj2/under"])


@st.composite
def signed_requests(draw: Any) -> tuple[str, str, str, dict[str, str], bytes]:
    key = draw(st.sampled_from(["obj", "dir/obj2", "mp", "new", "dir/", "a b", "ü", "x" * 1000]))
    op = draw(st.sampled_from(["get", "head", "put", "list", "list1", "versions", "uploads", "part", "complete",
                               "delete-multi", "tagging", "versioning", "copy", "listparts", "delete"]))
    q: list[tuple[str, str]] = []
    headers: dict[str, str] = {}
    body = b""
    method, path = "GET", f"/{BUCKET}/{quote(key, safe='/')}"
    ints = st.one_of(st.integers(-5, 20000), st.sampled_from([2 ** 31, 2 ** 63, 10 ** 30])).map(str) | \
        st.sampled_from(["", "abc", "1.5", " 1", "0x10", "１"])
    if op in ("get", "head"):
        method = op.upper()
        headers["Range"] = draw(HEADER_VALUES | st.builds(lambda a, b: f"bytes={a}-{b}", ints, ints))
        if draw(st.booleans()):
            q.append(("partNumber", draw(ints)))
        if draw(st.booleans()):
            q.append(("versionId", draw(VALUES)))
    elif op in ("list", "list1", "versions", "uploads"):
        path = f"/{BUCKET}"
        q.append({"list": ("list-type", "2"), "list1": ("marker", draw(VALUES)), "versions": ("versions", ""),
                  "uploads": ("uploads", "")}[op])
        for name in draw(st.lists(st.sampled_from(["max-keys", "prefix", "delimiter", "continuation-token",
                                                   "start-after", "encoding-type", "key-marker",
                                                   "version-id-marker", "max-uploads", "fetch-owner"]),
                                  max_size=4, unique=True)):
            q.append((name, draw(ints if name.startswith("max") else VALUES)))
    elif op == "put":
        method = "PUT"
        path = f"/{BUCKET}/{quote(draw(WRITABLE_KEYS), safe='/')}"      # never the fixtures' objects
        body = draw(BODIES)
        headers.update(draw(st.dictionaries(st.sampled_from(["Content-MD5", "x-amz-checksum-crc32", "Content-Type",
                                                             "x-amz-tagging", "x-amz-storage-class",
                                                             "x-amz-meta-x", "If-None-Match", "If-Match"]),
                                            HEADER_VALUES, max_size=3)))
    elif op in ("part", "complete", "listparts"):
        method = {"part": "PUT", "complete": "POST", "listparts": "GET"}[op]
        path = f"/{BUCKET}/mp"
        q.append(("uploadId", draw(st.sampled_from([server_upload_id(), "bogus", ""]))))
        if op == "part":
            q.append(("partNumber", draw(ints)))
            body = draw(st.binary(max_size=100))
        elif op == "complete":
            body = draw(BODIES | st.builds(
                lambda parts: ("<CompleteMultipartUpload>" + "".join(
                    f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in parts)
                    + "</CompleteMultipartUpload>").encode(),
                st.lists(st.tuples(ints, st.text(max_size=10)), max_size=4)))
        else:
            q += [("max-parts", draw(ints)), ("part-number-marker", draw(ints))]
    elif op == "delete-multi":
        method, path = "POST", f"/{BUCKET}"
        q.append(("delete", ""))
        body = draw(st.binary(max_size=200) | st.builds(
            lambda keys: ("<Delete>" + "".join(f"<Object><Key>{k}</Key></Object>" for k in keys)
                          + "</Delete>").encode(), st.lists(st.sampled_from(["nope", "", "&amp;", "x" * 1100]),
                                                            max_size=3)))
        headers["Content-MD5"] = __import__("base64").b64encode(hashlib.md5(body).digest()).decode()
    elif op in ("tagging", "versioning"):
        method = draw(st.sampled_from(["GET", "PUT", "DELETE"]))
        path = f"/{BUCKET}/obj" if op == "tagging" else f"/{BUCKET}"
        if op == "versioning" and method == "DELETE":
            method = "GET"
        q.append((op, ""))
        body = draw(BODIES) if method == "PUT" else b""
    elif op == "copy":
        method = "PUT"
        path = f"/{BUCKET}/{quote(draw(WRITABLE_KEYS), safe='/')}"
        headers["x-amz-copy-source"] = draw(HEADER_VALUES)
        if draw(st.booleans()):
            headers["x-amz-copy-source-range"] = draw(HEADER_VALUES)
        if draw(st.booleans()):
            headers["x-amz-metadata-directive"] = draw(HEADER_VALUES)
    elif op == "delete":
        method = "DELETE"
        key = draw(st.sampled_from(["new", "nothing-here"]))   # never the fixtures' objects
        path = f"/{BUCKET}/{key}"
        if draw(st.booleans()):
            q.append(("versionId", draw(VALUES)))
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in q)
    return method, path, query, headers, body


_UPLOAD_ID = {"id": "bogus"}


def server_upload_id() -> str:
    return _UPLOAD_ID["id"]


@settings(FUZZ_SETTINGS, max_examples=800)
@given(req=signed_requests(), unsigned_payload=st.booleans())
def test_fuzz_signed_malformed(server: Any, req: Any, unsigned_payload: bool) -> None:
    method, path, query, headers, body = req
    payload_hash = "UNSIGNED-PAYLOAD" if unsigned_payload else hashlib.sha256(body).hexdigest()
    try:
        signed = server.sign(method, path, query, payload_hash, headers)
    except (UnicodeError, ValueError):
        return
    raw = frame(method, path + ("?" + query if query else ""), list(signed.items()), body, server.port)
    status, resp = exchange(server.port, raw, half_close=False, head=method == "HEAD")
    assert status is not None, f"no response to a well-framed request {raw[:300]!r}"
    assert_ok_status(status, raw, resp)


def test_server_healthy_after_fuzzing(server: Any) -> None:
    assert_healthy(server)
    client = server.client()
    assert client.get_object(Bucket=BUCKET, Key="obj")["Body"].read() == b"0123456789" * 100
    assert client.get_object(Bucket=BUCKET, Key="dir/obj2")["Body"].read() == b"x" * 200_000


def test_slow_and_abandoned_clients_do_not_wedge_the_server(server: Any) -> None:
    """Half-sent requests and bodies shorter than Content-Length, then vanishing clients."""
    socks = []
    try:
        for i in range(20):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            if i % 3 == 0:
                s.sendall(b"GET /fuzz/obj HTTP/1.1\r\nHost: x\r\n")                  # headers never end
            elif i % 3 == 1:
                hdrs = server.sign("PUT", f"/{BUCKET}/partial{i}", "", "UNSIGNED-PAYLOAD")
                head = "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
                s.sendall(f"PUT /{BUCKET}/partial{i} HTTP/1.1\r\n{head}Content-Length: 1000000\r\n\r\n".encode()
                          + b"x" * 1000)                                              # body cut short
            socks.append(s)
        assert_healthy(server)          # other clients are still served meanwhile
    finally:
        for s in socks:
            s.close()
    time.sleep(0.5)
    assert_healthy(server)
    client = server.client()
    # Downloads abandoned after their first bytes.
    for i in range(10):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        hdrs = server.sign("GET", f"/{BUCKET}/dir/obj2", "", "UNSIGNED-PAYLOAD")
        head = "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
        s.sendall(f"GET /{BUCKET}/dir/obj2 HTTP/1.1\r\n{head}\r\n".encode())
        s.recv(100)
        s.close()
    assert_healthy(server)
    for i in range(20):
        from botocore.exceptions import ClientError

        with pytest.raises(ClientError):
            client.head_object(Bucket=BUCKET, Key=f"partial{i}")    # no truncated object was committed
