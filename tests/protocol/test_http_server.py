"""The HTTP server over real loopback sockets, with small fake apps."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvloop

from storage_engine.errors import RequestTimeout, S3Error
from storage_engine.http.body import RequestBody
from storage_engine.http.server import ServerLimits
from storage_engine.http.types import Request, Response

from .http_client import connect, exchange, read_response, running


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await asyncio.wait_for(coro, 60)
    return uvloop.run(main())


async def echo_app(request: Request) -> Response:
    data = bytearray()
    while chunk := await request.body.read(1 << 20):
        data += chunk
    text = f"{request.method} {request.raw_path} {request.query_string} {len(data)}"
    return Response(200, [("Content-Type", "text/plain"), ("x-echo", text)], bytes(data))


def test_keep_alive_and_pipelining() -> None:
    async def go() -> None:
        async with running(echo_app) as (_, port):
            reader, writer = await connect(port)
            writer.write(b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n")
            first = await read_response(reader)
            assert first.status == 200 and first.header("x-echo") == "GET /a x=1 0"
            assert first.header("server") and first.header("date") and len(first.header("x-amz-request-id") or "") == 16
            # Three pipelined requests in one write, one with a body, one chunked.
            writer.write(b"PUT /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
                         b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                         b"GET /d HTTP/1.1\r\nHost: h\r\n\r\n")
            responses = [await read_response(reader) for _ in range(3)]
            assert [r.body for r in responses] == [b"hello", b"abcde", b""]
            ids = {first.header("x-amz-request-id")} | {r.header("x-amz-request-id") for r in responses}
            assert len(ids) == 4
            writer.close()
    run(go())


def test_http10_closes_unless_keep_alive() -> None:
    async def go() -> None:
        async with running(echo_app) as (_, port):
            reader, writer = await connect(port)
            writer.write(b"GET /x HTTP/1.0\r\n\r\n")
            response = await read_response(reader)
            assert response.status == 200 and response.header("connection") == "close"
            assert await reader.read() == b""
    run(go())


def test_expect_100_continue_is_sent_on_first_read_only() -> None:
    async def reject_app(request: Request) -> Response:
        if request.raw_path == "/reject":
            return Response(403, [], b"no")
        return await echo_app(request)

    async def go() -> None:
        async with running(reject_app) as (_, port):
            reader, writer = await connect(port)
            writer.write(b"PUT /ok HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            interim = await read_response(reader)
            assert interim.status == 100
            writer.write(b"data")
            final = await read_response(reader)
            assert final.status == 200 and final.body == b"data"
            # Rejected before reading: no 100, and the connection closes (the body never came).
            writer.write(b"PUT /reject HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
            final = await read_response(reader)
            assert final.status == 403 and final.header("connection") == "close"
            assert await asyncio.wait_for(reader.read(), 5) == b""
    run(go())


def test_backpressure_bounds_buffered_request_body() -> None:
    limits = ServerLimits(body_high_water=256 << 10, body_low_water=64 << 10)
    seen: list[int] = []

    async def slow_app(request: Request) -> Response:
        body = request.body
        assert isinstance(body, RequestBody)
        await asyncio.sleep(0.3)                       # let the client push as much as it can
        total = 0
        while chunk := await body.read(64 << 10):
            seen.append(body.buffered)
            total += len(chunk)
            if total % (4 << 20) < (64 << 10):
                await asyncio.sleep(0.01)
        return Response(200, [], str(total).encode())

    async def go() -> None:
        async with running(slow_app, limits) as (_, port):
            size = 48 << 20
            reader, writer = await connect(port)
            writer.write(b"PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % size)
            block = os.urandom(1 << 20)
            for _ in range(size >> 20):
                writer.write(block)
                await writer.drain()
            response = await read_response(reader)
            assert response.body == str(size).encode()
        # Never more than the high-water mark plus one socket read (uvloop reads up to 256 KiB).
        assert max(seen) <= (256 << 10) + (256 << 10)
    run(go())


def test_streamed_response_respects_write_flow_control() -> None:
    produced: list[int] = []
    closed: list[str] = []
    chunk = os.urandom(1 << 20)

    async def stream() -> AsyncIterator[bytes]:
        for i in range(64):
            produced.append(i)
            yield chunk

    async def on_close() -> None:
        closed.append("closed")

    async def big_app(request: Request) -> Response:
        return Response(200, [], stream(), content_length=64 << 20, on_close=on_close)

    async def go() -> None:
        async with running(big_app) as (_, port):
            reader, writer = await connect(port)
            writer.write(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
            await asyncio.sleep(0.5)                   # a client that does not read yet
            assert len(produced) < 24                  # socket buffers + 1 MiB, never the object
            response = await read_response(reader)
            assert len(response.body) == 64 << 20 and response.body[:1024] == chunk[:1024]
            assert closed == ["closed"]
            # A client that leaves mid-stream: the generator is closed, on_close runs once.
            produced.clear()
            writer.write(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
            await reader.readexactly(1 << 20)
            writer.close()
            for _ in range(100):
                if len(closed) == 2:
                    break
                await asyncio.sleep(0.05)
            assert closed == ["closed", "closed"] and len(produced) < 64
    run(go())


def test_head_sends_headers_only_and_closes_iterator() -> None:
    state: dict[str, Any] = {"iterated": False, "closed": 0}

    async def stream() -> AsyncIterator[bytes]:
        state["iterated"] = True
        yield b"x" * 10

    async def on_close() -> None:
        state["closed"] += 1

    async def app(request: Request) -> Response:
        return Response(200, [("ETag", '"abc"')], stream(), content_length=10, on_close=on_close)

    async def go() -> None:
        async with running(app) as (_, port):
            reader, writer = await connect(port)
            writer.write(b"HEAD /obj HTTP/1.1\r\nHost: h\r\n\r\n")
            head = await read_response(reader, head_only=True)
            assert head.status == 200 and head.header("content-length") == "10" and head.header("etag") == '"abc"'
            writer.write(b"GET /obj HTTP/1.1\r\nHost: h\r\n\r\n")     # the connection is still usable
            assert (await read_response(reader)).body == b"x" * 10
            assert state["closed"] == 2
    run(go())


def test_unread_body_small_rest_is_drained_large_rest_closes() -> None:
    async def ignore_app(request: Request) -> Response:
        return Response(200, [], b"ignored")

    async def go() -> None:
        async with running(ignore_app) as (_, port):
            reader, writer = await connect(port)
            writer.write(b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n" + b"a" * 1000)
            first = await read_response(reader)
            assert first.status == 200 and first.header("connection") is None
            writer.write(b"GET /y HTTP/1.1\r\nHost: h\r\n\r\n")
            assert (await read_response(reader)).status == 200
            writer.write(b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 100000000\r\n\r\n" + b"a" * 1000)
            big = await read_response(reader)
            assert big.status == 200 and big.header("connection") == "close"
            writer.close()
    run(go())


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /\xff\xfe HTTP/1.1\r\n\r\n",
    b"GET relative HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(300)) + b"\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
]


@pytest.mark.parametrize("data", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_requests_get_400_xml_and_close(data: bytes) -> None:
    async def go() -> None:
        async with running(echo_app) as (_, port):
            reader, writer = await connect(port)
            writer.write(data)
            response = await read_response(reader)
            assert response.status == 400, response
            assert response.body.startswith(b"<?xml") and b"<Code>" in response.body
            assert response.header("connection") == "close"
            assert await asyncio.wait_for(reader.read(), 5) == b""
    run(go())


def test_app_crash_is_500_xml_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def crash_app(request: Request) -> Response:
        raise ZeroDivisionError("secret detail")

    async def s3_error_app(request: Request) -> Response:
        raise RequestTimeout()

    async def go() -> None:
        async with running(crash_app) as (_, port):
            response = await exchange(port, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            assert response.status == 500 and b"<Code>InternalError</Code>" in response.body
            assert b"secret" not in response.body and b"Traceback" not in response.body
        async with running(s3_error_app) as (_, port):
            response = await exchange(port, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            assert response.status == 400 and b"<Code>RequestTimeout</Code>" in response.body
    run(go())
    assert "ZeroDivisionError" in caplog.text


def test_idle_and_body_timeouts() -> None:
    limits = ServerLimits(keepalive_timeout=0.3, header_timeout=0.3, body_timeout=0.3)
    errors: list[str] = []

    async def body_app(request: Request) -> Response:
        try:
            await request.body.read(100)
            await request.body.read(100)
        except S3Error as exc:
            errors.append(exc.code)
            raise
        return Response(200, [], b"")

    async def go() -> None:
        async with running(body_app, limits) as (_, port):
            reader, writer = await connect(port)      # idle: closed by the server
            assert await asyncio.wait_for(reader.read(), 5) == b""
            reader, writer = await connect(port)      # half a head, then silence
            writer.write(b"GET / HTTP/1.1\r\nHost")
            assert await asyncio.wait_for(reader.read(), 5) == b""
            reader, writer = await connect(port)      # half a body, then silence
            writer.write(b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc")
            response = await read_response(reader)
            assert response.status == 400 and b"RequestTimeout" in response.body
        assert errors == ["RequestTimeout"]
    run(go())


def test_graceful_shutdown_finishes_in_flight_requests() -> None:
    async def slow_app(request: Request) -> Response:
        await asyncio.sleep(0.5)
        return Response(200, [], b"done")

    async def go() -> None:
        async with running(slow_app) as (server, port):
            idle_reader, _ = await connect(port)
            busy_reader, busy_writer = await connect(port)
            busy_writer.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await asyncio.sleep(0.1)
            shutdown = asyncio.ensure_future(server.shutdown(5))
            await asyncio.sleep(0.05)
            assert await asyncio.wait_for(idle_reader.read(), 2) == b""     # idle: closed at once
            with pytest.raises(OSError):
                await connect(port)                                          # no longer accepting
            response = await read_response(busy_reader)
            assert response.body == b"done" and response.header("connection") == "close"
            await shutdown
    run(go())


def test_shutdown_timeout_cancels_and_cancellation_propagates() -> None:
    cancelled: list[bool] = []

    async def stuck_app(request: Request) -> Response:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return Response(200, [], b"")

    async def go() -> None:
        async with running(stuck_app) as (server, port):
            _, writer = await connect(port)
            writer.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await asyncio.sleep(0.1)
            await server.shutdown(0.2)
            assert cancelled == [True]
        async with running(stuck_app) as (server, port):
            _, writer = await connect(port)
            writer.write(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await asyncio.sleep(0.1)
            # shutdown() itself being cancelled re-raises CancelledError (never swallowed)
            task = asyncio.ensure_future(server.shutdown(10))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    run(go())


def test_response_without_length_is_chunked() -> None:
    async def stream() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b"def"

    async def app(request: Request) -> Response:
        return Response(200, [], stream())

    async def go() -> None:
        async with running(app) as (_, port):
            response = await exchange(port, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            assert response.header("transfer-encoding") == "chunked" and response.body == b"abcdef"
    run(go())


def test_header_injection_is_neutralized_and_no_body_statuses() -> None:
    async def app(request: Request) -> Response:
        if request.raw_path == "/304":
            return Response(304, [("ETag", '"x"')], b"should not be sent")
        return Response(200, [("x-bad", "a\r\nSet-Cookie: evil")], b"ok")

    async def go() -> None:
        async with running(app) as (_, port):
            response = await exchange(port, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            assert "set-cookie" not in response.headers and response.body == b"ok"
            reader, writer = await connect(port)
            writer.write(b"GET /304 HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
            first = await read_response(reader)
            assert first.status == 304 and "content-length" not in first.headers
            assert (await read_response(reader)).body == b"ok"
    run(go())


Handler = Callable[[Request], Awaitable[Response]]


def test_slowloris_head_is_cut_off() -> None:
    limits = ServerLimits(header_timeout=0.4, keepalive_timeout=5)

    async def go() -> None:
        async with running(echo_app, limits) as (_, port):
            reader, writer = await connect(port)
            writer.write(b"GET / HTTP/1.1\r\n")
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i in range(40):                        # one header line every 50 ms: never idle
                await asyncio.sleep(0.05)
                try:
                    writer.write(b"X-%d: y\r\n" % i)
                except (ConnectionError, RuntimeError):
                    break
                if reader.at_eof():
                    break
            try:
                assert await asyncio.wait_for(reader.read(), 5) == b""
            except ConnectionError:
                pass                                   # cut off while we were still writing
            assert loop.time() - start < 1.9
    run(go())


def test_closed_connections_leave_no_garbage_cycles() -> None:
    """A connection and its parser (which holds the connection's callbacks) are freed when the connection
    closes, not left as a cycle for the garbage collector: one per connection of a client that connects
    per request."""
    async def go() -> None:
        async with running(echo_app) as (_, port):
            for _ in range(3):                 # the server's first connection makes its lasting objects
                reader, writer = await connect(port)
                writer.write(b"GET /x HTTP/1.0\r\n\r\n")
                await read_response(reader)
                writer.close()
            await asyncio.sleep(0.05)
            gc.collect()
            gc.disable()
            try:
                for _ in range(30):
                    reader, writer = await connect(port)
                    writer.write(b"GET /x HTTP/1.0\r\n\r\n")
                    assert (await read_response(reader)).status == 200
                    assert await reader.read() == b""      # the server closed it
                    writer.close()
                    await writer.wait_closed()
                await asyncio.sleep(0.05)
                assert gc.collect() < 30       # less than one cyclic object per connection
            finally:
                gc.enable()
    run(go())
