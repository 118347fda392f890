"""Bucket handlers: ListBuckets (paged, filtered), Create/Delete/HeadBucket, GetBucketLocation, Get/PutBucketVersioning.

CreateBucket records the creator as the owner, the ACL of its ``x-amz-acl`` / ``x-amz-grant-*`` headers and
the ObjectOwnership of ``x-amz-object-ownership`` (BucketOwnerEnforced by default, as AWS; api/acl.py)."""

from __future__ import annotations

import base64

from storage_engine.api.acl import ENFORCED, Owner, bucket_owner, bucket_record, new_bucket_access, owner_xml
from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest, int_param, xml_response
from storage_engine.api.names import validate_bucket_name
from storage_engine.api.ownership import parse_ownership
from storage_engine.api.router import RESERVED_BUCKET
from storage_engine.api.xml import XmlWriter, iso8601, parse_xml
from storage_engine.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    IllegalLocationConstraintException,
    InvalidArgument,
    InvalidBucketName,
    MalformedXML,
    NotImplementedError_,
)
from storage_engine.http.types import Response
from storage_engine.objects.types import VersioningStatus

MAX_CONFIG_BODY = 64 * 1024
MAX_BUCKETS = 10000                 # ListBuckets' max-buckets: 1..10000
# us-east-1 is S3's default region: its LocationConstraint is empty.
DEFAULT_REGION = "us-east-1"


async def handle_list_buckets(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    """ListBuckets, by name; ``prefix``, ``bucket-region`` (this engine's region: all buckets, else none) and,
    with ``max-buckets`` (1..10000) or ``continuation-token``, one page at a time: ``ContinuationToken`` in the
    answer names where the next page starts (the last name listed, base64url)."""
    query = ctx.query
    prefix = query.get("prefix", "")
    paged = "max-buckets" in query or "continuation-token" in query
    limit = int_param(query, "max-buckets", MAX_BUCKETS, 1, MAX_BUCKETS)
    after = _decode_token(query["continuation-token"]) if query.get("continuation-token") else ""
    region = query.get("bucket-region")
    buckets = [] if region is not None and region != req.region else \
        sorted((b for b in await ctx.layer.list_buckets() if b.name.startswith(prefix) and b.name > after),
               key=lambda b: b.name)
    more = paged and len(buckets) > limit
    if paged:
        buckets = buckets[:limit]
    w = XmlWriter("ListAllMyBucketsResult")
    w.raw(owner_xml(Owner(ctx.identity.owner_id, ctx.identity.display_name)))   # the caller (the account)
    w.open("Buckets")
    for bucket in buckets:
        w.raw(f"<Bucket><Name>{bucket.name}</Name><CreationDate>{iso8601(bucket.created)}</CreationDate>"
              f"<BucketRegion>{req.region}</BucketRegion></Bucket>")
    w.close("Buckets")
    if more:
        w.elem("ContinuationToken", base64.urlsafe_b64encode(buckets[-1].name.encode()).decode())
    if "prefix" in query:
        w.elem("Prefix", prefix)
    return xml_response(w.finish())


def _decode_token(token: str) -> str:
    try:
        name = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeError):
        raise InvalidArgument("The continuation token provided is incorrect") from None
    if not name:
        raise InvalidArgument("The continuation token provided is incorrect")
    return name


async def handle_create_bucket(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    validate_bucket_name(ctx.bucket)
    if ctx.bucket == RESERVED_BUCKET:
        raise InvalidBucketName(f"The bucket name {RESERVED_BUCKET!r} is reserved.")
    body = await read_small_body(req.body, ctx.headers, MAX_CONFIG_BODY)
    if body.strip():
        config = parse_xml(body, "CreateBucketConfiguration", MAX_CONFIG_BODY)
        location = (config.findtext("LocationConstraint") or "").strip()
        # The request's region: the server's, or (no explicit region) the one the client signed for.
        if location and location != req.region and not (location == "US" and req.region == DEFAULT_REGION):
            raise IllegalLocationConstraintException(
                f"The {location} location constraint is incompatible for the region specific endpoint "
                "this request was sent to.")
    ownership = parse_ownership(ctx.headers.get("x-amz-object-ownership") or ENFORCED)
    acl = await new_bucket_access(ctx, ownership)
    creator = ctx.identity
    # Object lock (api/object_lock.py): enabled now, with versioning, or later by PutObjectLockConfiguration.
    lock = {"object_lock": True} if (ctx.headers.get("x-amz-bucket-object-lock-enabled") or "").strip().lower() \
        == "true" else {}
    try:
        await ctx.layer.make_bucket(ctx.bucket, owner=creator.owner_id,
                                    owner_name=creator.display_name, acl=acl,
                                    ownership=ownership, **lock)
    except BucketAlreadyOwnedByYou:
        if bucket_owner(ctx, await bucket_record(ctx)).id != creator.owner_id:
            raise BucketAlreadyExists() from None
        if req.region != DEFAULT_REGION:
            raise
        # us-east-1 keeps AWS's legacy answer: 200, and the bucket (its ACL included) is left as it was.
    return Response(status=200, headers=[("Location", f"/{ctx.bucket}")])


async def handle_delete_bucket(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    await ctx.layer.delete_bucket(ctx.bucket)
    return Response(status=204)


async def handle_head_bucket(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    await ctx.layer.get_bucket_info(ctx.bucket)
    return Response(status=200, headers=[("x-amz-bucket-region", req.region)])


async def handle_get_bucket_location(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    await ctx.layer.get_bucket_info(ctx.bucket)
    region = req.region     # the server's, or (no explicit region) the one the client signed for
    body = XmlWriter("LocationConstraint")
    if region != DEFAULT_REGION:
        body.raw(region)
    return xml_response(body.finish())


async def handle_get_bucket_versioning(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    status = await ctx.layer.get_bucket_versioning(ctx.bucket)
    w = XmlWriter("VersioningConfiguration")
    if status:
        w.elem("Status", status)
    return xml_response(w.finish())


async def handle_put_bucket_versioning(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    body = await read_small_body(req.body, ctx.headers, MAX_CONFIG_BODY)
    config = parse_xml(body, "VersioningConfiguration", MAX_CONFIG_BODY)
    raw_status = (config.findtext("Status") or "").strip()
    status: VersioningStatus
    if raw_status == "Enabled":
        status = "Enabled"
    elif raw_status == "Suspended":
        status = "Suspended"
    else:
        raise MalformedXML()
    if (config.findtext("MfaDelete") or "Disabled").strip() == "Enabled":
        raise NotImplementedError_("MFA delete is not supported.")
    await ctx.layer.set_bucket_versioning(ctx.bucket, status)
    return Response(status=200)

