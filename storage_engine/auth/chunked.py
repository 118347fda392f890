"""Request-body sources: the decoded payload of a raw HTTP body, with end-of-body detection.

    PlainSource       the body as sent (Content-Length or HTTP chunked transfer encoding)
    AwsChunkedSource  ``Content-Encoding: aws-chunked`` framing, optionally with per-chunk signatures
                      (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) and trailing headers:

        <hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n ... 0[;chunk-signature=<sig>]\\r\\n
        [x-amz-checksum-crc32:<b64>\\r\\n][x-amz-trailer-signature:<sig>\\r\\n]\\r\\n

A source's ``read_some(n)`` returns up to ``n`` decoded bytes and sets ``done`` in the same call that
returns the last ones (it parses ahead to the terminating chunk), so verification can happen no later
than the read that reaches the end. Chunk headers are found with ``bytes.find``; data is handed out
as memoryview slices of the received buffers (no copy until the consumer joins them).
"""

from __future__ import annotations

import hashlib
import re

from storage_engine.errors import IncompleteBody, InvalidRequest, S3Error, SignatureDoesNotMatch
from storage_engine.http.types import RawBody

from .sigv4 import chunk_string_to_sign, sign, signatures_equal, trailer_string_to_sign

READ_SIZE = 256 * 1024
MAX_LINE = 4096                 # a chunk header or trailer line
MAX_TRAILER_BYTES = 16 * 1024
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

Bytes = bytes | memoryview


def _malformed(detail: str) -> S3Error:
    return InvalidRequest(f"The aws-chunked request body is malformed: {detail}.")


class PlainSource:
    """The raw body itself. With an unknown length it reads one buffer ahead to see the end."""

    __slots__ = ("_raw", "_remaining", "_ahead", "done", "trailers")

    def __init__(self, raw: RawBody) -> None:
        self._raw = raw
        self._remaining = raw.length          # None: HTTP chunked, end unknown until b""
        self._ahead: bytes | None = None
        self.done = self._remaining == 0
        self.trailers: list[tuple[str, str]] = []

    async def read_some(self, n: int) -> Bytes:
        if self.done:
            return b""
        if self._remaining is not None:
            data = await self._raw.read(min(n, self._remaining))
            if not data:
                raise IncompleteBody()
            self._remaining -= len(data)
            self.done = self._remaining == 0
            return data
        data = self._ahead if self._ahead is not None else await self._raw.read(max(n, READ_SIZE))
        self._ahead = None
        if len(data) > n:
            self._ahead = data[n:]
            return data[:n]
        if data:
            self._ahead = await self._raw.read(max(n, READ_SIZE))
        if not self._ahead:
            self.done = True
            self._ahead = None
        return data


class ChunkSignatures:
    """The signature chain of a signed aws-chunked body, seeded by the request's own signature."""

    __slots__ = ("_key", "_amz_date", "_scope", "_previous")

    def __init__(self, key: bytes, amz_date: str, credential_scope: str, seed_signature: str) -> None:
        self._key = key
        self._amz_date = amz_date
        self._scope = credential_scope
        self._previous = seed_signature

    def verify_chunk(self, chunk_sha256: str, signature: str) -> None:
        expected = sign(self._key, chunk_string_to_sign(self._amz_date, self._scope, self._previous, chunk_sha256))
        if not signatures_equal(expected, signature):
            raise SignatureDoesNotMatch("The chunk signature does not match.")
        self._previous = signature

    def verify_trailer(self, canonical_trailers: bytes, signature: str) -> None:
        digest = hashlib.sha256(canonical_trailers).hexdigest()
        expected = sign(self._key, trailer_string_to_sign(self._amz_date, self._scope, self._previous, digest))
        if not signatures_equal(expected, signature):
            raise SignatureDoesNotMatch("The trailer signature does not match.")


class AwsChunkedSource:
    """Decodes aws-chunked framing; verifies chunk and trailer signatures when ``signatures`` is set."""

    __slots__ = ("_raw", "_buf", "_pos", "_chunk_left", "_signatures", "_chunk_hash", "_chunk_signature",
                 "_expect_trailers", "_started", "done", "trailers")

    def __init__(self, raw: RawBody, signatures: ChunkSignatures | None, *, trailers: bool) -> None:
        self._raw = raw
        self._buf = b""
        self._pos = 0
        self._chunk_left = 0
        self._signatures = signatures
        self._chunk_hash = hashlib.sha256() if signatures is not None else None
        self._chunk_signature = ""
        self._expect_trailers = trailers
        self._started = False
        self.done = False
        self.trailers: list[tuple[str, str]] = []

    async def read_some(self, n: int) -> Bytes:
        if not self._started:
            self._started = True
            await self._next_chunk()
        if self.done:
            return b""
        available = len(self._buf) - self._pos
        if available == 0:
            await self._fill()
            available = len(self._buf)
        take = min(n, self._chunk_left, available)
        pos = self._pos
        if pos == 0 and take == len(self._buf):
            data: Bytes = self._buf
        else:
            data = memoryview(self._buf)[pos:pos + take]
        self._pos = pos + take
        self._chunk_left -= take
        if self._chunk_hash is not None:
            self._chunk_hash.update(data)
        if self._chunk_left == 0:
            await self._end_chunk()
        return data

    # --- framing ---------------------------------------------------------------------------------
    async def _fill(self) -> None:
        data = await self._raw.read(READ_SIZE)
        if not data:
            raise IncompleteBody("The aws-chunked body ended before its final chunk.")
        if self._pos < len(self._buf):
            self._buf = self._buf[self._pos:] + data      # only a partial header line is carried over
        else:
            self._buf = data
        self._pos = 0

    async def _line(self, *, eof_ok: bool = False) -> bytes | None:
        """The next CRLF-terminated line without its CRLF (None at a clean end, if ``eof_ok``)."""
        while True:
            end = self._buf.find(b"\r\n", self._pos)
            if end >= 0:
                line = self._buf[self._pos:end]
                self._pos = end + 2
                return line
            if len(self._buf) - self._pos > MAX_LINE:
                raise _malformed("header line too long")
            if eof_ok and self._pos == len(self._buf):
                data = await self._raw.read(READ_SIZE)
                if not data:
                    return None
                self._buf, self._pos = data, 0
                continue
            await self._fill()

    async def _next_chunk(self) -> None:
        line = await self._line()
        assert line is not None
        size_text, _, extension = line.partition(b";")
        size_text = size_text.strip()
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise _malformed("bad chunk size")
        size = int(size_text, 16)
        if self._signatures is not None:
            signature = b""
            for item in extension.split(b";"):
                name, _, value = item.partition(b"=")
                if name.strip() == b"chunk-signature":
                    signature = value.strip()
            if not signature:
                raise SignatureDoesNotMatch("A chunk of a signed aws-chunked body has no chunk-signature.")
            self._chunk_signature = signature.decode("ascii", "replace")
        self._chunk_left = size
        if size == 0:
            self._verify_chunk()
            await self._finish()

    async def _end_chunk(self) -> None:
        while len(self._buf) - self._pos < 2:
            await self._fill()
        if self._buf[self._pos:self._pos + 2] != b"\r\n":
            raise _malformed("chunk data is not followed by CRLF")
        self._pos += 2
        self._verify_chunk()
        await self._next_chunk()       # parse ahead: learn now whether that was the last data

    def _verify_chunk(self) -> None:
        if self._signatures is None or self._chunk_hash is None:
            return
        self._signatures.verify_chunk(self._chunk_hash.hexdigest(), self._chunk_signature)
        self._chunk_hash = hashlib.sha256()

    async def _finish(self) -> None:
        """After the zero-size chunk: trailers (if any), the closing empty line, then end of body."""
        canonical = bytearray()
        trailer_signature: str | None = None
        size = 0
        while True:
            line = await self._line(eof_ok=True)
            if not line:                   # the closing empty line (or a client that omits it)
                break
            size += len(line)
            if size > MAX_TRAILER_BYTES:
                raise _malformed("trailers too large")
            name, sep, value = line.partition(b":")
            if not sep:
                raise _malformed("bad trailer line")
            key = name.strip().lower().decode("latin-1")
            text = value.strip().decode("latin-1")
            if key == "x-amz-trailer-signature":
                trailer_signature = text
                continue
            if not self._expect_trailers:
                raise _malformed("unexpected trailer")
            self.trailers.append((key, text))
            canonical += f"{key}:{text}\n".encode("latin-1")
        if self._signatures is not None and self._expect_trailers:
            if trailer_signature is None:
                raise SignatureDoesNotMatch("The signed aws-chunked body has no x-amz-trailer-signature.")
            self._signatures.verify_trailer(bytes(canonical), trailer_signature)
        if self._pos < len(self._buf) or await self._raw.read(1):
            raise _malformed("data after the final chunk")
        self.done = True
