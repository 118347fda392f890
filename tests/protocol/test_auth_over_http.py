"""boto3 -> HTTP server -> verify_request -> verified body, end to end over loopback.

A tiny in-memory "S3" app (PUT/GET/HEAD of objects) stands in for the real handlers, so these tests
exercise exactly the protocol layer: 100-continue, aws-chunked, checksum headers and trailers.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import uvloop
from botocore.config import Config
from botocore.exceptions import ClientError

from storage_engine.auth import verify_request
from storage_engine.errors import S3Error
from storage_engine.http.error_xml import error_response
from storage_engine.http.server import HttpServer
from storage_engine.http.types import Request, Response

from .helpers import ACCESS_KEY, REGION, SECRET_KEY, settings, store


class MiniS3:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.settings = settings()
        self.credentials = store()

    async def __call__(self, request: Request) -> Response:
        try:
            verified = await verify_request(request, self.credentials, self.settings)
            if request.raw_path.startswith("/missing/"):      # rejected before reading the body
                return Response(404, [("Content-Type", "application/xml")],
                                b"<Error><Code>NoSuchBucket</Code><Message>no</Message></Error>")
            if request.method == "PUT":
                data = bytearray()
                while chunk := await verified.body.read(1 << 20):
                    data += chunk
                checksums = verified.body.checksums()
                self.objects[request.raw_path] = (bytes(data), checksums)
                headers = [("ETag", f'"{hashlib.md5(data).hexdigest()}"')]
                headers += [(f"x-amz-checksum-{a.lower()}", v) for a, v in checksums.items()]
                return Response(200, headers, b"")
            if request.raw_path not in self.objects:
                return Response(404, [("Content-Type", "application/xml")],
                                b"<Error><Code>NoSuchKey</Code><Message>no</Message></Error>")
            data, _ = self.objects[request.raw_path]
            return Response(200, [("ETag", f'"{hashlib.md5(data).hexdigest()}"')], data)
        except S3Error as exc:
            return error_response(exc, request.raw_path)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[str, MiniS3]]:
    app = MiniS3()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        server = HttpServer(app)
        sockets = await server.listen("127.0.0.1", 0)
        holder["port"] = sockets[0].getsockname()[1]
        holder["stop"] = stop = asyncio.Event()
        holder["loop"] = asyncio.get_running_loop()
        ready.set()
        await stop.wait()
        await server.shutdown(2)

    thread = threading.Thread(target=uvloop.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{holder['port']}", app
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(10)


def client(url: str, **config: Any) -> Any:
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                        region_name=REGION, config=Config(s3={"addressing_style": "path"},
                                                          retries={"max_attempts": 1}, **config))


@pytest.mark.parametrize("algorithm", [None, "CRC32C", "SHA256", "CRC64NVME"])
def test_boto3_put_and_get(endpoint: tuple[str, MiniS3], algorithm: str | None) -> None:
    url, app = endpoint
    s3 = client(url)
    body = b"0123456789" * 300_000
    args: dict[str, Any] = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    s3.put_object(Bucket="b", Key=f"k-{algorithm}", Body=body, **args)
    stored, checksums = app.objects[f"/b/k-{algorithm}"]
    assert stored == body and list(checksums) == [algorithm or "CRC32"]
    assert s3.get_object(Bucket="b", Key=f"k-{algorithm}")["Body"].read() == body


def test_boto3_streaming_file_upload_uses_aws_chunked(endpoint: tuple[str, MiniS3], tmp_path: Any) -> None:
    # The transfer manager path (upload_file), as the AWS CLI and s3transfer users take it.
    url, app = endpoint
    s3 = client(url)
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * (3 << 20) + b"end")
    s3.upload_file(str(path), "b", "file")
    assert app.objects["/b/file"][0] == path.read_bytes()


def test_wrong_secret_is_signature_does_not_match(endpoint: tuple[str, MiniS3]) -> None:
    url, _ = endpoint
    s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=ACCESS_KEY, aws_secret_access_key="wrong",
                      region_name=REGION, config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket="b", Key="x", Body=b"data" * 1000)
    assert info.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_replayed_aws_chunked_trailer_request_over_http_chunked(endpoint: tuple[str, MiniS3]) -> None:
    """What boto3 sends over TLS (HTTP chunked + aws-chunked + CRC32 trailer), replayed on a socket."""
    from .test_chunked import _capture

    url, app = endpoint
    port = int(url.rsplit(":", 1)[1])
    payload = b"trailer payload " * 50_000
    method, captured_url, headers, body = _capture("https://127.0.0.1:%d" % port, Body=__import__("io").BytesIO(payload))
    assert headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    path = captured_url.split(str(port), 1)[1]
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() not in ("expect",)) + "\r\n"
    wire = bytearray(head.encode())
    for i in range(0, len(body), 70_000):         # HTTP chunked framing around the aws-chunked body
        piece = body[i:i + 70_000]
        wire += b"%x\r\n" % len(piece) + piece + b"\r\n"
    wire += b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(wire)
        response = sock.recv(65536)
    assert response.startswith(b"HTTP/1.1 200"), response
    assert app.objects[path][0] == payload


def test_rejection_before_the_body_reaches_boto3_as_an_error(endpoint: tuple[str, MiniS3]) -> None:
    """boto3 sends Expect: 100-continue; a final answer instead of 100 must reach it intact."""
    url, _ = endpoint
    s3 = client(url)
    for _ in range(3):                              # and the client recovers on the next connection
        with pytest.raises(ClientError) as info:
            s3.put_object(Bucket="missing", Key="k", Body=b"z" * (5 << 20))
        assert info.value.response["Error"]["Code"] == "NoSuchBucket"
        s3.put_object(Bucket="b", Key="after", Body=b"ok")


def test_early_rejection_of_a_body_sent_without_expect(endpoint: tuple[str, MiniS3]) -> None:
    """The client sends 20 MiB anyway; the server answered first and lingers, so no reset loses it."""
    import http.client

    from storage_engine.auth import sign_request

    url, _ = endpoint
    host, port = url.removeprefix("http://").split(":")
    target = f"{url}/missing/key"
    headers = sign_request("PUT", target, {}, "UNSIGNED-PAYLOAD", ACCESS_KEY, SECRET_KEY, REGION)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("PUT", "/missing/key", body=b"q" * (20 << 20), headers=headers)
        response = conn.getresponse()
        assert response.status == 404 and b"NoSuchBucket" in response.read()
    finally:
        conn.close()
