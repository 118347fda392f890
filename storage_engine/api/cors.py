"""CORS: Put/Get/DeleteBucketCors (``/<bucket>?cors``), the preflight (``OPTIONS``) and the CORS headers of
actual requests, as S3 gives them (docs/s3-api.md).

The document is AWS's::

    <CORSConfiguration>
      <CORSRule>                                  1 to 100 rules, the first that matches wins
        <ID>..</ID>                               optional
        <AllowedOrigin>https://*.example.com</AllowedOrigin>    1 or more, at most one '*' each
        <AllowedMethod>GET</AllowedMethod>        1 or more of GET PUT POST DELETE HEAD
        <AllowedHeader>x-amz-*</AllowedHeader>    0 or more, at most one '*' each (case-insensitive)
        <ExposeHeader>ETag</ExposeHeader>         0 or more, no wildcard
        <MaxAgeSeconds>3000</MaxAgeSeconds>       optional
      </CORSRule>
    </CORSConfiguration>

It is kept canonical in the bucket's record (``BucketMeta.cors``) and parsed once per document
(:func:`stored_rules`). A request without ``Origin`` never reads it: the app asks :func:`actual_headers` only
when the header is there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import lru_cache

from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest, xml_response
from storage_engine.api.public_access_block import bucket_records
from storage_engine.api.router import Endpoint, Route
from storage_engine.api.xml import XmlNode, XmlWriter, parse_xml
from storage_engine.errors import (CorsBadRequest, CorsForbidden, InvalidRequest, MalformedXML,
                                   NoSuchCORSConfiguration, S3Error)
from storage_engine.http.types import Headers, Request, Response
from storage_engine.objects.buckets import BucketStore

__all__ = ["CorsRule", "actual_headers", "cors_document", "find_rule", "handle_delete_bucket_cors",
           "handle_get_bucket_cors", "handle_preflight", "handle_put_bucket_cors", "parse_cors", "stored_rules"]

log = logging.getLogger(__name__)

METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
MAX_RULES = 100
MAX_BODY = 64 * 1024
_RULE_ELEMENTS = frozenset({"ID", "AllowedOrigin", "AllowedMethod", "AllowedHeader", "ExposeHeader",
                            "MaxAgeSeconds"})
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
               "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not "
               "whitelisted by the resource's CORS spec.")
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
# Routes whose "bucket" is no bucket (a tier's name) or that answer CORS themselves.
_NOT_BUCKET_REQUESTS = frozenset({Endpoint.Options, Endpoint.AdminHeal, Endpoint.AdminKmsRewrap,
                                  Endpoint.AdminIlmRun, Endpoint.AdminTier})


def _matches(pattern: str, value: str) -> bool:
    """``pattern`` with at most one ``*`` (any run of characters, also none) against ``value``."""
    star = pattern.find("*")
    if star < 0:
        return pattern == value
    head, tail = pattern[:star], pattern[star + 1:]
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


@dataclass(frozen=True, slots=True)
class CorsRule:
    origins: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...] = ()           # AllowedHeader (matched without regard to case)
    expose: tuple[str, ...] = ()
    max_age: int | None = None
    id: str = ""

    def allows(self, origin: str, method: str, headers: tuple[str, ...] = ()) -> bool:
        """``origin`` may send ``method`` with ``headers`` (lower-case; a preflight's requested headers)."""
        return (method in self.methods and any(_matches(o, origin) for o in self.origins)
                and all(any(_matches(h.lower(), header) for h in self.headers) for header in headers))

    def response_headers(self, origin: str, requested: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
        """The headers S3 answers a request from ``origin`` that this rule allows (a preflight: ``requested``)."""
        out: list[tuple[str, str]] = []
        if "*" in self.origins:
            out.append(("Access-Control-Allow-Origin", "*"))
        else:
            out.append(("Access-Control-Allow-Origin", origin))
            out.append(("Access-Control-Allow-Credentials", "true"))
        out.append(("Access-Control-Allow-Methods", ", ".join(self.methods)))
        if requested:
            out.append(("Access-Control-Allow-Headers", ", ".join(requested)))
        if self.expose:
            out.append(("Access-Control-Expose-Headers", ", ".join(self.expose)))
        if self.max_age is not None:
            out.append(("Access-Control-Max-Age", str(self.max_age)))
        out.append(("Vary", VARY))
        return out


def _one_wildcard(element: str, values: list[str]) -> None:
    for value in values:
        if not value:
            raise MalformedXML()
        if value.count("*") > 1:
            raise InvalidRequest(f'{element} "{value}" can not have more than one wildcard.')


def _rule(node: XmlNode) -> CorsRule:
    texts: dict[str, list[str]] = {name: [] for name in _RULE_ELEMENTS}
    for child in node.children:
        if child.tag not in _RULE_ELEMENTS or child.children:
            raise MalformedXML()
        texts[child.tag].append(child.text.strip())
    origins, methods = texts["AllowedOrigin"], texts["AllowedMethod"]
    if not origins or not methods or len(texts["ID"]) > 1 or len(texts["MaxAgeSeconds"]) > 1:
        raise MalformedXML()
    for method in methods:
        if method not in METHODS:
            raise InvalidRequest(f"Found unsupported HTTP method in CORS config. Unsupported method is {method}")
    _one_wildcard("AllowedOrigin", origins)
    _one_wildcard("AllowedHeader", texts["AllowedHeader"])
    for header in texts["ExposeHeader"]:
        if "*" in header:
            raise InvalidRequest(f'ExposeHeader "{header}" contains wildcard. We currently do not support '
                                 "wildcard for ExposeHeader.")
        if not header:
            raise MalformedXML()
    max_age: int | None = None
    if texts["MaxAgeSeconds"] and texts["MaxAgeSeconds"][0]:
        try:
            max_age = int(texts["MaxAgeSeconds"][0])
        except ValueError:
            raise MalformedXML() from None
        if max_age < 0:
            raise MalformedXML()
    rule_id = texts["ID"][0] if texts["ID"] else ""
    if len(rule_id) > 255:
        raise InvalidRequest("The ID of a CORSRule can not be longer than 255 characters.")
    return CorsRule(tuple(dict.fromkeys(origins)), tuple(dict.fromkeys(methods)),
                    tuple(dict.fromkeys(texts["AllowedHeader"])),
                    tuple(dict.fromkeys(texts["ExposeHeader"])), max_age, rule_id)


def parse_cors(data: bytes) -> tuple[CorsRule, ...]:
    """A PutBucketCors body -> its rules; MalformedXML / InvalidRequest as AWS."""
    root = parse_xml(data, "CORSConfiguration", MAX_BODY)
    if any(child.tag != "CORSRule" for child in root.children):
        raise MalformedXML()
    if not root.children:
        raise MalformedXML()
    if len(root.children) > MAX_RULES:
        raise InvalidRequest(f"The number of CORS rules should not exceed allowed limit of {MAX_RULES} rules.")
    return tuple(_rule(node) for node in root.children)


def cors_document(rules: tuple[CorsRule, ...]) -> bytes:
    """The canonical document: what the bucket record keeps and GetBucketCors answers."""
    w = XmlWriter("CORSConfiguration")
    for rule in rules:
        w.open("CORSRule")
        if rule.id:
            w.elem("ID", rule.id)
        for name, values in (("AllowedHeader", rule.headers), ("AllowedMethod", rule.methods),
                             ("AllowedOrigin", rule.origins), ("ExposeHeader", rule.expose)):
            for value in values:
                w.elem(name, value)
        if rule.max_age is not None:
            w.elem("MaxAgeSeconds", rule.max_age)
        w.close("CORSRule")
    return w.finish()


@lru_cache(maxsize=1024)
def stored_rules(document: bytes) -> tuple[CorsRule, ...]:
    """A bucket record's document -> its rules (once per document)."""
    return parse_cors(document)


def find_rule(rules: tuple[CorsRule, ...], origin: str, method: str,
              headers: tuple[str, ...] = ()) -> CorsRule | None:
    """The first rule that allows the request, as S3 evaluates them."""
    for rule in rules:
        if rule.allows(origin, method, headers):
            return rule
    return None


# --- Put / Get / Delete -----------------------------------------------------------------------------------
async def _buckets(ctx: ReqCtx) -> BucketStore:
    return await bucket_records(ctx, "CORS configurations", NoSuchCORSConfiguration)


async def handle_put_bucket_cors(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    buckets = await _buckets(ctx)
    document = cors_document(parse_cors(await read_small_body(req.body, ctx.headers, MAX_BODY)))
    await buckets.update(ctx.bucket, lambda meta: replace(meta, cors=document))
    return Response(status=200)


async def handle_get_bucket_cors(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    meta = await (await _buckets(ctx)).get(ctx.bucket)
    if not meta.cors:
        raise NoSuchCORSConfiguration()
    return xml_response(meta.cors)


async def handle_delete_bucket_cors(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    await (await _buckets(ctx)).update(ctx.bucket, lambda meta: replace(meta, cors=None))
    return Response(status=204)


# --- the preflight and actual requests ---------------------------------------------------------------------
def _requested_headers(headers: Headers) -> tuple[str, ...]:
    raw = ",".join(headers.getall("access-control-request-headers"))
    return tuple(dict.fromkeys(h.strip().lower() for h in raw.split(",") if h.strip()))


async def _rules(store: object, bucket: str) -> tuple[CorsRule, ...] | None:
    """The bucket's rules; None when it has none (NoSuchBucket for a bucket that does not exist)."""
    if not isinstance(store, BucketStore):
        return None
    meta = await store.get(bucket)
    return stored_rules(meta.cors) if meta.cors else None


async def handle_preflight(store: object, bucket: str, headers: Headers) -> Response:
    """``OPTIONS /<bucket>/<key>``: answered from the bucket's rules, never authenticated (browsers send no
    credentials). 400 BadRequest without Origin or a valid Access-Control-Request-Method, 403 AccessForbidden
    ("CORSResponse: ...") when the bucket has no rules or none allows the request."""
    origin = headers.get("origin")
    if not origin:
        raise CorsBadRequest()
    method = headers.get("access-control-request-method")
    if method not in METHODS:
        raise CorsBadRequest(f"Invalid Access-Control-Request-Method: {method if method is not None else 'null'}")
    rules = await _rules(store, bucket) if bucket else None
    if rules is None:
        raise CorsForbidden()
    requested = _requested_headers(headers)
    rule = find_rule(rules, origin, method, requested)
    if rule is None:
        raise CorsForbidden(NOT_ALLOWED)
    return Response(status=200, headers=rule.response_headers(origin, requested))


async def actual_headers(store: object, route: Route, request: Request) -> list[tuple[str, str]]:
    """The CORS headers of a (non-preflight) request with an ``Origin`` to a bucket: those of the first rule
    that allows the origin and the request's method, none when no rule does. Never raises: a response is
    answered whether or not its CORS headers could be found."""
    origin = request.headers.get("origin")
    if not origin or not route.bucket or route.endpoint in _NOT_BUCKET_REQUESTS:
        return []
    try:
        rules = await _rules(store, route.bucket)
    except S3Error:
        return []
    except Exception:       # never BaseException: cancellation must propagate
        log.exception("CORS rules of bucket %s could not be read", route.bucket)
        return []
    rule = find_rule(rules, origin, request.method) if rules else None
    return rule.response_headers(origin) if rule is not None else []
