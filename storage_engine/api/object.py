"""Object handlers: PutObject, GetObject, HeadObject, DeleteObject.

GET and HEAD share one read plan (conditions, then part or range, then headers); GET streams the
bytes from the ObjectReader and closes it when the response is done (``Response.on_close``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from storage_engine.api.acl import bucket_record, marker_owner, new_object_access
from storage_engine.api.conditions import check_read_conditions, content_range, parse_range
from storage_engine.api.context import ReqCtx, VerifiedRequest, int_param, version_headers
from storage_engine.api.meta import MAX_SINGLE_PUT, checksum_headers, object_headers, put_options
from storage_engine.api.object_lock import authorize_lock_headers, bypass_governance, require_write_integrity
from storage_engine.api.sse import put_sse, read_customer_key, sse_headers
from storage_engine.api.xml import http_date, quote_etag
from storage_engine.errors import (
    EntityTooLarge,
    InvalidArgument,
    InvalidPartNumber,
    InvalidRequest,
    NotModified,
)
from storage_engine.http.types import Response
from storage_engine.objects.types import NULL_VERSION, ObjectInfo, ObjectLayer, ObjectReader

# GET bodies up to this size are read whole before the response starts (bounded memory either way).
SMALL_BODY = 64 * 1024

# response-<header> query parameters of a signed GET/HEAD override these stored headers.
_RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


def version_id_param(query: dict[str, str]) -> str | None:
    """The ``versionId`` query parameter; present but empty is an error, as on S3."""
    version_id = query.get("versionId")
    if version_id is None:
        return None
    if version_id == "":
        raise InvalidArgument("Version id cannot be the empty string")
    return version_id


async def handle_put_object(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    opts = put_options(ctx.headers, req.request.body.length)
    opts.sse = put_sse(ctx.headers, ctx.secure, ctx.settings)
    if opts.size is not None and opts.size > MAX_SINGLE_PUT:
        raise EntityTooLarge()
    opts.owner, opts.acl = await new_object_access(ctx, await bucket_record(ctx))
    await authorize_lock_headers(ctx, req, opts.lock)
    await require_write_integrity(ctx, opts.lock is not None, "Put Object")
    info = await ctx.layer.put_object(ctx.bucket, ctx.key, req.body, opts)
    headers = [("ETag", quote_etag(info.etag))]
    headers += version_headers(info.version_id)
    headers += checksum_headers(info.checksums, info.checksum_type)
    headers += sse_headers(info.sse, with_context=True)
    return Response(status=200, headers=headers)


async def open_object(layer: ObjectLayer, bucket: str, key: str, version_id: str | None,
                      customer_key: bytes | None) -> ObjectReader:
    """``get_object``, with the SSE-C key when the request gave one."""
    if customer_key is None:
        return await layer.get_object(bucket, key, version_id)
    return await layer.get_object(bucket, key, version_id, customer_key=customer_key)


async def object_info(layer: ObjectLayer, bucket: str, key: str, version_id: str | None,
                      customer_key: bytes | None) -> ObjectInfo:
    """``get_object_info``, with the SSE-C key when the request gave one."""
    if customer_key is None:
        return await layer.get_object_info(bucket, key, version_id)
    return await layer.get_object_info(bucket, key, version_id, customer_key=customer_key)


class _ReadPlan:
    """What a GET or HEAD returns: status, headers and the byte span of the object."""

    __slots__ = ("status", "headers", "offset", "length")

    def __init__(self, status: int, headers: list[tuple[str, str]], offset: int, length: int) -> None:
        self.status, self.headers, self.offset, self.length = status, headers, offset, length


def _plan_read(ctx: ReqCtx, info: ObjectInfo) -> _ReadPlan:
    headers = ctx.headers
    try:
        check_read_conditions(headers, info.etag, info.mod_time)
    except NotModified as exc:
        exc.headers.update({"ETag": quote_etag(info.etag), "Last-Modified": http_date(info.mod_time)})
        exc.headers.update(version_headers(info.version_id))
        raise
    out = object_headers(info) + sse_headers(info.sse)
    range_header = headers.get("range")
    checksum_mode = (headers.get("x-amz-checksum-mode") or "").upper() == "ENABLED"

    if "partNumber" in ctx.query:
        if range_header:
            raise InvalidRequest("Cannot specify both Range header and partNumber query parameter.")
        part_number = int_param(ctx.query, "partNumber", 1, 1, 10000)
        return _plan_part(info, part_number, out, checksum_mode)

    span = parse_range(range_header, info.size)
    if span is None:
        if checksum_mode:
            out += checksum_headers(info.checksums, info.checksum_type)
        return _ReadPlan(200, out, 0, info.size)
    offset, length = span
    out.append(("Content-Range", content_range(offset, length, info.size)))
    return _ReadPlan(206, out, offset, length)


def _plan_part(info: ObjectInfo, part_number: int, out: list[tuple[str, str]], checksum_mode: bool) -> _ReadPlan:
    """``?partNumber=N``: the bytes of part N of a multipart object (part 1 is all of any other)."""
    if not info.parts:
        if part_number != 1:
            raise InvalidPartNumber()
        if checksum_mode:
            out += checksum_headers(info.checksums, info.checksum_type)
        if info.size == 0:
            return _ReadPlan(200, out, 0, 0)
        out.append(("Content-Range", content_range(0, info.size, info.size)))
        return _ReadPlan(206, out, 0, info.size)
    if part_number > len(info.parts):
        raise InvalidPartNumber()
    offset = sum(part.size for part in info.parts[: part_number - 1])
    part = info.parts[part_number - 1]
    out.append(("x-amz-mp-parts-count", str(len(info.parts))))
    if checksum_mode and part.checksums:
        out += checksum_headers(part.checksums, info.checksum_type)
    if part.size == 0:
        return _ReadPlan(200, out, offset, 0)
    out.append(("Content-Range", content_range(offset, part.size, info.size)))
    return _ReadPlan(206, out, offset, part.size)


def _apply_overrides(query: dict[str, str], headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    overrides = {header.lower(): (header, query[param])
                 for param, header in _RESPONSE_OVERRIDES.items() if param in query}
    if not overrides:
        return headers
    kept = [(name, value) for name, value in headers if name.lower() not in overrides]
    return kept + list(overrides.values())


async def _primed(pieces: AsyncIterator[bytes | memoryview]) -> AsyncIterator[bytes | memoryview]:
    first = await anext(pieces, None)

    async def all_pieces() -> AsyncIterator[bytes | memoryview]:
        if first is not None:
            yield first
        async for piece in pieces:
            yield piece
    return all_pieces()


async def handle_get_object(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    customer_key = read_customer_key(ctx.headers, ctx.secure, ctx.settings)
    reader = await open_object(ctx.layer, ctx.bucket, ctx.key, version_id_param(ctx.query), customer_key)
    try:
        plan = _plan_read(ctx, reader.info)
        headers = _apply_overrides(ctx.query, plan.headers)
        if plan.length <= SMALL_BODY:
            # Small: read it now and send head and body in one write (no streaming machinery).
            body = b"".join([piece async for piece in reader.stream(plan.offset, plan.length)])
            await reader.close()
            return Response(status=plan.status, headers=headers, body=body, content_length=len(body))
        # The first piece before the headers: a source that fails at once (a tier that does not answer)
        # is an error status, not a cut body.
        body = await _primed(reader.stream_views(plan.offset, plan.length))
        return Response(status=plan.status, headers=headers, body=body, content_length=plan.length,
                        on_close=reader.close)
    except BaseException:
        await reader.close()
        raise


async def handle_head_object(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    customer_key = read_customer_key(ctx.headers, ctx.secure, ctx.settings)
    info = await object_info(ctx.layer, ctx.bucket, ctx.key, version_id_param(ctx.query), customer_key)
    plan = _plan_read(ctx, info)
    headers = _apply_overrides(ctx.query, plan.headers)
    # A HEAD response carries the length of the body a GET would send, and no body.
    return Response(status=plan.status, headers=headers, body=b"", content_length=plan.length)


async def handle_delete_object(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    version_id = version_id_param(ctx.query)
    owner = await marker_owner(ctx) if version_id is None else ""
    if await bypass_governance(ctx, req, version_id):       # docs/object-lock.md
        result = await ctx.layer.delete_object(ctx.bucket, ctx.key, version_id, owner=owner, bypass_governance=True)
    else:
        result = await ctx.layer.delete_object(ctx.bucket, ctx.key, version_id, owner=owner)
    headers: list[tuple[str, str]] = []
    if result.delete_marker:
        headers.append(("x-amz-delete-marker", "true"))
    if result.version_id and (result.version_id != NULL_VERSION or result.delete_marker):
        headers.append(("x-amz-version-id", result.version_id))
    return Response(status=204, headers=headers)
