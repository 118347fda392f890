"""CopyObject, and the copy source shared with UploadPartCopy.

The source is opened as an ObjectReader and streamed into the destination through
:class:`~storage_engine.api.body.StreamBody`, so a copy never holds an object in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage_engine.api.acl import bucket_record, new_object_access
from storage_engine.objects.pipeline import StreamBody
from storage_engine.api.conditions import check_copy_source_conditions
from storage_engine.api.context import ReqCtx, VerifiedRequest, version_headers, xml_response
from storage_engine.api.meta import (
    MAX_SINGLE_PUT,
    checksum_headers,
    extract_metadata,
    lock_request,
    parse_tagging_header,
    storage_class,
    write_conditions,
)
from storage_engine.api.names import validate_bucket_name, validate_key
from storage_engine.api.object_lock import authorize_lock_headers
from storage_engine.api.policy import authorize_copy_source
from storage_engine.api.router import decode_path_segment
from storage_engine.api.sse import copy_source_customer_key, put_sse, sse_headers
from storage_engine.api.xml import XmlWriter, iso8601, quote_etag
from storage_engine.config import RESERVED_STORAGE_CLASSES
from storage_engine.errors import InvalidArgument, InvalidRequest, MethodNotAllowed
from storage_engine.http.types import Headers, Response
from storage_engine.objects.types import NULL_VERSION, ObjectReader, PutOptions

# Metadata that describes the stored bytes rather than the request: always copied with the data.
_DIRECTIVES = ("COPY", "REPLACE")


@dataclass(frozen=True, slots=True)
class CopySource:
    bucket: str
    key: str
    version_id: str | None


def parse_copy_source(headers: Headers) -> CopySource:
    """``x-amz-copy-source: [/]bucket/key[?versionId=id]``, URL-encoded."""
    raw = (headers.get("x-amz-copy-source") or "").strip()
    path, _, query = raw.partition("?")
    path = decode_path_segment(path).lstrip("/")
    bucket, slash, key = path.partition("/")
    if not slash or not bucket or not key or bucket.startswith("arn:"):
        raise InvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
    version_id: str | None = None
    if query:
        name, eq, value = query.partition("=")
        if name != "versionId" or not eq or not value:
            raise InvalidArgument("Unsupported copy source parameter.")
        version_id = decode_path_segment(value)
    validate_bucket_name(bucket)
    validate_key(key, reading=True)
    return CopySource(bucket, key, version_id)


async def open_copy_source(ctx: ReqCtx, source: CopySource) -> ObjectReader:
    """Open the source version (an SSE-C source with the ``x-amz-copy-source-server-side-encryption-
    customer-*`` key) and check ``x-amz-copy-source-if-*`` against it."""
    customer_key = copy_source_customer_key(ctx.headers, ctx.secure, ctx.settings)
    try:
        if customer_key is None:
            reader = await ctx.layer.get_object(source.bucket, source.key, source.version_id)
        else:
            reader = await ctx.layer.get_object(source.bucket, source.key, source.version_id,
                                                customer_key=customer_key)
    except MethodNotAllowed:
        raise InvalidRequest("The source of a copy request may not specifically refer to a delete marker "
                             "by version id.") from None
    try:
        check_copy_source_conditions(ctx.headers, reader.info.etag, reader.info.mod_time)
    except BaseException:
        await reader.close()
        raise
    return reader


def copy_source_headers(reader: ObjectReader) -> list[tuple[str, str]]:
    version_id = reader.info.version_id
    return [("x-amz-copy-source-version-id", version_id)] if version_id != NULL_VERSION else []


def _directive(headers: Headers, name: str) -> str:
    value = (headers.get(name) or "COPY").upper()
    if value not in _DIRECTIVES:
        raise InvalidArgument(f"Unknown {name} value: {value}")
    return value


async def handle_copy_object(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    headers = ctx.headers
    source = parse_copy_source(headers)
    await authorize_copy_source(ctx, req, source.bucket, source.key, source.version_id)
    # The destination's encryption is the request's (else the bucket default, else auto): never the source's.
    sse = put_sse(headers, ctx.secure, ctx.settings)
    metadata_directive = _directive(headers, "x-amz-metadata-directive")
    tagging_directive = _directive(headers, "x-amz-tagging-directive")
    owner, acl = await new_object_access(ctx, await bucket_record(ctx))     # a fresh ACL: never the source's
    lock = lock_request(headers)            # never the source's lock: the request's, or the bucket default
    await authorize_lock_headers(ctx, req, lock)
    reader = await open_copy_source(ctx, source)
    try:
        info = reader.info
        # A source on a tier (its class is the tier's name) copies to the hot set, as on AWS.
        new_class = storage_class(headers) if headers.get("x-amz-storage-class") else (
            info.storage_class if info.storage_class in RESERVED_STORAGE_CLASSES else "STANDARD")
        same_object = (source.bucket, source.key) == (ctx.bucket, ctx.key)
        if same_object and metadata_directive == "COPY" and new_class == info.storage_class and sse is None:
            raise InvalidRequest(
                "This copy request is illegal because it is trying to copy an object to itself without "
                "changing the object's metadata, storage class, website redirect location or encryption "
                "attributes.")
        if info.size > MAX_SINGLE_PUT:
            raise InvalidRequest("The specified copy source is larger than the maximum allowable size "
                                 "for a copy source: 5368709120")
        if metadata_directive == "REPLACE":
            metadata = extract_metadata(headers)
        else:
            metadata = {k: v for k, v in info.metadata.items() if k != "x-amz-storage-class"}
        if new_class != "STANDARD":
            metadata["x-amz-storage-class"] = new_class
        if tagging_directive == "REPLACE":
            tags = parse_tagging_header(headers.get("x-amz-tagging") or "")
        else:
            tags = dict(info.tags)
        opts = PutOptions(metadata=metadata, tags=tags, storage_class=new_class, size=info.size, sse=sse,
                          owner=owner, acl=acl)
        write_conditions(headers, opts)
        opts.lock = lock
        # Only a full-object checksum still describes the copy; a composite one described the parts.
        checksums = info.checksums if info.checksum_type != "COMPOSITE" and not info.parts else {}
        body = StreamBody(reader.stream(0, info.size), info.size, checksums)
        new = await ctx.layer.put_object(ctx.bucket, ctx.key, body, opts)
    finally:
        await reader.close()

    w = XmlWriter("CopyObjectResult")
    w.elem("LastModified", iso8601(new.mod_time))
    w.elem("ETag", quote_etag(new.etag))
    for algorithm, value in new.checksums.items():
        w.elem(f"Checksum{algorithm}", value)
    out = version_headers(new.version_id) + copy_source_headers(reader)
    out += checksum_headers(new.checksums, new.checksum_type)
    out += sse_headers(new.sse, with_context=True)
    return xml_response(w.finish(), headers=out)
