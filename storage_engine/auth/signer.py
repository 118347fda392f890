"""Client-side SigV4, for the admin CLI, tests and benchmarks (cheaper than botocore per request).

    headers.update(sign_request("PUT", url, headers, sha256_hex, access_key, secret_key, "us-east-1"))
    url = presign_url("GET", url, access_key, secret_key, "us-east-1", expires=600)

``url`` is the URL exactly as it will be sent (path and query already percent-encoded). It shares the
canonicalization code with the verifier, and the tests check both against botocore.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from .sigv4 import (
    ALGORITHM, AMZ_DATE_FORMAT, canonical_header_value, canonical_query, canonical_request, canonical_uri,
    scope, sign, signing_key, string_to_sign,
)

# Request headers worth signing besides host and the x-amz-* ones (never hop-by-hop headers).
_SIGNED_PLAIN_HEADERS = frozenset({"content-type", "content-md5", "range"})


def _host(url: str, headers: Mapping[str, str]) -> tuple[str, str, str]:
    parts = urlsplit(url)
    for name, value in headers.items():
        if name.lower() == "host":
            return value, parts.path or "/", parts.query
    host = parts.netloc.rpartition("@")[2]
    default_port = {"http": ":80", "https": ":443"}.get(parts.scheme)
    if default_port and host.endswith(default_port):
        host = host[:-len(default_port)]
    return host, parts.path or "/", parts.query


def _timestamp(now: float | None) -> str:
    return time.strftime(AMZ_DATE_FORMAT, time.gmtime(time.time() if now is None else now))


def sign_request(method: str, url: str, headers: Mapping[str, str], payload_sha256: str, access_key: str,
                 secret_key: str, region: str, now: float | None = None, *, service: str = "s3") -> dict[str, str]:
    """The headers to add to sign a request: ``Authorization``, ``x-amz-date``, ``x-amz-content-sha256``.

    ``payload_sha256`` is the hex sha256 of the body, ``UNSIGNED-PAYLOAD`` or a ``STREAMING-*`` value.
    Signs ``host``, every ``x-amz-*`` header given, and content-type/content-md5/range if given.
    """
    host, path, query = _host(url, headers)
    amz_date = _timestamp(now)
    to_sign: dict[str, list[str]] = {"host": [host]}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("x-amz-") or lower in _SIGNED_PLAIN_HEADERS:
            to_sign.setdefault(lower, []).append(value)
    to_sign["x-amz-date"] = [amz_date]
    to_sign["x-amz-content-sha256"] = [payload_sha256]
    names = sorted(to_sign)
    canonical_headers = [(name, canonical_header_value(to_sign[name])) for name in names]
    signed_headers = ";".join(names)
    canonical = canonical_request(method.upper(), canonical_uri(path), canonical_query(query), canonical_headers,
                                  signed_headers, payload_sha256)
    credential_scope = scope(amz_date[:8], region, service)
    key = signing_key(secret_key, amz_date[:8], region, service)
    signature = sign(key, string_to_sign(amz_date, credential_scope, canonical.encode("utf-8")))
    authorization = (f"{ALGORITHM} Credential={access_key}/{credential_scope}, "
                     f"SignedHeaders={signed_headers}, Signature={signature}")
    return {"Authorization": authorization, "x-amz-date": amz_date, "x-amz-content-sha256": payload_sha256}


def presign_url(method: str, url: str, access_key: str, secret_key: str, region: str, expires: int = 3600,
                now: float | None = None, *, service: str = "s3") -> str:
    """``url`` with SigV4 query authentication valid for ``expires`` seconds (1 s to 7 days)."""
    if not 1 <= expires <= 7 * 24 * 3600:
        raise ValueError("expires must be between 1 second and 7 days")
    host, path, query = _host(url, {})
    amz_date = _timestamp(now)
    credential_scope = scope(amz_date[:8], region, service)
    auth_params = (f"X-Amz-Algorithm={ALGORITHM}"
                   f"&X-Amz-Credential={quote(f'{access_key}/{credential_scope}', safe='-_.~')}"
                   f"&X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host")
    full_query = f"{query}&{auth_params}" if query else auth_params
    canonical = canonical_request(method.upper(), canonical_uri(path), canonical_query(full_query),
                                  [("host", host)], "host", "UNSIGNED-PAYLOAD")
    key = signing_key(secret_key, amz_date[:8], region, service)
    signature = sign(key, string_to_sign(amz_date, credential_scope, canonical.encode("utf-8")))
    base = url.split("?", 1)[0]
    return f"{base}?{full_query}&X-Amz-Signature={signature}"
