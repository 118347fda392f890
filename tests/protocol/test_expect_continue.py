"""``Expect: 100-continue`` at byte level: the AWS CLI's own client, and response streams under load.

The stall noted when the engine core landed (``aws s3 sync`` waiting 60 s on an UploadPart, urllib3
logging ``MissingHeaderBodySeparatorDefect, unparsed data: 'HTTP/1.1 200 OK ...'``) came from an
empty file: its PUT carries ``Expect: 100-continue`` and ``Content-Length: 0``, the server answered
200 without a 100, and the AWS CLI's botocore kept that status line for the connection's next request.
"""

from __future__ import annotations

import asyncio
import random
import sys
from dataclasses import dataclass, field

from storage_engine.http.types import Request, Response

from .http_client import connect, running
from .test_http_server import run

# The AWS CLI's HTTP connection, as `aws s3 sync` uses it: an empty PUT, then a part on the same
# connection. Run in its own process: importing awscli re-points `botocore` at the CLI's own copy.
AWSCLI_CLIENT = r"""
import sys
import awscli  # noqa: F401  (makes `botocore` the CLI's own copy)
from botocore.awsrequest import AWSHTTPConnection

conn = AWSHTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
for path, body in (("/empty", b""), ("/part", b"x" * 1000), ("/empty", b""), ("/part", b"y" * 10)):
    conn.request("PUT", path, body=body, headers={"Expect": b"100-continue"})
    response = conn.getresponse()           # urllib3's: a misread head leaves its headers empty
    assert response.status == 200 and response.headers.get("x-seen") == f"{path} {len(body)}", response.headers
    assert response.read() == b""
print("ok")
"""


async def count_app(request: Request) -> Response:
    size = 0
    while chunk := await request.body.read(1 << 20):
        size += len(chunk)
    return Response(200, [("x-seen", f"{request.raw_path} {size}")], b"")


def test_awscli_reuses_a_connection_after_an_empty_put() -> None:
    async def go() -> None:
        async with running(count_app) as (_, port):
            proc = await asyncio.create_subprocess_exec(sys.executable, "-c", AWSCLI_CLIENT, str(port),
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.STDOUT)
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0 and out.strip() == b"ok", out.decode()
    run(go())


def test_empty_body_gets_its_100_before_the_final_response() -> None:
    async def go() -> None:
        async with running(count_app) as (_, port):
            reader, writer = await connect(port)
            for _ in range(2):              # and the connection stays open for the next one
                writer.write(b"PUT /e HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n")
                assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10) == b"HTTP/1.1 100 Continue\r\n\r\n"
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"x-seen: /e 0\r\n" in head
                assert b"Connection: close" not in head
            writer.close()
    run(go())


# --- response streams under load ------------------------------------------------------------------

@dataclass
class Sent:
    """One request as the client sent it, and what it expects back."""

    path: str
    size: int
    expect: bool
    sent_body: bool = False


@dataclass
class Stream:
    """Every byte one connection received, and the requests it carried."""

    data: bytearray = field(default_factory=bytearray)
    requests: list[Sent] = field(default_factory=list)


async def load_app(request: Request) -> Response:
    """Answers in the ways that matter to 100-continue: unread, partly read, read after a pause, read."""
    mode = request.raw_path.split("/")[1]
    if mode == "reject":
        return Response(403, [], b"<Error/>")
    if mode == "slow":
        await asyncio.sleep(0.02)
    size = 0
    while chunk := await request.body.read(256 << 10):
        size += len(chunk)
        if mode == "partial":
            break
    return Response(200, [("x-seen", f"{request.raw_path} {size}")], b"")


async def client(port: int, rng: random.Random, stream: Stream) -> None:
    """A keep-alive connection acting like botocore: head, a short wait for 100, then the body."""
    reader, writer = await connect(port)
    try:
        for _ in range(rng.randint(3, 6)):
            mode = rng.choice(["read", "read", "slow", "reject", "partial"])
            size = rng.choice([0, 0, 1, 4096, 300 << 10, 5 << 20])
            sent = Sent(f"/{mode}/{len(stream.requests)}", size, expect=rng.random() < 0.8)
            stream.requests.append(sent)
            head = f"PUT {sent.path} HTTP/1.1\r\nHost: h\r\nContent-Length: {size}\r\n"
            if sent.expect:
                head += "Expect: 100-continue\r\n"
                writer.write(head.encode() + b"\r\n")
                # Wait a little for the server's first bytes (botocore waits 1 s), then send anyway.
                try:
                    first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), rng.choice([0.001, 0.05, 2]))
                except asyncio.TimeoutError:
                    first = b""
                stream.data += first
                if first and not first.startswith(b"HTTP/1.1 100 "):
                    return                      # a final response instead of the 100: no body
            else:
                writer.write(head.encode() + b"\r\n")
            sent.sent_body = True
            writer.write(b"b" * size)
            await writer.drain()
            if not await read_final(reader, stream):
                return
    finally:
        if writer.can_write_eof() and not writer.is_closing():
            writer.write_eof()                  # done: the server closes once it has answered
        stream.data += await asyncio.wait_for(reader.read(), 10)   # nothing may follow a response
        writer.close()


async def read_final(reader: asyncio.StreamReader, stream: Stream) -> bool:
    """Read up to and including a final response head; whether the connection stays open."""
    while True:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
        stream.data += head
        if not head.startswith(b"HTTP/1.1 100 "):
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            stream.data += await asyncio.wait_for(reader.readexactly(length), 20)
            return b"Connection: close" not in head


def check_stream(stream: Stream) -> None:
    """The bytes of one connection, request by request: a 100 only for a request that expects one,
    at most one, never after its final response; a final response read where the client waited for
    its 100 only on a connection that then closes; nothing after the last response."""
    data = bytes(stream.data)
    position = 0
    for index, sent in enumerate(stream.requests):
        continues = 0
        while True:
            end = data.index(b"\r\n\r\n", position) + 4
            head = data[position:end]
            position = end
            if head == b"HTTP/1.1 100 Continue\r\n\r\n":
                continues += 1
                assert sent.expect and continues == 1, (index, sent, data)
                continue
            assert head.startswith(b"HTTP/1.1 "), (index, head)
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            position += length
            break
        closing = b"Connection: close" in head
        if sent.expect and continues == 0 and not sent.sent_body:
            assert closing, ("a final response where the client waited for 100, and the connection stayed open",
                             index, sent, head)
        if head.startswith(b"HTTP/1.1 200 "):
            assert f"x-seen: {sent.path} ".encode() in head, (index, sent, head)
        if closing:
            assert index == len(stream.requests) - 1, (index, sent, head)
    assert position == len(data), ("bytes after the last response", data[position:])


def test_response_streams_stay_well_formed_under_load() -> None:
    async def go() -> None:
        rng = random.Random(7)
        async with running(load_app) as (_, port):
            streams = [Stream() for _ in range(40)]
            seeds = [rng.random() for _ in streams]
            await asyncio.gather(*(client(port, random.Random(seed), stream) for seed, stream in zip(seeds, streams)))
        for stream in streams:
            check_stream(stream)
        assert sum(len(s.requests) for s in streams) > 100
    run(go())
