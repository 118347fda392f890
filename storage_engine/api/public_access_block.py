"""PublicAccessBlock: Put/Get/DeletePublicAccessBlock (``/<bucket>?publicAccessBlock``).

The document (each element optional, false when absent)::

    <PublicAccessBlockConfiguration>
      <BlockPublicAcls>true</BlockPublicAcls>              new public ACLs are refused      (api/acl.py)
      <IgnorePublicAcls>true</IgnorePublicAcls>            public ACL grants are ignored     (api/acl.py)
      <BlockPublicPolicy>true</BlockPublicPolicy>          a public bucket policy is refused (api/bucket_policy.py)
      <RestrictPublicBuckets>true</RestrictPublicBuckets>  a public policy allows only the owner's account
    </PublicAccessBlockConfiguration>                                                        (api/policy.py)

Kept in the bucket record (``BucketMeta.public_access_block``); :func:`public_access_block` is how every
module reads it.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace

from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest, xml_response
from storage_engine.api.xml import XmlWriter, parse_xml
from storage_engine.errors import MalformedXML, NoSuchPublicAccessBlockConfiguration, NotImplementedError_, S3Error
from storage_engine.http.types import Response
from storage_engine.objects.buckets import BucketMeta, BucketStore

__all__ = ["NO_BLOCK", "PublicAccessBlock", "bucket_records", "bucket_store", "public_access_block", "parse_public_access_block",
           "public_access_block_document"]

MAX_BODY = 8 * 1024
ROOT = "PublicAccessBlockConfiguration"
_FIELDS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@dataclass(frozen=True, slots=True)
class PublicAccessBlock:
    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False

    def as_tuple(self) -> tuple[bool, bool, bool, bool]:
        return (self.block_public_acls, self.ignore_public_acls, self.block_public_policy,
                self.restrict_public_buckets)


NO_BLOCK = PublicAccessBlock()


def public_access_block(meta: BucketMeta) -> PublicAccessBlock:
    """The bucket's settings (all false when none is configured)."""
    pab = meta.public_access_block
    return NO_BLOCK if pab is None else PublicAccessBlock(*pab)


def parse_public_access_block(data: bytes) -> PublicAccessBlock:
    root = parse_xml(data, ROOT, MAX_BODY)
    values: list[bool] = []
    for name in _FIELDS:
        text = (root.findtext(name) or "false").strip().lower()
        if text not in ("true", "false"):
            raise MalformedXML()
        values.append(text == "true")
    for child in root.children:
        if child.tag not in _FIELDS:
            raise MalformedXML()
    return PublicAccessBlock(*values)


def public_access_block_document(pab: PublicAccessBlock) -> bytes:
    w = XmlWriter(ROOT)
    for name, value in zip(_FIELDS, astuple(pab)):
        w.elem(name, bool(value))
    return w.finish()


def bucket_store(ctx: ReqCtx) -> BucketStore | None:
    """The layer's bucket records (``objects/layer.py``); None for a layer without them (test fakes)."""
    buckets = getattr(ctx.layer, "buckets", None)
    return buckets if isinstance(buckets, BucketStore) else None


async def bucket_records(ctx: ReqCtx, what: str, not_configured: type[S3Error] | None = None) -> BucketStore:
    """The bucket records a configuration handler reads and updates. A layer without them (test fakes)
    answers NoSuchBucket first, then a read with ``not_configured`` (as for a bucket without the
    configuration), anything else NotImplemented ("This server keeps no <what>.")."""
    buckets = bucket_store(ctx)
    if buckets is None:
        await ctx.layer.get_bucket_info(ctx.bucket)
        if not_configured is not None and ctx.endpoint.value.startswith("Get"):
            raise not_configured()
        raise NotImplementedError_(f"This server keeps no {what}.")
    return buckets


async def _buckets(ctx: ReqCtx) -> BucketStore:
    return await bucket_records(ctx, "bucket access settings")


async def handle_put_public_access_block(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    pab = parse_public_access_block(await read_small_body(req.body, ctx.headers, MAX_BODY))
    await (await _buckets(ctx)).update(ctx.bucket, lambda meta: replace(meta, public_access_block=pab.as_tuple()))
    return Response(status=200)


async def handle_get_public_access_block(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    meta = await (await _buckets(ctx)).get(ctx.bucket)
    if meta.public_access_block is None:
        raise NoSuchPublicAccessBlockConfiguration()
    return xml_response(public_access_block_document(public_access_block(meta)))


async def handle_delete_public_access_block(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    await (await _buckets(ctx)).update(ctx.bucket, lambda meta: replace(meta, public_access_block=None))
    return Response(status=204)
