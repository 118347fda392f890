"""AWS Signature Version 4 primitives, shared by the verifier and the client-side signer.

    canonical request = METHOD \\n canonical URI \\n canonical query \\n canonical headers \\n
                        signed headers \\n payload hash
    string to sign    = AWS4-HMAC-SHA256 \\n timestamp \\n scope \\n hex(sha256(canonical request))
    signature         = hex(hmac(signing key, string to sign)),
    signing key       = hmac chain over "AWS4"+secret, date, region, service, "aws4_request"

Canonicalization follows AWS's S3 rules so that every client's encoding verifies: the path and the
query are decoded and re-encoded the AWS way (unreserved ``A-Za-z0-9-._~`` kept, ``/`` kept in the
path, everything else ``%XX`` upper case); header values are trimmed and runs of spaces collapsed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Sequence
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

# Paths made only of these need no re-encoding (the common case: fast path).
_PLAIN_PATH = re.compile(r"[A-Za-z0-9\-._~/]*")
_PLAIN_QUERY_PART = re.compile(r"[A-Za-z0-9\-._~]*")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def canonical_uri(raw_path: str) -> str:
    """The S3 canonical URI of a request path as sent (percent-encoded, not normalized)."""
    if _PLAIN_PATH.fullmatch(raw_path):
        return raw_path or "/"
    return quote(unquote_to_bytes(raw_path), safe="/") or "/"


def _encode_query_part(part: str, plus_is_space: bool) -> str:
    if _PLAIN_QUERY_PART.fullmatch(part):
        return part
    if plus_is_space:
        part = part.replace("+", " ")
    return quote(unquote_to_bytes(part), safe="-_.~")


def canonical_query(query_string: str, *, exclude: str | None = None, plus_is_space: bool = False) -> str:
    """Sorted ``name=value`` pairs, each re-encoded; ``exclude`` drops one parameter (the signature).

    A literal ``+`` is a plus sign by RFC 3986 (``plus_is_space=False``); some clients mean a space
    (form encoding), so the verifier retries with ``plus_is_space=True`` when a ``+`` is present.
    """
    if not query_string:
        return ""
    pairs: list[tuple[str, str]] = []
    for item in query_string.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        name = _encode_query_part(name, plus_is_space)
        if exclude is not None and name == exclude:
            continue
        pairs.append((name, _encode_query_part(value, plus_is_space)))
    pairs.sort()
    return "&".join(f"{name}={value}" for name, value in pairs)


def canonical_header_value(values: Sequence[str]) -> str:
    """Values of one header joined with ``,``, each trimmed, inner whitespace runs collapsed."""
    if len(values) == 1:                      # the usual case, without a generator
        return " ".join(values[0].split())
    return ",".join(" ".join(value.split()) for value in values)


def canonical_request(method: str, uri: str, query: str, headers: list[tuple[str, str]],
                      signed_headers: str, payload_hash: str) -> str:
    """``headers`` are (lower-case name, canonical value) pairs in signed-headers order."""
    canonical_headers = "".join(f"{name}:{value}\n" for name, value in headers)
    return f"{method}\n{uri}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"


def scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/aws4_request"


def string_to_sign(amz_date: str, credential_scope: str, canonical: bytes) -> str:
    return f"{ALGORITHM}\n{amz_date}\n{credential_scope}\n{hashlib.sha256(canonical).hexdigest()}"


# Least recently used first. Bounded: the region and the date in a scope are the client's choice (a server
# without an explicit region accepts any), so the cache must not grow with what clients send.
_KEY_CACHE: OrderedDict[tuple[str, str, str, str], bytes] = OrderedDict()
_KEY_CACHE_LIMIT = 1024


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The derived key for one (secret, date, region, service): cached (LRU, bounded), it changes once a day."""
    cache_key = (secret_key, date, region, service)
    key = _KEY_CACHE.get(cache_key)
    if key is not None:
        _KEY_CACHE.move_to_end(cache_key)
        return key
    key = hmac.new(("AWS4" + secret_key).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    _KEY_CACHE[cache_key] = key
    while len(_KEY_CACHE) > _KEY_CACHE_LIMIT:
        _KEY_CACHE.popitem(last=False)
    return key


def sign(key: bytes, text: str) -> str:
    return hmac.digest(key, text.encode(), "sha256").hex()


def signatures_equal(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def is_hex_signature(value: str) -> bool:
    return _HEX_SIGNATURE.fullmatch(value) is not None


# --- aws-chunked payload signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) ------------------
def chunk_string_to_sign(amz_date: str, credential_scope: str, previous_signature: str, chunk_sha256: str) -> str:
    return (f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{credential_scope}\n{previous_signature}\n"
            f"{EMPTY_SHA256}\n{chunk_sha256}")


def trailer_string_to_sign(amz_date: str, credential_scope: str, previous_signature: str,
                           trailer_sha256: str) -> str:
    return f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{credential_scope}\n{previous_signature}\n{trailer_sha256}"
