"""AWS Signature Version 2 (HMAC-SHA1), the legacy scheme some clients still use by default.

boto3's ``generate_presigned_url`` produces V2 URLs (``?AWSAccessKeyId=..&Signature=..&Expires=..``)
unless the client is configured for s3v4, and s3cmd can sign requests with V2. So both forms are
accepted:

    Authorization: AWS <access key>:<base64 hmac-sha1>
    ?AWSAccessKeyId=<access key>&Expires=<epoch seconds>&Signature=<base64 hmac-sha1>

    string to sign = METHOD \\n Content-MD5 \\n Content-Type \\n Date|Expires \\n
                     x-amz-* headers (sorted "name:value\\n") + canonical resource

The canonical resource is ``/bucket/key`` (the bucket from the Host for virtual-hosted requests) plus
the sub-resource parameters S3 defines, sorted. V2 never signs the payload.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, unquote_to_bytes

from storage_engine.config import EngineSettings
from storage_engine.errors import (
    AccessDenied, AuthorizationHeaderMalformed, AuthorizationQueryParametersError, InvalidAccessKeyId,
    RequestTimeTooSkewed, SignatureDoesNotMatch,
)
from storage_engine.http.types import Request

from .credentials import CredentialLookup, Credentials

# The query parameters that belong to the canonical resource (as botocore's HmacV1Auth signs them).
SUB_RESOURCES = frozenset({
    "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy",
    "requestPayment", "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId",
    "response-content-type", "response-content-language", "response-expires", "response-cache-control",
    "response-content-disposition", "response-content-encoding", "delete", "lifecycle", "tagging", "restore",
    "storageClass", "notification", "replication", "analytics", "metrics", "inventory", "select",
    "select-type", "object-lock",
})


def is_v2_header(authorization: str) -> bool:
    return authorization.startswith("AWS ")


def is_v2_query(query: dict[str, str]) -> bool:
    return "AWSAccessKeyId" in query and "Signature" in query


def _bucket_of_host(request: Request, settings: EngineSettings) -> str | None:
    host = (request.headers.get("host") or "").lower().rsplit(":", 1)[0]
    for domain in settings.domains:
        if host.endswith("." + domain):
            return host[:-len(domain) - 1]
    return None


def _resources(request: Request, settings: EngineSettings) -> list[str]:
    """Candidate canonical resources: the path as sent, then re-encoded the AWS way."""
    sub: list[tuple[str, str | None]] = []
    for item in request.query_string.split("&") if request.query_string else ():
        name, sep, value = item.partition("=")
        if name in SUB_RESOURCES:
            sub.append((name, unquote(value) if sep else None))
    sub.sort(key=lambda pair: pair[0])
    suffix = "&".join(name if value is None else f"{name}={value}" for name, value in sub)
    suffix = "?" + suffix if suffix else ""
    bucket = _bucket_of_host(request, settings)
    prefix = f"/{bucket}" if bucket else ""
    paths = [request.raw_path, quote(unquote_to_bytes(request.raw_path), safe="/~")]
    return [prefix + path + suffix for path in dict.fromkeys(paths)]


def _amz_headers(request: Request) -> str:
    values: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        if name.startswith("x-amz-"):
            values.setdefault(name, []).append(value.strip())
    if not values and any(name.startswith("x-amz-") for name in request.query):
        for name, value in request.query.items():
            if name.startswith("x-amz-"):
                values[name] = [value]
    return "".join(f"{name}:{','.join(values[name])}\n" for name in sorted(values))


def _sign(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode("utf-8"), hashlib.sha1).digest()).decode()


def _check(request: Request, settings: EngineSettings, creds: Credentials, date_lines: list[str],
           signature: str) -> None:
    headers = request.headers
    content_md5 = (headers.get("content-md5") or "").strip()
    content_type = (headers.get("content-type") or request.query.get("content-type") or "").strip()
    amz = _amz_headers(request)
    for date_line in date_lines:
        for resource in _resources(request, settings):
            text = f"{request.method}\n{content_md5}\n{content_type}\n{date_line}\n{amz}{resource}"
            if hmac.compare_digest(_sign(creds.secret_key, text).encode(), signature.encode()):
                return
    raise SignatureDoesNotMatch()


async def verify_v2_header(request: Request, credentials: CredentialLookup, settings: EngineSettings,
                           now: float) -> Credentials:
    authorization = request.headers.get("authorization") or ""
    access_key, sep, signature = authorization[4:].strip().rpartition(":")
    if not sep or not access_key or not signature:
        raise AuthorizationHeaderMalformed("The authorization header is malformed; expecting 'AWS <key>:<signature>'.")
    creds = await credentials.lookup(access_key, request.headers.get("x-amz-security-token"))
    if creds is None:
        raise InvalidAccessKeyId()
    amz_date = request.headers.get("x-amz-date")
    date = request.headers.get("date")
    text = amz_date or date
    if not text:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header.")
    try:
        when = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header.") from None
    if abs(now - when) > settings.max_clock_skew_seconds:
        raise RequestTimeTooSkewed()
    # With x-amz-date the Date line is empty by the spec; some clients sign the Date header anyway.
    date_lines = ["", date or ""] if amz_date else [date or ""]
    _check(request, settings, creds, list(dict.fromkeys(date_lines)), signature)
    return creds


async def verify_v2_query(request: Request, credentials: CredentialLookup, settings: EngineSettings,
                          now: float) -> Credentials:
    query = request.query
    expires = query.get("Expires", "")
    if not (expires.isascii() and expires.isdigit()):
        raise AuthorizationQueryParametersError("Query-string authentication requires the Expires parameter.")
    creds = await credentials.lookup(query["AWSAccessKeyId"], query.get("x-amz-security-token"))
    if creds is None:
        raise InvalidAccessKeyId()
    if now > int(expires):
        raise AccessDenied("Request has expired.")
    # A '+' of base64 sent unencoded has become a space in the decoded query.
    _check(request, settings, creds, [expires], query["Signature"].replace(" ", "+"))
    return creds
