"""Shared helpers of the protocol tests: in-memory raw bodies and botocore -> Request conversion."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr

from storage_engine.auth import CredentialStore, Credentials
from storage_engine.config import EngineSettings
from storage_engine.http.types import Headers, Request

ACCESS_KEY = "AKIDPROTOCOLTEST"
SECRET_KEY = "protocol/test+secret0123456789abcdefghij"
REGION = "us-east-1"
HOST = "127.0.0.1:9000"

T = TypeVar("T")


class BytesBody:
    """A RawBody over bytes, handed out in pieces of ``piece`` bytes (to exercise boundaries)."""

    def __init__(self, data: bytes, *, length: int | None | bool = True, piece: int = 1 << 20) -> None:
        self._data = data
        self._pos = 0
        self._piece = piece
        self._length = len(data) if length is True else (None if length is False else length)
        self.reads = 0

    @property
    def length(self) -> int | None:
        return self._length

    async def read(self, n: int) -> bytes:
        self.reads += 1
        take = min(n, self._piece, len(self._data) - self._pos)
        chunk = self._data[self._pos:self._pos + take]
        self._pos += take
        return chunk


def settings(**overrides: Any) -> EngineSettings:
    values: dict[str, Any] = {"access_key": ACCESS_KEY, "secret_key": SecretStr(SECRET_KEY), "region": REGION}
    values.update(overrides)
    return EngineSettings(**values)


def store() -> CredentialStore:
    return CredentialStore(Credentials(ACCESS_KEY, SECRET_KEY, is_root=True))


def make_request(method: str, url: str, headers: Mapping[str, str] | Iterable[tuple[str, str]],
                 body: bytes = b"", *, piece: int = 1 << 20, chunked: bool = False) -> Request:
    parts = urlsplit(url)
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    if not any(name.lower() == "host" for name, _ in items):
        items.insert(0, ("host", parts.netloc))
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query.setdefault(name, value)
    raw = BytesBody(body, length=not chunked, piece=piece)
    return Request(method=method, raw_path=parts.path or "/", query_string=parts.query,
                   headers=Headers(items), body=raw, query=query)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def read_all(body: Any, n: int = 1 << 20) -> bytes:
    out = bytearray()
    while True:
        chunk = await body.read(n)
        if not chunk:
            return bytes(out)
        out += chunk
