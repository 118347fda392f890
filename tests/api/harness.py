"""Drive ``S3App`` in-process: requests built by hand, authentication stubbed, storage faked.

The real SigV4 verifier and the real HTTP server are exercised by the integration tests; here the
point is the API's own semantics, quickly and deterministically.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from pydantic import SecretStr

from storage_engine.config import EngineSettings
from storage_engine.http.types import Headers, Request, Response
from storage_engine.iam.principal import Principal

ACCESS_KEY = "root-access"
SECRET_KEY = "root-secret-0123456789"
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class BytesRawBody:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    async def read(self, n: int) -> bytes:
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return chunk

    @property
    def length(self) -> int | None:
        return len(self._data)


class BytesPutBody:
    def __init__(self, data: bytes, checksums: dict[str, str] | None = None) -> None:
        self._raw = BytesRawBody(data)
        self._checksums = checksums or {}

    async def read(self, n: int) -> bytes:
        return await self._raw.read(n)

    def checksums(self) -> dict[str, str]:
        return dict(self._checksums)


@dataclass
class FakeVerified:
    request: Request
    access_key: str
    body: BytesPutBody
    is_root: bool = True
    region: str = "us-east-1"    # the region the server answers with (VerifiedRequest.region)
    service: str = "s3"          # the SigV4 scope's service (VerifiedRequest.service)

    @property
    def principal(self) -> Principal:
        return Principal("root", self.access_key, "root")


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: bytes

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)

    def find(self, path: str) -> str | None:
        """Text at an XPath-ish ``A/B`` path under the root, with or without the S3 namespace."""
        root = self.xml()
        node = root.find("/".join(NS + p for p in path.split("/")))
        if node is None:
            node = root.find(path)
        return None if node is None else (node.text or "")

    def findall(self, path: str) -> list[ET.Element]:
        root = self.xml()
        return root.findall("/".join(NS + p for p in path.split("/"))) or root.findall(path)

    @property
    def code(self) -> str | None:
        return self.find("Code") if self.body else None


def settings(**overrides: Any) -> EngineSettings:
    values: dict[str, Any] = {"access_key": ACCESS_KEY, "secret_key": SecretStr(SECRET_KEY), "volumes": "/tmp/x"}
    values.update(overrides)
    return EngineSettings(**values)


async def _collect(body: bytes | AsyncIterator[bytes]) -> bytes:
    if isinstance(body, bytes):
        return body
    return b"".join([chunk async for chunk in body])


class Client:
    """Calls the app like the HTTP server would, and collects the response."""

    def __init__(self, app: Any, host: str = "127.0.0.1:9000") -> None:
        self.app = app
        self.host = host

    def __call__(self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None,
                 host: str | None = None) -> Result:
        return asyncio.run(self.request(method, target, body, headers, host))

    async def request(self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None,
                      host: str | None = None) -> Result:
        path, _, query_string = target.partition("?")
        path = quote(path, safe="/%+")
        query: dict[str, str] = {}
        for name, value in parse_qsl(query_string, keep_blank_values=True):
            query.setdefault(name, value)
        items = [("host", host or self.host)] + list((headers or {}).items())
        request = Request(method=method, raw_path=path, query_string=query_string, headers=Headers(items),
                          body=BytesRawBody(body), query=query)
        response: Response = await self.app(request)
        data = await _collect(response.body)
        if response.on_close is not None:
            await response.on_close()
        out = {name.lower(): value for name, value in response.headers}
        if response.content_length is not None:
            out["content-length"] = str(response.content_length)
        if method == "HEAD":
            data = b""
        return Result(response.status, out, data)


def install_fake_auth(monkeypatch: Any) -> None:
    """Replace SigV4 verification: every request is the root user's, its body passed through."""
    import storage_engine.api.app as app_module

    async def fake_verify(request: Request, credentials: Any, settings: Any) -> FakeVerified:
        del credentials, settings
        raw = request.body
        data = b""
        while chunk := await raw.read(1 << 20):
            data += chunk
        checksums = {name[len("x-amz-checksum-"):].upper(): value for name, value in request.headers.items()
                     if name.startswith("x-amz-checksum-") and name not in ("x-amz-checksum-mode",
                                                                             "x-amz-checksum-algorithm",
                                                                             "x-amz-checksum-type")}
        return FakeVerified(request, ACCESS_KEY, BytesPutBody(data, checksums))

    monkeypatch.setattr(app_module, "verify_request", fake_verify)
