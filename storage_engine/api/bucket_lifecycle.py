"""Bucket lifecycle: Put/Get/DeleteBucketLifecycleConfiguration (``/<bucket>?lifecycle``).

The document is parsed and validated by ``lifecycle/rules.py`` (AWS's errors) and kept in its canonical
form in the bucket's record; the scanner applies it (``objects/lifecycle.py``). A transition names a tier
this engine has (``lifecycle/registry.py``); any other storage class is refused with ``InvalidStorageClass``.
"""

from __future__ import annotations

from dataclasses import replace

from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest, xml_response
from storage_engine.api.public_access_block import bucket_records
from storage_engine.errors import NoSuchLifecycleConfiguration
from storage_engine.http.types import Response
from storage_engine.lifecycle import rules
from storage_engine.lifecycle.registry import TierRegistry
from storage_engine.objects.buckets import BucketStore


async def _buckets(ctx: ReqCtx) -> BucketStore:
    return await bucket_records(ctx, "lifecycle configurations", NoSuchLifecycleConfiguration)


async def _tier_names(ctx: ReqCtx) -> set[str]:
    tiers = getattr(ctx.layer, "tiers", None)
    return await tiers.names() if isinstance(tiers, TierRegistry) else set()


async def handle_put_bucket_lifecycle(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    buckets = await _buckets(ctx)
    body = await read_small_body(req.body, ctx.headers, rules.MAX_BODY)
    names = await _tier_names(ctx)
    canonical = rules.document(rules.parse(body, known_tier=names.__contains__))
    await buckets.update(ctx.bucket, lambda meta: replace(meta, lifecycle=canonical))
    return Response(status=200)


async def handle_get_bucket_lifecycle(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    meta = await (await _buckets(ctx)).get(ctx.bucket)
    if meta.lifecycle is None:
        raise NoSuchLifecycleConfiguration()
    return xml_response(meta.lifecycle)


async def handle_delete_bucket_lifecycle(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    await (await _buckets(ctx)).update(ctx.bucket, lambda meta: replace(meta, lifecycle=None))
    return Response(status=204)
