"""Object lock at the HTTP edge (docs/object-lock.md): Put/GetObjectLockConfiguration (``/<bucket>?object-lock``),
Put/GetObjectRetention (``?retention``), Put/GetObjectLegalHold (``?legal-hold``), the ``x-amz-object-lock-*``
headers of PutObject, CopyObject and CreateMultipartUpload, the ones GET and HEAD answer with, and
``x-amz-bypass-governance-retention``. The rules themselves are the storage side's (``objects/object_lock.py``).

The documents::

    <ObjectLockConfiguration>
      <ObjectLockEnabled>Enabled</ObjectLockEnabled>
      <Rule><DefaultRetention><Mode>GOVERNANCE|COMPLIANCE</Mode><Days>1</Days> or <Years>1</Years>
      </DefaultRetention></Rule>                                        (optional)
    </ObjectLockConfiguration>
    <Retention><Mode>GOVERNANCE|COMPLIANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>
    <LegalHold><Status>ON|OFF</Status></LegalHold>
"""

from __future__ import annotations

import time

from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest, xml_response
from storage_engine.api.meta import PAST, bypass_requested, lock_mode, parse_iso_date
from storage_engine.api.policy import Authorizer, authorize_action
from storage_engine.api.request_conditions import lock_conditions
from storage_engine.api.xml import XmlWriter, iso8601, parse_xml
from storage_engine.errors import (InvalidArgument, InvalidRequest, MalformedXML, NoSuchObjectLockConfiguration,
                                   ObjectLockConfigurationNotFoundError)
from storage_engine.checksums import ALGORITHMS
from storage_engine.http.types import Headers, Response
from storage_engine.iam.actions import BYPASS_GOVERNANCE_ACTION
from storage_engine.objects.object_lock import NO_LOCK_CONFIG, LockConfig, LockMode, LockRequest
from storage_engine.objects.types import ObjectInfo

MAX_BODY = 8 * 1024
MAX_DAYS = 36500                  # AWS's limit on a default retention: 100 years
_CHECKSUM_HEADERS = tuple(f"x-amz-checksum-{a.lower()}" for a in ALGORITHMS)


def version_id_param(query: dict[str, str]) -> str | None:
    """``versionId`` (as ``api.object.version_id_param``, which imports this module): empty is InvalidArgument."""
    version_id = query.get("versionId")
    if version_id == "":
        raise InvalidArgument("Version id cannot be the empty string")
    return version_id


async def authorize_lock_headers(ctx: ReqCtx, req: VerifiedRequest, lock: LockRequest | None) -> None:
    """A write's lock headers need what their APIs need, as on AWS: a retention ``s3:PutObjectRetention``, a legal
    hold ``s3:PutObjectLegalHold`` (AccessDenied)."""
    if lock is None:
        return
    if lock.mode is not None:
        await authorize_action(ctx, req, "s3:PutObjectRetention", ctx.bucket, ctx.key)
    if lock.legal_hold is not None:
        await authorize_action(ctx, req, "s3:PutObjectLegalHold", ctx.bucket, ctx.key)


# --- integrity: AWS wants a digest of what is about to be locked -------------------------------------------
def carries_integrity(headers: Headers) -> bool:
    """A Content-MD5 or an ``x-amz-checksum-*`` of the body, in a header or announced as a trailer
    (``x-amz-content-sha256`` does not count, as on AWS)."""
    if "content-md5" in headers or any(name in headers for name in _CHECKSUM_HEADERS):
        return True
    return (headers.get("x-amz-trailer") or "").strip().lower() in _CHECKSUM_HEADERS


def require_integrity(headers: Headers) -> None:
    """Put{ObjectLockConfiguration,ObjectRetention,ObjectLegalHold}: InvalidRequest without a digest."""
    if not carries_integrity(headers):
        raise InvalidRequest("Missing required header for this request: Content-MD5 OR x-amz-checksum-*")


async def require_write_integrity(ctx: ReqCtx, locked: bool, what: str) -> None:
    """A PutObject (``what`` "Put Object") or UploadPart ("Put Part") that locks what it writes, by its own
    lock headers (``locked``) or the bucket's default retention: InvalidRequest without a digest."""
    if carries_integrity(ctx.headers):
        return
    if not locked:
        config = await ctx.layer.get_object_lock_config(ctx.bucket)
        if config is None or config.mode is None:
            return
    raise InvalidRequest(f"Content-MD5 OR x-amz-checksum- HTTP header is required for {what} requests with "
                         "Object Lock parameters")


async def may_bypass(authorizer: Authorizer, bucket: str, key: str, version_id: str | None) -> bool:
    """Whether the caller may bypass GOVERNANCE retention on the object (root may)."""
    return await authorizer.allowed(BYPASS_GOVERNANCE_ACTION, bucket, key, version_id=version_id)


async def bypass_governance(ctx: ReqCtx, req: VerifiedRequest, version_id: str | None) -> bool:
    """The request asks to bypass GOVERNANCE retention and its caller is allowed to."""
    if not bypass_requested(ctx.headers):
        return False
    return await may_bypass(await Authorizer.create(ctx, req), ctx.bucket, ctx.key, version_id)


# --- the bucket's configuration ----------------------------------------------------------------------------
def parse_lock_configuration(data: bytes) -> LockConfig:
    root = parse_xml(data, "ObjectLockConfiguration", MAX_BODY)
    if (root.findtext("ObjectLockEnabled") or "").strip() != "Enabled":
        raise MalformedXML()
    rule = root.find("Rule")
    if rule is None:
        return LockConfig()
    retention = rule.find("DefaultRetention")
    if retention is None:
        raise MalformedXML()
    mode = lock_mode((retention.findtext("Mode") or "").strip())
    days, years = retention.findtext("Days"), retention.findtext("Years")
    if mode is None or (days is None) == (years is None):
        raise MalformedXML()
    try:
        value = int((days if days is not None else years or "").strip())
    except ValueError:
        raise MalformedXML() from None
    if value <= 0:
        raise InvalidArgument("Default retention period must be a positive integer value.")
    if (value if days is not None else value * 365) > MAX_DAYS:
        raise InvalidArgument("Default retention period is too large.")
    return LockConfig(mode, value, 0) if days is not None else LockConfig(mode, 0, value)


def render_lock_configuration(config: LockConfig) -> bytes:
    w = XmlWriter("ObjectLockConfiguration")
    w.elem("ObjectLockEnabled", "Enabled")
    if config.mode is not None:
        w.open("Rule")
        w.open("DefaultRetention")
        w.elem("Mode", config.mode)
        if config.days:
            w.elem("Days", config.days)
        else:
            w.elem("Years", config.years)
        w.close("DefaultRetention")
        w.close("Rule")
    return w.finish()


async def handle_put_object_lock_configuration(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    require_integrity(ctx.headers)
    config = parse_lock_configuration(await read_small_body(req.body, ctx.headers, MAX_BODY))
    await ctx.layer.put_object_lock_config(ctx.bucket, config)
    return Response(status=200)


async def handle_get_object_lock_configuration(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    config = await ctx.layer.get_object_lock_config(ctx.bucket)
    if config is None:
        raise ObjectLockConfigurationNotFoundError()
    return xml_response(render_lock_configuration(config))


async def _object_with_lock(ctx: ReqCtx) -> ObjectInfo:
    """The version a Get{Retention,LegalHold} names, in a bucket with object lock (InvalidRequest otherwise)."""
    if await ctx.layer.get_object_lock_config(ctx.bucket) is None:
        raise InvalidRequest(NO_LOCK_CONFIG)
    return await ctx.layer.get_object_info(ctx.bucket, ctx.key, version_id_param(ctx.query))


# --- retention ---------------------------------------------------------------------------------------------
def parse_retention(data: bytes) -> tuple[LockMode | None, float]:
    """``<Retention>`` -> (mode, retain-until); an empty one (neither) removes the retention."""
    root = parse_xml(data, "Retention", MAX_BODY)
    raw_mode, raw_until = root.findtext("Mode"), root.findtext("RetainUntilDate")
    if raw_mode is None and raw_until is None:
        return None, 0.0
    if raw_mode is None or raw_until is None:
        raise MalformedXML()
    mode = lock_mode(raw_mode.strip())
    until = parse_iso_date(raw_until)
    if mode is None or until is None:
        raise MalformedXML()
    if until <= time.time():
        raise InvalidArgument(PAST)
    return mode, until


async def handle_put_object_retention(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    require_integrity(ctx.headers)
    mode, until = parse_retention(await read_small_body(req.body, ctx.headers, MAX_BODY))
    version_id = version_id_param(ctx.query)
    # Authorized here, not before the handler: the document holds the s3:object-lock-* condition keys.
    await authorize_action(ctx, req, "s3:PutObjectRetention", ctx.bucket, ctx.key, version_id=version_id,
                           conditions=lock_conditions(mode, until if mode else None, None))
    bypass = await bypass_governance(ctx, req, version_id)
    await ctx.layer.put_object_retention(ctx.bucket, ctx.key, version_id, mode, until, bypass_governance=bypass)
    return Response(status=200)


async def handle_get_object_retention(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    info = await _object_with_lock(ctx)
    if not info.lock_mode:
        raise NoSuchObjectLockConfiguration()
    w = XmlWriter("Retention")
    w.elem("Mode", info.lock_mode)
    w.elem("RetainUntilDate", iso8601(info.lock_until))
    return xml_response(w.finish())


# --- legal hold ----------------------------------------------------------------------------------------------
def parse_legal_hold(data: bytes) -> bool:
    status = (parse_xml(data, "LegalHold", MAX_BODY).findtext("Status") or "").strip()
    if status not in ("ON", "OFF"):
        raise MalformedXML()
    return status == "ON"


async def handle_put_object_legal_hold(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    require_integrity(ctx.headers)
    on = parse_legal_hold(await read_small_body(req.body, ctx.headers, MAX_BODY))
    version_id = version_id_param(ctx.query)
    await authorize_action(ctx, req, "s3:PutObjectLegalHold", ctx.bucket, ctx.key, version_id=version_id,
                           conditions=lock_conditions(None, None, on))
    await ctx.layer.put_object_legal_hold(ctx.bucket, ctx.key, version_id, on)
    return Response(status=200)


async def handle_get_object_legal_hold(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    info = await _object_with_lock(ctx)
    if info.legal_hold is None:
        raise NoSuchObjectLockConfiguration()
    w = XmlWriter("LegalHold")
    w.elem("Status", "ON" if info.legal_hold else "OFF")
    return xml_response(w.finish())
