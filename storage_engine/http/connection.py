"""One HTTP/1.1 connection: an ``asyncio.Protocol`` that parses with httptools and runs the app.

Life of a request on a connection:

    bytes --httptools--> head complete --> Request + RequestBody --> app task (one at a time)
                                 '-- body bytes --> RequestBody.feed (backpressure: pause_reading)
    app returns Response --> head + body written (flow control: pause_writing) --> on_close()
                         --> keep-alive: next pipelined request, or idle until the keep-alive timeout

``Expect: 100-continue``: the body's first read sends ``100 Continue``, so a request answered
unread never makes the client send its body (its connection then closes after the response). An
empty body gets its 100 as soon as its request is served: a client waiting for a 100 must never read
a final response instead on a connection that stays open (botocore then misreads the next response).

Content-Length bodies bypass the parser once their head is parsed ("raw mode"): the bytes go to the
body as they came off the socket, without a per-chunk copy and callback.

Requests are decoded as ``Request`` fields: the path as UTF-8 (else 400 InvalidURI), header names
lower-cased, header values as Latin-1 (bytes kept 1:1; SigV4 re-encodes them the same way).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, cast
from urllib.parse import parse_qsl

import httptools

from storage_engine.errors import (
    InternalError, InvalidRequest, InvalidURI, MaxMessageLengthExceeded, RequestTimeout, S3Error,
)

from .body import RequestBody, incomplete_body
from .error_xml import error_response
from .responder import render_head, send_response
from .types import Headers, Request, Response

if TYPE_CHECKING:
    from .server import HttpServer

log = logging.getLogger("storage_engine.http")


class _Rejected(Exception):
    """Raised inside parser callbacks to stop parsing a request that breaks a limit."""

    def __init__(self, error: S3Error) -> None:
        super().__init__(error.message)
        self.error = error


class _Pending:
    """A parsed request head waiting for its turn (pipelining) or being served."""

    __slots__ = ("request", "body", "keep_alive", "http10")

    def __init__(self, request: Request, body: RequestBody, keep_alive: bool, http10: bool) -> None:
        self.request = request
        self.body = body
        self.keep_alive = keep_alive
        self.http10 = http10


# What a closed connection's parser becomes: a parser holds its protocol's callbacks, so each connection
# and its own parser would form a cycle that only the garbage collector frees (one per connection).
_DETACHED_PARSER = httptools.HttpRequestParser(object())


class HttpConnection(asyncio.Protocol):
    __slots__ = (
        "_server", "_limits", "_loop", "_transport", "_parser", "_client", "_secure",
        # the head being parsed
        "_url", "_header_items", "_head_bytes", "_content_length", "_chunked", "_expect",
        "_in_head", "_head_started",
        # bodies and requests
        "_body_in", "_raw_remaining", "_pending", "_task", "_current", "_bad_request",
        # flow control and timeouts
        "_reading_paused_by_body", "_write_paused", "_write_waiter", "_write_paused_at",
        "_last_activity", "_timer", "_closing", "_lingering", "_ignore_input", "_eof",
    )

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._limits = server.limits
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._client = ""
        self._secure = False
        self._reset_head()
        self._in_head = False
        self._head_started = 0.0
        self._url = b""
        self._body_in: RequestBody | None = None   # the body the parser is currently filling
        self._raw_remaining = 0                     # raw-mode bytes still due for _body_in
        self._pending: deque[_Pending] = deque()    # parsed heads not yet served (pipelining)
        self._task: asyncio.Task[None] | None = None
        self._current: _Pending | None = None
        self._bad_request: S3Error | None = None    # answer this once the in-flight request is done
        self._reading_paused_by_body = False
        self._write_paused = False
        self._write_waiter: asyncio.Future[None] | None = None
        self._write_paused_at = 0.0
        self._last_activity = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False                       # no further requests on this connection
        self._lingering = False                     # response sent, swallowing input before close
        self._ignore_input = False
        self._eof = False                           # the client half-closed its side

    def _reset_head(self) -> None:
        self._url = b""
        self._header_items: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._content_length: int | None = None
        self._chunked = False
        self._expect = False

    # --- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        limits = self._limits
        transport.set_write_buffer_limits(high=limits.write_high_water, low=limits.write_low_water)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = f"{peer[0]}:{peer[1]}"
        self._secure = transport.get_extra_info("sslcontext") is not None
        self._server.connections.add(self)
        self._timer = self._loop.call_later(self._limits.tick, self._on_tick)
        if self._server.closing:
            self._closing = True
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        error = incomplete_body()
        for body in self._open_bodies():
            body.fail(error)
        self._pending.clear()
        self._wake_writer()
        self._server.connection_done(self)
        self._parser = _DETACHED_PARSER    # its callbacks are our methods: a cycle the collector would free

    def data_received(self, data: bytes) -> None:
        self._last_activity = self._loop.time()
        if self._lingering or self._ignore_input:
            return
        if self._raw_remaining:
            body = self._body_in
            assert body is not None
            size = len(data)
            if size <= self._raw_remaining:
                self._raw_remaining -= size
                body.feed(data)
                if self._raw_remaining:
                    return
                data = b""
            else:
                body.feed(data[:self._raw_remaining])
                data = data[self._raw_remaining:]
                self._raw_remaining = 0
            # The raw body is complete; the old parser stopped mid-body, so start a fresh one.
            self._parser = httptools.HttpRequestParser(self)
            self.on_message_complete()
            if not data:
                return
        self._feed(data)

    def eof_received(self) -> bool | None:
        self._eof = True
        if self._body_in is not None:
            self._body_in.fail(incomplete_body())
        # A half-closed client may still read our response: keep the transport open until it's sent.
        return True if self._task is not None else None

    def pause_writing(self) -> None:
        self._write_paused = True
        self._write_paused_at = self._loop.time()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer()

    # --- parsing ---------------------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Upgrades (h2c, websockets) are not offered: serve the request, then close.
            self._ignore_input = True
            for pending in self._pending:
                pending.keep_alive = False
            if self._current is not None:
                self._current.keep_alive = False
            if self._body_in is not None:      # the parser skipped its body: it will never arrive
                self._body_in.fail(incomplete_body())
                self._body_in = None
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, _Rejected):
                self._reject(cause.error)
            else:
                self._reject(InvalidRequest("The HTTP request is malformed."))
            return
        body = self._body_in
        if body is not None and body.length is not None and not self._chunked:
            self._raw_remaining = body.length - body.received

    def _reject(self, error: S3Error) -> None:
        """Malformed or over-limit input: answer 400 (after any in-flight request) and close."""
        self._ignore_input = True
        self._in_head = False
        if self._body_in is not None:
            self._body_in.fail(InvalidRequest("The request body framing is malformed."))
            self._body_in = None
        if self._task is None and not self._pending:
            self._write_error_and_close(error)
        else:
            self._bad_request = error

    def on_message_begin(self) -> None:
        self._reset_head()
        self._in_head = True
        self._head_started = self._loop.time()

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if len(self._url) > self._limits.max_url_bytes:
            raise _Rejected(InvalidURI("The request URL is too long."))

    def on_header(self, name: bytes, value: bytes) -> None:
        limits = self._limits
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > limits.max_header_bytes:
            raise _Rejected(MaxMessageLengthExceeded("The request headers are too large."))
        if len(self._header_items) >= limits.max_headers:
            raise _Rejected(MaxMessageLengthExceeded("The request has too many headers."))
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key == "content-length":
            try:
                self._content_length = int(value)  # llhttp has validated the digits already
            except ValueError:
                raise _Rejected(InvalidRequest("The Content-Length header is not valid.")) from None
        elif key == "transfer-encoding":
            self._chunked = self._chunked or "chunked" in text.lower()
        elif key == "expect":
            self._expect = text.strip().lower() == "100-continue"
        self._header_items.append((key, text))

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = self._parser
        method = parser.get_method().decode("ascii", "replace").upper()
        http10 = parser.get_http_version() == "1.0"
        raw_path, query_string = self._split_url(self._url)
        length = None if self._chunked else (self._content_length or 0)
        body = RequestBody(self, length, expect_continue=self._expect and not http10,
                           high_water=self._limits.body_high_water, low_water=self._limits.body_low_water)
        query = dict(parse_qsl(query_string, keep_blank_values=True)) if query_string else {}
        # parse_qsl keeps the last value per name; S3 semantics want the first.
        if query and query_string.count("&") + 1 != len(query):
            query = {}
            for name, value in parse_qsl(query_string, keep_blank_values=True):
                query.setdefault(name, value)
        request = Request(method=method, raw_path=raw_path, query_string=query_string,
                          headers=Headers(self._header_items), body=body, client=self._client, query=query,
                          secure=self._secure)
        self._body_in = body if not body.complete else None
        self._pending.append(_Pending(request, body, parser.should_keep_alive(), http10))
        self._header_items = []
        if self._task is None:
            self._start_next()

    def _split_url(self, url: bytes) -> tuple[str, str]:
        if not url.startswith(b"/"):
            if url.startswith((b"http://", b"https://")):   # absolute-form (proxies)
                parsed = httptools.parse_url(url)
                url = (parsed.path or b"/") + (b"?" + parsed.query if parsed.query else b"")
            else:
                raise _Rejected(InvalidURI("The request target must be an absolute path."))
        path, _, query = url.partition(b"?")
        try:
            return path.decode("utf-8"), query.decode("utf-8")
        except UnicodeDecodeError:
            raise _Rejected(InvalidURI("The request URL is not valid UTF-8.")) from None

    def on_body(self, data: bytes) -> None:
        if self._body_in is not None:
            self._body_in.feed(data)

    def on_message_complete(self) -> None:
        if self._body_in is not None:
            self._body_in.finish()
            self._body_in = None

    # --- serving ---------------------------------------------------------------------------------
    def _start_next(self) -> None:
        if self._closing or not self._pending:
            return
        pending = self._pending.popleft()
        self._current = pending
        self._task = self._loop.create_task(self._serve(pending))
        self._server.tasks.add(self._task)

    async def _serve(self, pending: _Pending) -> None:
        request = pending.request
        request_id = self._server.request_ids.next()
        response: Response | None = None
        pending.body.continue_if_empty()
        # perf_counter, not loop.time(): uvloop's clock ticks in milliseconds, and most requests take less.
        started = head_at = time.perf_counter()
        sent = 0
        try:
            try:
                response = await self._server.app(request)
            except S3Error as exc:           # apps render their own errors; tolerate one that doesn't
                response = error_response(exc, request.raw_path, request_id)
            except Exception:
                log.exception("unhandled error serving %s %s", request.method, request.raw_path)
                response = error_response(InternalError(), request.raw_path, request_id)
            pending.keep_alive = self._decide_keep_alive(pending)
            transport = self._transport
            head_at = time.perf_counter()
            if transport is not None and not transport.is_closing():
                sent = await send_response(self, request, response, request_id, pending.keep_alive,
                                           pending.http10)
        except asyncio.CancelledError:
            self._abort()
            raise
        except ConnectionError:
            self._abort()
        except Exception:
            log.exception("error sending the response to %s %s", request.method, request.raw_path)
            self._abort()
        finally:
            if response is not None and response.on_close is not None:
                await self._call_on_close(response)
            if response is not None and response.on_finished is not None:
                self._call_on_finished(response, pending.body.received, sent, started, head_at)
            task = self._task
            if task is not None:
                self._server.tasks.discard(task)
            self._task = None
            self._current = None
        self._after_response(pending)

    def _call_on_finished(self, response: Response, received: int, sent: int, started: float,
                          head_at: float) -> None:
        assert response.on_finished is not None
        try:
            response.on_finished(response, received, sent, head_at - started, time.perf_counter() - started)
        except Exception:
            log.exception("error in response on_finished")

    async def _call_on_close(self, response: Response) -> None:
        assert response.on_close is not None
        try:
            await response.on_close()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("error in response on_close")

    def _decide_keep_alive(self, pending: _Pending) -> bool:
        """Whether the connection can carry another request after this response."""
        if not pending.keep_alive or self._closing or self._server.closing or self._eof:
            return False
        if self._ignore_input and self._bad_request is None:    # an upgrade request: serve it, then close
            return False
        body = pending.body
        if body.complete:
            return True
        if body.continue_pending:
            return False      # the client holds its body back; it cannot be drained reliably
        # A short unread rest is swallowed as it arrives; a long one costs less to cut off.
        return body.length is not None and body.length - body.received <= self._limits.drain_limit

    def _after_response(self, pending: _Pending) -> None:
        self._last_activity = self._loop.time()
        transport = self._transport
        if transport is None:
            return
        body = pending.body
        if not body.complete:
            body.discard()              # keep-alive: the short rest is swallowed as it arrives
        if not pending.keep_alive or self._closing or self._eof:
            if body.complete:
                transport.close()
            else:
                self._linger_close()
            return
        if self._pending:
            self._start_next()
        elif self._bad_request is not None:
            # Garbage followed the requests served so far: answer it last, then close.
            error, self._bad_request = self._bad_request, None
            self._write_error_and_close(error)

    def _linger_close(self) -> None:
        """Close after a response while the client may still be sending a body it no longer needs.

        Closing with unread input makes the kernel reset the connection, and the client may lose our
        response; so half-close, swallow input for a moment, then close.
        """
        transport = self._transport
        assert transport is not None
        self._lingering = True
        self._closing = True
        if self._reading_paused_by_body:
            self._reading_paused_by_body = False
            transport.resume_reading()
        try:
            if transport.can_write_eof():
                transport.write_eof()
        except (OSError, RuntimeError):
            pass
        self._loop.call_later(self._limits.linger_seconds, transport.close)

    def _write_error_and_close(self, error: S3Error) -> None:
        transport = self._transport
        if transport is None:
            return
        self._closing = True
        request_id = self._server.request_ids.next()
        response = error_response(error, "", request_id)
        assert isinstance(response.body, bytes)
        head = render_head(response, request_id, keep_alive=False, http10=False,
                           length=len(response.body), chunked=False)
        transport.write(head + response.body)
        self._linger_close()

    # --- flow control used by RequestBody and the responder --------------------------------------
    def pause_body(self) -> None:
        if self._transport is not None and not self._reading_paused_by_body:
            self._reading_paused_by_body = True
            self._transport.pause_reading()

    def resume_body(self) -> None:
        if self._transport is not None and self._reading_paused_by_body:
            self._reading_paused_by_body = False
            self._last_activity = self._loop.time()
            self._transport.resume_reading()

    def send_continue(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._transport

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its low-water mark."""
        while self._write_paused:
            if self._transport is None:
                raise ConnectionResetError("connection lost")
            self._write_waiter = self._loop.create_future()
            try:
                await self._write_waiter
            finally:
                self._write_waiter = None
        if self._transport is None:
            raise ConnectionResetError("connection lost")

    def _wake_writer(self) -> None:
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- timeouts and shutdown -------------------------------------------------------------------
    def _on_tick(self) -> None:
        self._timer = None
        transport = self._transport
        if transport is None:
            return
        limits = self._limits
        now = self._loop.time()
        idle = now - self._last_activity
        if self._task is None and not self._pending:
            # A head must complete within header_timeout of its first byte, however slowly it
            # trickles in (slowloris); an idle keep-alive connection lasts keepalive_timeout.
            expired = (now - self._head_started > limits.header_timeout) if self._in_head \
                else idle > limits.keepalive_timeout
            if expired and not self._lingering:
                transport.close()
                return
        else:
            current = self._current
            if current is not None and current.body.waiting and idle > limits.body_timeout:
                current.body.fail(RequestTimeout())
            if self._write_paused and now - self._write_paused_at > limits.write_timeout:
                self._abort()
                return
        self._timer = self._loop.call_later(limits.tick, self._on_tick)

    def shutdown(self) -> None:
        """Server shutdown: close if idle, else finish the in-flight request and then close."""
        self._closing = True
        self._pending.clear()
        if self._task is None and self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Shutdown timeout: drop the connection and cancel the app."""
        self._abort()
        if self._task is not None:
            self._task.cancel()

    def _abort(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    def _open_bodies(self) -> list[RequestBody]:
        bodies = [p.body for p in self._pending]
        if self._current is not None:
            bodies.append(self._current.body)
        if self._body_in is not None:
            bodies.append(self._body_in)
        return bodies
