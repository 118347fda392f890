"""The condition keys and policy variables of one request (docs/iam.md "The decision").

    request_conditions(request, principal, settings.trusted_proxies) -> {"aws:sourceip": ["10.0.0.1"], ...}
    principal_variables(principal) -> {"aws:username": "alice", ...}

Names are lower-cased (``iam.policy.Request`` matches them so). Only trusted context is used:
``aws:SourceIp`` is the TCP peer, or the first ``X-Forwarded-For`` hop when the peer is one of
``settings.trusted_proxies``; ``s3:ExistingObjectTag/<key>`` needs a metadata read and is added by
``api/policy.py`` only when a policy names it. Object lock's keys (``s3:object-lock-mode``,
``-retain-until-date``, ``-remaining-retention-days``, ``-legal-hold``) come from a write's
``x-amz-object-lock-*`` headers here, and from the document of PutObjectRetention / PutObjectLegalHold in
``api/object_lock.py`` (``lock_conditions``).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Iterable
from functools import lru_cache

from storage_engine.api.meta import parse_iso_date, parse_tagging_header
from storage_engine.api.xml import iso8601
from storage_engine.errors import S3Error
from storage_engine.http.types import Request
from storage_engine.iam.principal import Principal

__all__ = ["existing_tag_conditions", "lock_conditions", "principal_variables", "request_conditions", "source_ip"]

Conditions = dict[str, list[str]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_PRINCIPAL_TYPES = {"root": "Account", "user": "User", "service-account": "User", "sts": "AssumedRole",
                    "anonymous": "Anonymous"}
# Request headers that are no condition keys: the signature's own, and secrets (SSE-C keys).
_NOT_KEYS = frozenset({"x-amz-date", "x-amz-content-sha256", "x-amz-security-token",
                       "x-amz-server-side-encryption-customer-key",
                       "x-amz-copy-source-server-side-encryption-customer-key"})
# Query parameters that are condition keys of the list operations.
_QUERY_KEYS = (("prefix", "s3:prefix"), ("delimiter", "s3:delimiter"), ("max-keys", "s3:max-keys"),
               ("versionId", "s3:versionid"))


@lru_cache(maxsize=64)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _peer_host(client: str) -> str:
    """``"ip:port"`` / ``"[v6]:port"`` / ``"v6:port"`` -> the address."""
    if client.startswith("["):
        return client[1:].partition("]")[0]
    host, sep, port = client.rpartition(":")
    return host if sep and port.isdigit() else client


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def source_ip(request: Request, trusted_proxies: Iterable[str]) -> str:
    """The caller's address: the peer, or the first X-Forwarded-For hop when the peer is a trusted proxy."""
    peer = _address(_peer_host(request.client))
    if peer is None:
        return ""
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and any(peer in net for net in _networks(tuple(trusted_proxies))):
        first = _address(forwarded.split(",")[0])
        if first is not None:
            return str(first)
    return str(peer)


def principal_variables(principal: Principal) -> dict[str, str]:
    """``${aws:username}``, ``${aws:userid}``, ``${aws:principaltype}`` (none for anonymous callers)."""
    if principal.is_anonymous:
        return {"aws:principaltype": "Anonymous"}
    out = {"aws:username": principal.user, "aws:userid": principal.access_key if principal.is_root
           else principal.user, "aws:principaltype": _PRINCIPAL_TYPES[principal.kind]}
    if principal.kind == "sts":
        out.pop("aws:username")                 # AWS: assumed roles have no aws:username
        out["aws:userid"] = f"{principal.role or principal.parent or principal.user}:{principal.user}"
    return out


def request_conditions(request: Request, principal: Principal, trusted_proxies: Iterable[str]) -> Conditions:
    """Every condition key this request carries (lower-cased names; values as sent)."""
    now = time.time()
    out: Conditions = {
        "aws:sourceip": [source_ip(request, trusted_proxies)],
        "aws:securetransport": ["true" if request.secure else "false"],
        "aws:currenttime": [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))],
        "aws:epochtime": [str(int(now))],
    }
    if not out["aws:sourceip"][0]:
        del out["aws:sourceip"]
    headers = request.headers
    for header, key in (("user-agent", "aws:useragent"), ("referer", "aws:referer")):
        value = headers.get(header)
        if value is not None:
            out[key] = [value]
    for name, value in principal_variables(principal).items():
        out[name] = [value]
    query = request.query
    for param, key in _QUERY_KEYS:
        if param in query:
            out[key] = [query[param]]
    for name, value in headers.items():
        if name.startswith("x-amz-") and name not in _NOT_KEYS:
            out.setdefault("s3:" + name, []).append(value)
    tagging = headers.get("x-amz-tagging")
    if tagging:
        try:
            tags = parse_tagging_header(tagging)
        except S3Error:
            tags = {}                            # the handler refuses it; no condition key from garbage
        for tag, value in tags.items():
            out[f"s3:requestobjecttag/{tag.lower()}"] = [value]
        if tags:
            out["aws:tagkeys"] = list(tags)
    for name, values in principal.claims:        # jwt:* / ldap:* of STS sessions from OIDC / LDAP
        out[name.lower()] = list(values)
    raw_until = headers.get("x-amz-object-lock-retain-until-date")
    raw_hold = headers.get("x-amz-object-lock-legal-hold")
    out.update(lock_conditions(headers.get("x-amz-object-lock-mode"), parse_iso_date(raw_until) if raw_until else None,
                               None if raw_hold is None else raw_hold.strip().upper() == "ON", now=now))
    return out


def lock_conditions(mode: str | None, until: float | None, legal_hold: bool | None, *,
                    now: float | None = None) -> Conditions:
    """Object lock's condition keys of a retention (mode, retain-until) and a legal hold; none for what is
    None. The remaining days are whole days, rounded up (a retention of 36 hours has 2)."""
    out: Conditions = {}
    if mode:
        out["s3:object-lock-mode"] = [mode.strip().upper()]
    if until is not None:
        left = until - (time.time() if now is None else now)
        out["s3:object-lock-retain-until-date"] = [iso8601(until)]
        out["s3:object-lock-remaining-retention-days"] = [str(max(0, math.ceil(left / 86400)))]
    if legal_hold is not None:
        out["s3:object-lock-legal-hold"] = ["ON" if legal_hold else "OFF"]
    return out


def existing_tag_conditions(tags: dict[str, str]) -> Conditions:
    """``s3:ExistingObjectTag/<key>`` of an object's stored tags."""
    return {f"s3:existingobjecttag/{tag.lower()}": [value] for tag, value in tags.items()}
