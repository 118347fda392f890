"""Bucket tagging: Put/Get/DeleteBucketTagging (``/<bucket>?tagging``), kept in the bucket's record
(``BucketMeta.tags``).

AWS's limits: at most 50 tags, keys 1-128 characters and unique, values up to 256, no key under the reserved
``aws:`` prefix (InvalidTag); a bucket without tags answers NoSuchTagSet. A PutBucketTagging replaces the whole
set; an empty ``<TagSet/>`` leaves none.
"""

from __future__ import annotations

from dataclasses import replace

from storage_engine.api.body import read_small_body
from storage_engine.api.context import ReqCtx, VerifiedRequest, xml_response
from storage_engine.api.public_access_block import bucket_records
from storage_engine.api.tagging import render_tagging
from storage_engine.api.xml import parse_xml
from storage_engine.errors import InvalidTag, MalformedXML, NoSuchTagSet
from storage_engine.http.types import Response
from storage_engine.objects.buckets import BucketStore

__all__ = ["handle_delete_bucket_tagging", "handle_get_bucket_tagging", "handle_put_bucket_tagging",
           "parse_bucket_tagging"]

MAX_BUCKET_TAGS = 50
MAX_KEY = 128
MAX_VALUE = 256
MAX_BODY = 64 * 1024
RESERVED_PREFIX = "aws:"


def parse_bucket_tagging(data: bytes) -> tuple[tuple[str, str], ...]:
    """``<Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging>`` -> the tags, in order."""
    root = parse_xml(data, "Tagging", MAX_BODY)
    tag_set = root.find("TagSet")
    if tag_set is None:
        raise MalformedXML()
    pairs: list[tuple[str, str]] = []
    for tag in tag_set.children:
        key, value = tag.findtext("Key"), tag.findtext("Value")
        if tag.tag != "Tag" or key is None or value is None:
            raise MalformedXML()
        pairs.append((key, value))
    if len(pairs) > MAX_BUCKET_TAGS:
        raise InvalidTag(f"Bucket tag count cannot be greater than {MAX_BUCKET_TAGS}")
    seen: set[str] = set()
    for key, value in pairs:
        if not key or len(key) > MAX_KEY:
            raise InvalidTag("The TagKey you have provided is invalid")
        if len(value) > MAX_VALUE:
            raise InvalidTag("The TagValue you have provided is invalid")
        if key.lower().startswith(RESERVED_PREFIX):
            raise InvalidTag('User-defined tag keys can\'t start with "aws:". This prefix is reserved for '
                             "system tags. Remove \"aws:\" from your tag keys and try again.")
        if key in seen:
            raise InvalidTag("Cannot provide multiple Tags with the same key")
        seen.add(key)
    return tuple(pairs)


async def _buckets(ctx: ReqCtx) -> BucketStore:
    return await bucket_records(ctx, "bucket tags", NoSuchTagSet)


async def handle_put_bucket_tagging(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    buckets = await _buckets(ctx)
    tags = parse_bucket_tagging(await read_small_body(req.body, ctx.headers, MAX_BODY))
    await buckets.update(ctx.bucket, lambda meta: replace(meta, tags=tags))
    return Response(status=204)


async def handle_get_bucket_tagging(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    meta = await (await _buckets(ctx)).get(ctx.bucket)
    if not meta.tags:
        raise NoSuchTagSet()
    return xml_response(render_tagging(dict(meta.tags)))


async def handle_delete_bucket_tagging(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    await (await _buckets(ctx)).update(ctx.bucket, lambda meta: replace(meta, tags=()))
    return Response(status=204)
