"""Serializing response heads: status line, headers, and the headers every response carries.

Header values are encoded as Latin-1 (the request side decodes them the same way), so bytes a
client sent in, e.g., user metadata come back exactly as they arrived; characters outside Latin-1
fall back to UTF-8.
"""

from __future__ import annotations

import os
import time
from email.utils import formatdate
from http import HTTPStatus
from itertools import count

SERVER_NAME = "RustFS"

_REASONS: dict[int, bytes] = {s.value: s.phrase.encode() for s in HTTPStatus}

# Headers the server computes itself; an application's own copies are dropped (never sent twice).
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})

# Statuses that never carry a body (RFC 9110 6.4.1).
NO_BODY_STATUSES = frozenset({204, 304})


def status_line(status: int) -> bytes:
    return b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Unknown"))


def _encode(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _clean(value: str) -> str:
    # A CR or LF in a header value would split the response (header injection).
    if "\r" in value or "\n" in value:
        return value.replace("\r", " ").replace("\n", " ")
    return value


def encode_headers(headers: list[tuple[str, str]]) -> bytes:
    return b"".join(b"%s: %s\r\n" % (_encode(_clean(name)), _encode(_clean(value)))
                    for name, value in headers)


class DateHeader:
    """``Date`` rendered at most once per second (formatdate is slow enough to matter at 30k req/s)."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = b"Date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
        return self._value


class RequestIds:
    """S3-style request ids: 16 upper-case hex digits, unique per process (random prefix + counter)."""

    __slots__ = ("_prefix", "_counter")

    def __init__(self) -> None:
        self._prefix = os.urandom(4).hex().upper()
        self._counter = count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFF:08X}"
