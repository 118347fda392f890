"""``x-amz-expected-bucket-owner`` (and CopyObject / UploadPartCopy's ``x-amz-source-expected-bucket-owner``):
a request that names who must own its bucket is refused with 403 AccessDenied when someone else does.

An engine is one account (``iam.principal.ACCOUNT_ID``): the header matches when it is that account ID, or the
canonical ID of the bucket's owner (``api/acl.py`` ``bucket_owner``: its creator, the root user for older
records). A bucket that does not exist is left to the handler (NoSuchBucket). Only requests that carry one
of the headers pay for it (one cached bucket-record read); the app asks :func:`carries` first.
"""

from __future__ import annotations

from storage_engine.api.acl import bucket_owner, bucket_record
from storage_engine.api.context import ReqCtx
from storage_engine.api.copy import parse_copy_source
from storage_engine.errors import AccessDenied, NoSuchBucket
from storage_engine.http.types import Headers
from storage_engine.iam.principal import ACCOUNT_ID

__all__ = ["EXPECTED_OWNER", "SOURCE_EXPECTED_OWNER", "carries", "check_expected_owner"]

EXPECTED_OWNER = "x-amz-expected-bucket-owner"
SOURCE_EXPECTED_OWNER = "x-amz-source-expected-bucket-owner"


def carries(headers: Headers) -> bool:
    return EXPECTED_OWNER in headers or SOURCE_EXPECTED_OWNER in headers


async def check_expected_owner(ctx: ReqCtx) -> None:
    """AccessDenied unless the request's bucket (and a copy's source bucket) is owned as its headers expect."""
    expected = ctx.headers.get(EXPECTED_OWNER)
    if expected is not None and ctx.bucket:
        await _check(ctx, ctx.bucket, expected)
    source_expected = ctx.headers.get(SOURCE_EXPECTED_OWNER)
    if source_expected is not None and "x-amz-copy-source" in ctx.headers:
        await _check(ctx, parse_copy_source(ctx.headers).bucket, source_expected)


async def _check(ctx: ReqCtx, bucket: str, expected: str) -> None:
    try:
        meta = await bucket_record(ctx, bucket)
    except NoSuchBucket:
        return
    if expected.strip() not in (ACCOUNT_ID, bucket_owner(ctx, meta).id):
        raise AccessDenied()
