"""Fuzzing request parsing with hypothesis: whatever arrives, the server never answers 5xx or dies."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvloop
from hypothesis import HealthCheck, given, settings, strategies as st

from storage_engine.http.server import HttpServer, ServerLimits
from storage_engine.http.types import Request, Response



async def echo_app(request: Request) -> Response:
    total = 0
    while chunk := await request.body.read(65536):
        total += len(chunk)
    return Response(200, [("x-len", str(total))], request.raw_path.encode()[:100])


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        server = HttpServer(echo_app, ServerLimits(header_timeout=2, body_timeout=2, keepalive_timeout=2))
        sockets = await server.listen("127.0.0.1", 0)
        holder.update(port=sockets[0].getsockname()[1], stop=asyncio.Event(), loop=asyncio.get_running_loop())
        ready.set()
        await holder["stop"].wait()
        await server.shutdown(2)

    thread = threading.Thread(target=uvloop.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield holder["port"]
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(10)


def send(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
    return b"".join(chunks)


STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) ")

token = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=0, max_size=12)
methods = st.sampled_from([b"GET", b"PUT", b"POST", b"HEAD", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"G\x00T",
                           b"get", b""])
paths = st.one_of(st.binary(max_size=40).map(lambda b: b"/" + b), st.sampled_from(
    [b"/", b"*", b"http://h/x?y", b"/a%zz", b"/%00", b"/a b", b"/\xc3\xa9", b"/?a=%ff&&=&"]))
header_lines = st.lists(st.one_of(
    st.tuples(token, token).map(lambda kv: f"{kv[0]}: {kv[1]}".encode()),
    st.sampled_from([b"Content-Length: 5", b"Content-Length: -1", b"Content-Length: 99999999999999999999",
                     b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip, chunked", b"Expect: 100-continue",
                     b"Connection: close", b"Upgrade: h2c", b"Connection: Upgrade", b"Host:", b" folded",
                     b"X\x00: y", b"Content-Length: 3\r\nContent-Length: 4"]),
), max_size=6)
bodies = st.one_of(st.binary(max_size=64), st.sampled_from([b"hello", b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\n",
                                                            b"0\r\n\r\nGET / HTTP/1.1\r\n\r\n"]))
versions = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1x", b""])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=methods, path=paths, version=versions, headers=header_lines, body=bodies)
def test_structured_requests_never_5xx(port: int, method: bytes, path: bytes, version: bytes,
                                       headers: list[bytes], body: bytes) -> None:
    request = method + b" " + path + b" " + version + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body
    response = send(port, request)
    for status in STATUS.findall(response):
        assert int(status) < 500, (request, response[:300])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_random_bytes_never_5xx(port: int, data: bytes) -> None:
    response = send(port, data)
    for status in STATUS.findall(response):
        assert int(status) < 500, (data, response[:300])


def test_server_still_serves_after_fuzzing(port: int) -> None:
    assert send(port, b"GET /alive HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")
