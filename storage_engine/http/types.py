"""What the HTTP server hands the application, and what it takes back.

The server (``http/server.py``) parses requests and calls ``app(request) -> Response``. The app
(``api/app.py``) routes, authenticates (``auth.verify_request``), authorizes and runs a handler;
it never raises: every error is already rendered as an S3 XML response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol


class Headers:
    """Case-insensitive, multi-valued request headers (names are stored lower-case)."""

    __slots__ = ("_items", "_map")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        self._map: dict[str, list[str]] = {}
        for name, value in items:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        name = name.lower()
        self._items.append((name, value))
        self._map.setdefault(name, []).append(value)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._map.get(name.lower())
        return values[0] if values else default

    def getall(self, name: str) -> list[str]:
        return list(self._map.get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._map

    def items(self) -> list[tuple[str, str]]:
        """All (lower-case name, value) pairs in arrival order."""
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class RawBody(Protocol):
    """The request body exactly as sent (no aws-chunked decoding), with backpressure.

    The first read sends ``100 Continue`` when the client asked for it, so a request rejected
    before its body is read never makes the client send the body.
    """

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (at least 1 unless at the end); ``b""`` at the end of the body.
        Raises IncompleteBody if the connection ends early."""
        ...

    @property
    def length(self) -> int | None:
        """Content-Length, or None for a chunked transfer encoding."""
        ...


@dataclass(slots=True)
class Request:
    method: str                      # upper case
    raw_path: str                    # request-target path as sent, still percent-encoded
    query_string: str                # raw query, without "?"
    headers: Headers
    body: RawBody
    client: str = ""                 # "ip:port" of the peer
    query: dict[str, str] = field(default_factory=dict)   # decoded; first value per name
    secure: bool = False             # arrived over TLS (SSE-C keys travel only so)


@dataclass(slots=True)
class Response:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    # bytes, or an async iterator of chunks with ``content_length`` set (streamed, never buffered).
    body: bytes | AsyncIterator[bytes | memoryview] = b""
    content_length: int | None = None
    # Called once the response is fully sent or the connection dropped (e.g. to close an ObjectReader).
    on_close: Callable[[], Awaitable[None]] | None = None
    # The "request finished" hook (metrics, audit): called once the exchange is over (fully sent, or the
    # connection dropped) with (this response, request body bytes received, response body bytes sent (0 when
    # the connection dropped), seconds to the response head, seconds to the end), timed from the app's call.
    # It is given the response so it need not hold it: a hook that did would make a reference cycle per
    # request, left to the garbage collector. It runs on the event loop: it must not block or raise.
    on_finished: Callable[[Response, int, int, float, float], None] | None = None


App = Callable[[Request], Awaitable[Response]]
