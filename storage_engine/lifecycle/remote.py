"""A cold tier: a bucket and prefix on an S3-compatible service (docs/tiering.md "Tiers").

``RemoteTier(spec)`` implements ``lifecycle.tiers.Tier`` over ``aiohttp`` with path-style
(``<endpoint>/<bucket>/<prefix><key>``) or virtual-hosted-style (``<bucket>.<endpoint host>/<prefix><key>``,
``spec.addressing``) requests signed by the engine's own SigV4 code (``auth/signer.py``):

    put      one streamed PUT (``UNSIGNED-PAYLOAD``, exact ``Content-Length``) up to ``multipart_threshold``,
             a multipart upload above it, each part streamed from the body as it comes (memory stays
             bounded by the body's chunks); any failure aborts the upload. A body shorter or longer than
             ``size`` is a TierError and nothing is left behind.
    get      one ranged GET, its chunks yielded as they arrive.
    delete   DELETE (``versionId`` when given); a missing key is fine.
    probe    put, read back and delete ``<prefix>.rustfs-probe/<uuid>``; the error names the failing step.

Credentials: explicit keys (tiers added through the admin API), else the spec's key files (read again
when a file changes: a rotated Secret), else ``web_identity`` (AssumeRoleWithWebIdentity with the
projected token, the temporary keys cached until 5 minutes before they expire).

Idempotent calls (GET, DELETE, the STS exchange, abort) are retried a bounded number of times on a 5xx or
a connection error; a streamed PUT body cannot be replayed and is not. Connect timeout 5 s, read 60 s.
Nothing secret is logged: no keys, tokens or signatures.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import logging
import os
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape

import aiohttp
import aiohttp.abc
from yarl import URL

from storage_engine.auth.signer import sign_request
from storage_engine.config import S3TierSpec

from .tiers import TierError

__all__ = ["RemoteTier", "MULTIPART_THRESHOLD", "PART_SIZE"]

log = logging.getLogger(__name__)

MIB = 1 << 20
MULTIPART_THRESHOLD = 64 * MIB         # larger objects go up as a multipart upload
PART_SIZE = 64 * MIB
MIN_PART_SIZE = 5 * MIB                # S3's minimum for every part but the last
MAX_PARTS = 10_000
READ_CHUNK = 1 * MIB
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
RETRIES = 2                            # extra attempts of an idempotent call (3 in all)
BACKOFF = 0.2                          # seconds before the first retry, doubled after each
STS_REFRESH_MARGIN = 300.0             # temporary keys are renewed this long before they expire
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
PROBE_PREFIX = ".rustfs-probe/"
_ERROR_BODY_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class _Keys:
    access_key: str
    secret_key: str
    session_token: str = ""
    expires: float = float("inf")      # epoch seconds (temporary keys only)


class _BodyMismatch(Exception):
    """The body handed to ``put`` did not hold exactly ``size`` bytes."""


class _Body:
    """Hands out a body's bytes part by part, each part exactly its length, never more than one chunk held."""

    __slots__ = ("_iter", "_left", "error")

    def __init__(self, body: AsyncIterator[bytes | memoryview]) -> None:
        self._iter = body.__aiter__()
        self._left: memoryview = memoryview(b"")
        self.error = ""

    async def _next(self) -> memoryview | None:
        while True:
            try:
                chunk = await self._iter.__anext__()
            except StopAsyncIteration:
                return None
            if len(chunk):
                return memoryview(chunk).cast("B")

    async def take(self, length: int, *, last: bool) -> AsyncIterator[memoryview]:
        """Exactly ``length`` bytes; with ``last``, also checks that the body ends there. A mismatch raises
        before the final bytes go out, so the tier never receives a whole (wrong) object or part."""
        remaining = length
        while remaining:
            if not self._left:
                chunk = await self._next()
                if chunk is None:
                    self.error = f"the body ended {remaining} bytes short of its size"
                    raise _BodyMismatch(self.error)
                self._left = chunk
            piece, self._left = self._left[:remaining], self._left[remaining:]
            remaining -= len(piece)
            if not remaining and last and (self._left or await self._next() is not None):
                self.error = "the body is longer than its size"
                raise _BodyMismatch(self.error)
            yield piece


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _find_text(root: ET.Element, name: str) -> str:
    for element in root.iter():
        if _local(element.tag) == name:
            return (element.text or "").strip()
    return ""


def _epoch(iso: str) -> float:
    when = datetime.datetime.fromisoformat(iso)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def _base_url(spec: S3TierSpec) -> str:
    """Everything before the (prefixed, quoted) key: path-style or virtual-hosted-style."""
    if spec.addressing == "path":
        return f"{spec.endpoint}/{spec.bucket}/"
    scheme, _, host = spec.endpoint.partition("://")
    return f"{scheme}://{spec.bucket}.{host}/"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text[:200]


class RemoteTier:
    """The ``Tier`` of one ``S3TierSpec``; one ``aiohttp`` session, made on first use, closed by ``close()``."""

    kind = "s3"

    def __init__(self, spec: S3TierSpec, *, access_key: str = "", secret_key: str = "",
                 multipart_threshold: int = MULTIPART_THRESHOLD, part_size: int = PART_SIZE,
                 connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT,
                 retries: int = RETRIES, backoff: float = BACKOFF,
                 resolver: aiohttp.abc.AbstractResolver | None = None) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        if bool(access_key) != bool(secret_key):
            raise ValueError("give both access_key and secret_key, or neither")
        self.name = spec.name
        self.spec = spec
        self._base = _base_url(spec)
        self._resolver = resolver
        self._static = _Keys(access_key, secret_key) if access_key else None
        self._multipart_threshold = multipart_threshold
        self._part_size = part_size
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_connect=connect_timeout,
                                              sock_read=read_timeout)
        self._retries = max(0, retries)
        self._backoff = backoff
        self._session: aiohttp.ClientSession | None = None
        self._file_keys: _Keys | None = None
        self._file_stamp: tuple[tuple[int, int, int], ...] = ()
        self._sts_keys: _Keys | None = None
        self._sts_lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"RemoteTier({self.name!r}, {self.spec.endpoint}/{self.spec.bucket}/{self.spec.prefix})"

    # --- the Tier interface --------------------------------------------------------------------------
    async def put(self, key: str, body: AsyncIterator[bytes | memoryview], size: int) -> str:
        if size < 0:
            raise ValueError("size must not be negative")
        if size > self._multipart_threshold:
            return await self._put_multipart(key, _Body(body), size)
        return await self._put_single(key, _Body(body), size)

    async def get(self, key: str, version: str, offset: int, length: int) -> AsyncIterator[bytes | memoryview]:
        if length <= 0:
            return
        query = f"versionId={quote(version, safe='')}" if version else ""
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
        response = await self._send("GET", key, query, headers=headers, idempotent=True)
        try:
            if response.status not in (200, 206):
                raise await self._error(response)
            if response.status == 200 and offset:
                raise TierError(f"{response.status}: the tier ignored the range (bytes {offset}-)")
            remaining = length
            try:
                async for chunk in response.content.iter_chunked(READ_CHUNK):
                    if len(chunk) > remaining:
                        chunk = chunk[:remaining]
                    remaining -= len(chunk)
                    yield chunk
                    if not remaining:
                        break
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise TierError(f"the read was cut {length - remaining} bytes in: {_describe(exc)}") from None
            if remaining:
                raise TierError(f"the tier's answer ended {remaining} of {length} bytes short")
        finally:
            response.release()

    async def delete(self, key: str, version: str) -> None:
        query = f"versionId={quote(version, safe='')}" if version else ""
        response = await self._send("DELETE", key, query, idempotent=True)
        try:
            if response.status not in (200, 204, 404):
                raise await self._error(response)
        finally:
            response.release()

    async def probe(self) -> None:
        key = f"{PROBE_PREFIX}{uuid.uuid4()}"
        data = os.urandom(1024)

        async def body() -> AsyncIterator[bytes]:
            yield data

        step = "put"
        try:
            await self.put(key, body(), len(data))
            step = "get"
            got = bytearray()
            async for piece in self.get(key, "", 0, len(data)):
                got += piece
            if bytes(got) != data:
                raise TierError("the bytes read back differ from those written")
            step = "delete"
            await self.delete(key, "")
        except TierError as exc:
            if step == "get":
                with contextlib.suppress(TierError):
                    await self.delete(key, "")
            raise TierError(f"{step}: {exc}") from None

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # --- uploads -------------------------------------------------------------------------------------
    def _class_header(self) -> dict[str, str]:
        cls = self.spec.storage_class
        return {} if cls == "STANDARD" else {"x-amz-storage-class": cls}

    async def _put_single(self, key: str, body: _Body, size: int) -> str:
        headers = {"Content-Length": str(size), **self._class_header()}
        try:
            response = await self._send("PUT", key, headers=headers, data=body.take(size, last=True),
                                        payload_hash=UNSIGNED)
        except TierError as exc:
            raise TierError(body.error or str(exc)) from None
        try:
            if body.error:                      # the tier answered before the body went wrong
                raise TierError(body.error)
            if response.status != 200:
                raise await self._error(response)
            await response.read()
            return response.headers.get("x-amz-version-id", "")
        finally:
            response.release()

    async def _put_multipart(self, key: str, body: _Body, size: int) -> str:
        part_size = max(self._part_size, -(-size // MAX_PARTS))
        response = await self._send("POST", key, "uploads=", headers=self._class_header())
        try:
            if response.status != 200:
                raise await self._error(response)
            upload_id = _find_text(self._parse(await response.read()), "UploadId")
        finally:
            response.release()
        if not upload_id:
            raise TierError("the tier answered no UploadId")
        upload_query = f"uploadId={quote(upload_id, safe='')}"
        try:
            etags: list[str] = []
            offset, number = 0, 1
            while offset < size:
                length = min(part_size, size - offset)
                last = offset + length == size
                etags.append(await self._put_part(key, upload_query, number, body, length, last))
                offset += length
                number += 1
            return await self._complete(key, upload_query, etags)
        except BaseException:
            await self._abort(key, upload_query)
            raise

    async def _put_part(self, key: str, upload_query: str, number: int, body: _Body, length: int,
                        last: bool) -> str:
        try:
            response = await self._send("PUT", key, f"partNumber={number}&{upload_query}",
                                        headers={"Content-Length": str(length)},
                                        data=body.take(length, last=last), payload_hash=UNSIGNED)
        except TierError as exc:
            raise TierError(body.error or f"part {number}: {exc}") from None
        try:
            if response.status != 200:
                raise TierError(f"part {number}: {await self._error(response)}")
            await response.read()
            if body.error:
                raise TierError(body.error)
            etag = response.headers.get("ETag", "")
            if not etag:
                raise TierError(f"part {number}: the tier answered no ETag")
            return etag
        finally:
            response.release()

    async def _complete(self, key: str, upload_query: str, etags: list[str]) -> str:
        parts = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{escape(etag)}</ETag></Part>"
                        for n, etag in enumerate(etags, start=1))
        document = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
        response = await self._send("POST", key, upload_query, headers={"Content-Type": "application/xml"},
                                    data=document, payload_hash=hashlib.sha256(document).hexdigest())
        try:
            data = await response.read()
            if response.status != 200:
                raise TierError(f"complete: {self._error_text(response.status, data)}")
            if _local(self._parse(data).tag) == "Error":      # S3 may fail a completion inside a 200
                raise TierError(f"complete: {self._error_text(response.status, data)}")
            return response.headers.get("x-amz-version-id", "")
        finally:
            response.release()

    async def _abort(self, key: str, upload_query: str) -> None:
        try:
            response = await self._send("DELETE", key, upload_query, idempotent=True)
            response.release()
        except TierError as exc:
            log.warning("tier %s: could not abort a failed multipart upload: %s", self.name, exc)

    # --- requests ------------------------------------------------------------------------------------
    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=self._resolver) if self._resolver is not None else None
            self._session = aiohttp.ClientSession(timeout=self._timeout, auto_decompress=False, connector=connector)
        return self._session

    def _url(self, key: str, query: str) -> str:
        path = quote(f"{self.spec.prefix}{key}", safe="/")
        return f"{self._base}{path}" + (f"?{query}" if query else "")

    async def _send(self, method: str, key: str, query: str = "", *, headers: dict[str, str] | None = None,
                    data: Any = None, payload_hash: str = EMPTY_SHA256,
                    idempotent: bool = False) -> aiohttp.ClientResponse:
        """One signed request (retried when ``idempotent``); the caller releases the response.
        Raises TierError when the tier cannot be reached; any HTTP status is returned."""
        url = self._url(key, query)
        attempts = 1 + (self._retries if idempotent else 0)
        delay = self._backoff
        for attempt in range(1, attempts + 1):
            keys = await self._keys()
            request_headers = {"Accept-Encoding": "identity", **(headers or {})}   # the stored bytes, as stored
            if keys.session_token:
                request_headers["x-amz-security-token"] = keys.session_token
            request_headers.update(sign_request(method, url, request_headers, payload_hash, keys.access_key,
                                                keys.secret_key, self.spec.region))
            try:
                response = await self._client().request(method, URL(url, encoded=True), headers=request_headers,
                                                        data=data)
            except _BodyMismatch as exc:
                raise TierError(str(exc)) from None
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                if attempt < attempts:
                    log.warning("tier %s: %s failed (%s), retrying", self.name, method, _describe(exc))
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                raise TierError(f"{self.spec.endpoint} unreachable: {_describe(exc)}") from None
            if response.status >= 500 and attempt < attempts:
                log.warning("tier %s: %s answered %d, retrying", self.name, method, response.status)
                response.release()
                await asyncio.sleep(delay)
                delay *= 2
                continue
            return response
        raise AssertionError("unreachable")

    @staticmethod
    def _parse(data: bytes) -> ET.Element:
        try:
            return ET.fromstring(data)
        except ET.ParseError:
            raise TierError(f"the tier answered a malformed document: {data[:100]!r}") from None

    @staticmethod
    def _error_text(status: int, data: bytes) -> str:
        code = message = ""
        if data:
            with contextlib.suppress(ET.ParseError):
                root = ET.fromstring(data)
                code, message = _find_text(root, "Code"), _find_text(root, "Message")
        text = f"{status} {code}".strip()
        return f"{text} ({message[:200]})" if message else text

    async def _error(self, response: aiohttp.ClientResponse) -> TierError:
        try:
            data = await response.content.read(_ERROR_BODY_LIMIT)
        except (aiohttp.ClientError, TimeoutError, OSError):
            data = b""
        return TierError(self._error_text(response.status, data))

    # --- credentials ---------------------------------------------------------------------------------
    async def _keys(self) -> _Keys:
        if self._static is not None:
            return self._static
        spec = self.spec
        if spec.access_key_file:
            return self._keys_from_files(spec.access_key_file, spec.secret_key_file)
        if spec.web_identity is not None:
            return await self._keys_from_sts()
        raise TierError(f"tier {self.name} has no credentials")

    def _keys_from_files(self, access_file: str, secret_file: str) -> _Keys:
        """The key files' contents, read again whenever either file changes (a Secret's update)."""
        try:
            stats = (os.stat(access_file), os.stat(secret_file))
            stamp = tuple((s.st_ino, s.st_mtime_ns, s.st_size) for s in stats)
            if self._file_keys is None or stamp != self._file_stamp:
                with open(access_file, encoding="utf-8") as f:
                    access = f.read().strip()
                with open(secret_file, encoding="utf-8") as f:
                    secret = f.read().strip()
                if not access or not secret:
                    raise TierError(f"tier {self.name}: a key file is empty")
                self._file_keys, self._file_stamp = _Keys(access, secret), stamp
        except OSError as exc:
            raise TierError(f"tier {self.name}: cannot read its key files: {exc.strerror or exc}") from None
        return self._file_keys

    async def _keys_from_sts(self) -> _Keys:
        keys = self._sts_keys
        if keys is not None and time.time() < keys.expires - STS_REFRESH_MARGIN:
            return keys
        if self._sts_lock is None:
            self._sts_lock = asyncio.Lock()
        async with self._sts_lock:
            keys = self._sts_keys
            if keys is None or time.time() >= keys.expires - STS_REFRESH_MARGIN:
                keys = self._sts_keys = await self._assume_role_with_web_identity()
            return keys

    async def _assume_role_with_web_identity(self) -> _Keys:
        identity = self.spec.web_identity
        assert identity is not None
        endpoint = identity.sts_endpoint.rstrip("/") or f"https://sts.{self.spec.region}.amazonaws.com"
        try:
            with open(identity.token_file, encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as exc:
            raise TierError(f"tier {self.name}: cannot read the web identity token: {exc.strerror or exc}") from None
        form = urlencode({"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
                          "RoleArn": identity.role_arn, "RoleSessionName": f"rustfs-tier-{self.name.lower()}",
                          "WebIdentityToken": token}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        delay = self._backoff
        for attempt in range(1, self._retries + 2):
            try:
                async with self._client().post(f"{endpoint}/", data=form, headers=headers) as response:
                    data = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                if attempt <= self._retries:
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                raise TierError(f"sts: {endpoint} unreachable: {_describe(exc)}") from None
            if status >= 500 and attempt <= self._retries:
                await asyncio.sleep(delay)
                delay *= 2
                continue
            if status != 200:
                raise TierError(f"sts: {self._error_text(status, data)}")
            root = self._parse(data)
            access, secret = _find_text(root, "AccessKeyId"), _find_text(root, "SecretAccessKey")
            session_token, expiration = _find_text(root, "SessionToken"), _find_text(root, "Expiration")
            if not access or not secret:
                raise TierError("sts: the answer holds no credentials")
            try:
                expires = _epoch(expiration) if expiration else time.time() + 900
            except ValueError:
                raise TierError(f"sts: an unreadable Expiration {expiration[:40]!r}") from None
            return _Keys(access, secret, session_token, expires)
        raise AssertionError("unreachable")
