"""Bucket ownership controls: Put/Get/DeleteBucketOwnershipControls (``/<bucket>?ownershipControls``).

::

    <OwnershipControls><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>

Kept in the bucket record (``BucketMeta.ownership``; "" = none set, which behaves as ObjectWriter). What each
setting means for ACLs and owners is in ``api/acl.py``. New buckets get BucketOwnerEnforced unless
CreateBucket's ``x-amz-object-ownership`` says otherwise (docs/iam.md "ACLs and owners").
"""

from __future__ import annotations

from dataclasses import replace

from storage_engine.api.acl import ENFORCED, OWNERSHIPS, bucket_owner, bucket_record, bucket_store, unpack_grants
from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest, xml_response
from storage_engine.api.xml import XmlWriter, parse_xml
from storage_engine.errors import (InvalidArgument, InvalidBucketAclWithObjectOwnership, MalformedXML,
                                   OwnershipControlsNotFoundError)
from storage_engine.http.types import Response

MAX_BODY = 8 * 1024


def parse_ownership(value: str) -> str:
    """An ObjectOwnership value (header or document); anything else -> InvalidArgument."""
    if value not in OWNERSHIPS:
        raise InvalidArgument(f"Invalid ObjectOwnership: {value!r}")
    return value


def parse_ownership_controls(data: bytes) -> str:
    root = parse_xml(data, "OwnershipControls", MAX_BODY)
    rules = root.findall("Rule")
    if len(rules) != 1:
        raise MalformedXML()
    value = rules[0].findtext("ObjectOwnership")
    if value is None:
        raise MalformedXML()
    return parse_ownership(value.strip())


async def handle_get_bucket_ownership_controls(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    meta = await bucket_record(ctx)
    if not meta.ownership:
        raise OwnershipControlsNotFoundError()
    w = XmlWriter("OwnershipControls")
    w.open("Rule")
    w.elem("ObjectOwnership", meta.ownership)
    w.close("Rule")
    return xml_response(w.finish())


async def handle_put_bucket_ownership_controls(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    ownership = parse_ownership_controls(await read_small_body(req.body, ctx.headers, MAX_BODY))
    meta = await bucket_record(ctx)
    if ownership == ENFORCED:
        # ACLs are disabled only once the bucket's ACL gives nobody but its owner anything (AWS).
        owner = bucket_owner(ctx, meta)
        if any(g.grantee != owner.id for g in unpack_grants(meta.acl, owner)):
            raise InvalidBucketAclWithObjectOwnership()
    await bucket_store(ctx).update(ctx.bucket, lambda current: replace(current, ownership=ownership))
    return Response(status=200)


async def handle_delete_bucket_ownership_controls(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    await bucket_record(ctx)
    await bucket_store(ctx).update(ctx.bucket, lambda current: replace(current, ownership=""))
    return Response(status=204)
