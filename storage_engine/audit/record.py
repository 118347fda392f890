"""One audit record: what the app hands over when a request is over (:class:`Entry`), and the JSON
document built from it (:func:`build_record`), with every secret removed (docs/audit.md).

The app only fills an :class:`Entry` (references to objects the request already has: its headers, its
decoded query, the response's header list, the principal) after the response is sent; ``AuditLog.emit``
builds and encodes the record once for all the targets.
"""

from __future__ import annotations

import datetime as _dt
import http
from typing import Any, NamedTuple

from storage_engine.http.types import Headers
from storage_engine.iam.principal import Principal

VERSION = "1"
REDACTED = "REDACTED"

# Header names (lower case) whose values never reach a record: credentials, signatures, SSE-C keys,
# cookies. The SSE-C key MD5s stay (they identify, they do not unlock).
REDACTED_HEADERS = frozenset({
    "authorization",
    "proxy-authorization",
    "x-amz-security-token",
    "x-amz-server-side-encryption-customer-key",
    "x-amz-copy-source-server-side-encryption-customer-key",
    "cookie",
    "set-cookie",
})

# Query parameter names (compared lower case) whose values never reach a record: presigned URLs'
# signatures, credentials and session tokens (SigV4 and SigV2), STS tokens and passwords, POST policies.
REDACTED_QUERY = frozenset({
    "x-amz-signature",
    "signature",
    "x-amz-credential",
    "x-amz-security-token",
    "awsaccesskeyid",
    "webidentitytoken",
    "token",
    "ldappassword",
    "password",
    "secretaccesskey",
    "sessiontoken",
    "policy",
    "x-amz-server-side-encryption-customer-key",
})


class Entry(NamedTuple):
    """What the request path hands to the audit log: cheap to make (references only)."""

    time: float                                 # epoch seconds at the request's start
    request_id: str
    api: str                                    # the router's Endpoint name
    bucket: str
    key: str
    status: int                                 # HTTP status
    code: str                                   # S3 error code, "" for success
    rx: int                                     # request body bytes received
    tx: int                                     # response body bytes sent
    ttfb: float                                 # seconds to the response head
    total: float                                # seconds to the last byte
    remote: str                                 # "ip:port" of the peer
    headers: Headers                            # the request's headers
    query: dict[str, str]                       # the request's decoded query
    response_headers: list[tuple[str, str]]
    principal: Principal | None                 # None when the request never authenticated


_second: list[Any] = [-1, ""]        # the last second formatted, and its text (records come in bursts)


def rfc3339(epoch: float) -> str:
    """``2026-11-30T10:42:00.123456Z``: RFC 3339, UTC, microseconds."""
    micros = round(epoch * 1_000_000)
    second, fraction = divmod(micros, 1_000_000)
    if second != _second[0]:
        _second[0], _second[1] = second, _dt.datetime.fromtimestamp(second, _dt.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{fraction:06d}Z"


def redact_headers(items: list[tuple[str, str]], *, lower: bool = True) -> dict[str, str]:
    """Header name -> value (repeated names joined with ","), secrets replaced by ``REDACTED``. ``lower=False``
    when the names are lower case already (a request's ``Headers``)."""
    out = {name.lower(): value for name, value in items} if lower else dict(items)
    if len(out) != len(items):                  # a repeated name: join its values, in order
        out = {}
        for name, value in items:
            name = name.lower()
            out[name] = out[name] + "," + value if name in out else value
    for name in REDACTED_HEADERS.intersection(out):
        out[name] = REDACTED
    return out


def redact_query(query: dict[str, str]) -> dict[str, str]:
    """The decoded query, secrets replaced by ``REDACTED`` (empty values, e.g. ``?policy``, stay)."""
    out = dict(query)
    for name, value in query.items():
        if value and name.lower() in REDACTED_QUERY:
            out[name] = REDACTED
    return out


def _claims(principal: Principal) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    for name, values in principal.claims:
        claims[name] = values[0] if len(values) == 1 else list(values)
    if principal.role:
        claims["role"] = principal.role
    if principal.session_name:
        claims["roleSessionName"] = principal.session_name
    if principal.expires is not None:
        claims["exp"] = int(principal.expires)
    return claims


def _status_text(status: int) -> str:
    """"OK" for a success; for an error answered without an S3 code, the HTTP reason ("BadRequest")."""
    if status < 400:
        return "OK"
    try:
        return http.HTTPStatus(status).phrase.replace(" ", "")
    except ValueError:
        return str(status)


def build_record(entry: Entry, node: str) -> dict[str, Any]:
    """The audit record of ``entry`` (docs/audit.md), ready for JSON encoding. Runs once per request: one
    unpacking of the entry, dictionaries built in C where it can."""
    (started, request_id, api, bucket, key, status, code, rx, tx, ttfb, total, remote, headers, query,
     response_headers, principal) = entry
    response = redact_headers(response_headers)
    host = remote.rpartition(":")[0] if ":" in remote else remote
    return {
        "version": VERSION,
        "time": rfc3339(started),
        "requestID": request_id,
        "node": node,
        "api": {
            "name": api,
            "bucket": bucket,
            "object": key,
            "versionId": response.get("x-amz-version-id") or query.get("versionId", ""),
            "status": code or _status_text(status),
            "statusCode": status,
            "rx": rx,
            "tx": tx,
            "timeToFirstByte": round(ttfb, 6),
            "timeToResponse": round(total, 6),
        },
        "remoteHost": host.strip("[]"),
        "userAgent": headers.get("user-agent", "") or "",
        "accessKey": principal.access_key if principal is not None else "",
        "parentUser": principal.parent if principal is not None else "",
        "requestClaims": _claims(principal) if principal is not None and principal.kind != "root" else {},
        "requestQuery": redact_query(query) if query else {},
        "requestHeader": redact_headers(headers.items(), lower=False),
        "responseHeader": response,
    }
