"""The request body as the server hands it to the application: a :class:`RawBody` with backpressure.

The connection pushes bytes in (``feed``) as they arrive; the application pulls them out (``read``).
When more than ``high_water`` bytes wait unread, the connection stops reading from the socket
(``pause_reading``), and reading resumes once the application has drained the buffer below
``low_water``, so a slow consumer never makes the server hold a whole object in memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from storage_engine.errors import IncompleteBody, S3Error


class FlowControl(Protocol):
    """What a body needs from its connection."""

    def pause_body(self) -> None: ...
    def resume_body(self) -> None: ...
    def send_continue(self) -> None: ...


class RequestBody:
    """One request's body; implements ``http.types.RawBody``."""

    __slots__ = ("_flow", "_length", "_chunks", "_head_offset", "_buffered", "_received",
                 "_complete", "_error", "_waiter", "_expect_continue", "_paused", "_discarding",
                 "_high_water", "_low_water")

    def __init__(self, flow: FlowControl, length: int | None, *, expect_continue: bool = False,
                 high_water: int = 2 << 20, low_water: int = 512 << 10) -> None:
        self._flow = flow
        self._length = length
        self._chunks: deque[bytes] = deque()
        self._head_offset = 0            # bytes of _chunks[0] already handed out
        self._buffered = 0               # bytes fed but not yet read
        self._received = 0               # bytes fed in total
        self._complete = length == 0     # the whole body has arrived
        self._error: S3Error | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._expect_continue = expect_continue      # the client waits for 100 Continue before sending
        self._paused = False
        self._discarding = False         # the application is done; drop what still arrives
        self._high_water = high_water
        self._low_water = low_water

    # --- the connection's side -------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self._received += len(data)
        self._expect_continue = False    # the client sends without waiting: no 100 needed any more
        if self._discarding:
            return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > self._high_water and not self._paused:
            self._paused = True
            self._flow.pause_body()
        self._wake()

    def finish(self) -> None:
        """The whole body has arrived."""
        self._complete = True
        self._wake()

    def fail(self, error: S3Error) -> None:
        """The body cannot complete (connection lost, timeout, malformed framing)."""
        if not self._complete and self._error is None:
            self._error = error
        self._wake()

    def discard(self) -> None:
        """The application has finished with the request: free the buffer, drop later bytes."""
        self._discarding = True
        self._chunks.clear()
        self._buffered = 0
        if self._paused:
            self._paused = False
            self._flow.resume_body()

    @property
    def complete(self) -> bool:
        return self._complete

    @property
    def received(self) -> int:
        return self._received

    @property
    def buffered(self) -> int:
        """Bytes received and not yet read by the application (bounded by backpressure)."""
        return self._buffered

    @property
    def waiting(self) -> bool:
        """The application is blocked in ``read`` waiting for the client (for the read timeout)."""
        return self._waiter is not None

    def continue_if_empty(self) -> None:
        """Answer a client that waits for ``100 Continue`` before an empty body: nothing to hold back.

        Without it the final response comes where the client expects the 100, and the AWS CLI's
        botocore then keeps that response's status line for the next request on the connection: the
        next response's head is read as a header block, and the client stalls until the connection
        closes (issue 7, "the HTTP layer under load").
        """
        if self._expect_continue and self._length == 0:
            self._expect_continue = False
            self._flow.send_continue()

    @property
    def continue_pending(self) -> bool:
        """The client waits for ``100 Continue`` that was never sent, so it may not send the body."""
        return self._expect_continue

    # --- the application's side ------------------------------------------------------------------
    @property
    def length(self) -> int | None:
        return self._length

    async def read(self, n: int) -> bytes:
        if n <= 0:
            return b""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._complete:
                return b""
            if self._expect_continue:
                self._expect_continue = False
                self._flow.send_continue()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._chunks[0]
        offset = self._head_offset
        available = len(chunk) - offset
        if available <= n:
            self._chunks.popleft()
            self._head_offset = 0
            data = chunk if offset == 0 else chunk[offset:]
        else:
            # Hand out a slice and remember the position: never re-copy the remainder.
            data = chunk[offset:offset + n]
            self._head_offset = offset + n
        self._buffered -= len(data)
        if self._paused and self._buffered <= self._low_water:
            self._paused = False
            self._flow.resume_body()
        return data

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def incomplete_body() -> S3Error:
    return IncompleteBody("The connection closed before the whole request body arrived.")
