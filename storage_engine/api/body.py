"""Request bodies from the handlers' side: small XML bodies read whole, and copies streamed as PutBody."""

from __future__ import annotations

import base64
import binascii
import hashlib

from storage_engine.errors import BadDigest, InvalidDigest, MaxMessageLengthExceeded
from storage_engine.http.types import Headers
from storage_engine.objects.types import PutBody


def parse_content_md5(headers: Headers) -> bytes | None:
    """``Content-MD5`` (base64 of 16 bytes) -> the raw digest; malformed -> InvalidDigest."""
    value = headers.get("content-md5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidDigest() from None
    if len(digest) != 16:
        raise InvalidDigest()
    return digest


async def read_small_body(body: PutBody, headers: Headers, limit: int) -> bytes:
    """Read a whole (XML) request body of at most ``limit`` bytes, checking Content-MD5 if sent."""
    expected_md5 = parse_content_md5(headers)
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = await body.read(64 * 1024)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise MaxMessageLengthExceeded()
        chunks.append(chunk)
    data = b"".join(chunks)
    if expected_md5 is not None and hashlib.md5(data).digest() != expected_md5:
        raise BadDigest()
    return data
