"""Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort, ListParts, ListMultipartUploads."""

from __future__ import annotations

from storage_engine.api.body import parse_content_md5, read_small_body
from storage_engine.objects.pipeline import StreamBody
from storage_engine.api.conditions import parse_copy_source_range
from storage_engine.api.context import ReqCtx, VerifiedRequest, int_param, version_headers, xml_response
from storage_engine.api.copy import copy_source_headers, open_copy_source, parse_copy_source
from storage_engine.api.object_lock import authorize_lock_headers, carries_integrity, require_write_integrity
from storage_engine.api.policy import authorize_copy_source
from storage_engine.api.acl import Owners, bucket_record, new_object_access
from storage_engine.api.listing import encode_name, encoding_type
from storage_engine.api.meta import (
    CHECKSUM_ALGORITHMS,
    checksum_algorithm,
    checksum_headers,
    declared_size,
    put_options,
    write_conditions,
)
from storage_engine.api.sse import customer_key_md5, part_customer_key, put_sse, sse_headers
from storage_engine.api.xml import XmlWriter, iso8601, parse_xml, quote_etag
from storage_engine.checksums import algorithm_of_header, validate_b64
from storage_engine.errors import EntityTooLarge, InvalidArgument, InvalidPart, MalformedXML
from storage_engine.http.types import Response
from storage_engine.objects.types import CompletePart, PutOptions, SseInfo, SseRequest

MAX_PART_SIZE = 5 << 30
MAX_PART_NUMBER = 10000
# 10,000 parts of ~200 bytes each, with room for whitespace.
MAX_COMPLETE_BODY = 4 << 20


def _upload_id(ctx: ReqCtx) -> str:
    upload_id = ctx.query.get("uploadId", "")
    if not upload_id:
        raise InvalidArgument("The uploadId must not be empty.")
    return upload_id


def _part_number(ctx: ReqCtx) -> int:
    if "partNumber" not in ctx.query:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive.")
    return int_param(ctx.query, "partNumber", 1, 1, MAX_PART_NUMBER)


async def handle_create_multipart_upload(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    opts = put_options(ctx.headers, None)
    opts.size = None
    opts.checksum_algorithm, opts.checksum_type = checksum_algorithm(ctx.headers)
    opts.sse = put_sse(ctx.headers, ctx.secure, ctx.settings)
    opts.owner, opts.acl = await new_object_access(ctx, await bucket_record(ctx))
    await authorize_lock_headers(ctx, req, opts.lock)
    upload_id = await ctx.layer.new_multipart_upload(ctx.bucket, ctx.key, opts)
    w = XmlWriter("InitiateMultipartUploadResult")
    w.elem("Bucket", ctx.bucket)
    w.elem("Key", ctx.key)
    w.elem("UploadId", upload_id)
    headers: list[tuple[str, str]] = []
    if opts.checksum_algorithm:
        headers.append(("x-amz-checksum-algorithm", opts.checksum_algorithm))
        headers.append(("x-amz-checksum-type", opts.checksum_type or "COMPOSITE"))
    headers += sse_headers(await _upload_sse(ctx, upload_id, opts.sse), with_context=True)
    return xml_response(w.finish(), headers=headers)


async def _upload_sse(ctx: ReqCtx, upload_id: str, requested: SseRequest | None) -> SseInfo | None:
    """The encryption the new upload got: the request's, or what the layer chose (bucket default, auto)."""
    if requested is not None and requested.mode == "C" and requested.customer_key is not None:
        return SseInfo(mode="C", customer_key_md5=customer_key_md5(requested.customer_key))
    upload = await ctx.layer.get_multipart_upload(ctx.bucket, ctx.key, upload_id)
    if upload.sse is not None or requested is None:
        return upload.sse
    return SseInfo(mode=requested.mode, kms_key_id=requested.kms_key_id, context=dict(requested.context))


def _part_sse_headers(part_sse: SseInfo | None, requested: SseRequest | None) -> list[tuple[str, str]]:
    """UploadPart's encryption headers: the upload's (as the layer reports it), else the request's SSE-C key."""
    if part_sse is not None:
        return sse_headers(part_sse)
    if requested is not None and requested.customer_key is not None:
        return sse_headers(SseInfo(mode="C", customer_key_md5=customer_key_md5(requested.customer_key)))
    return []


async def handle_upload_part(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    part_number, upload_id = _part_number(ctx), _upload_id(ctx)
    opts = PutOptions(content_md5=parse_content_md5(ctx.headers),
                      size=declared_size(ctx.headers, req.request.body.length),
                      sse=part_customer_key(ctx.headers, ctx.secure, ctx.settings))
    if opts.size is not None and opts.size > MAX_PART_SIZE:
        raise EntityTooLarge()
    if not carries_integrity(ctx.headers):
        upload = await ctx.layer.get_multipart_upload(ctx.bucket, ctx.key, upload_id)
        await require_write_integrity(ctx, upload.lock_requested, "Put Part")
    part = await ctx.layer.put_object_part(ctx.bucket, ctx.key, upload_id, part_number, req.body, opts)
    headers = [("ETag", quote_etag(part.etag))] + checksum_headers(part.checksums, None)
    headers += _part_sse_headers(part.sse, opts.sse)
    return Response(status=200, headers=headers)


async def handle_upload_part_copy(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    part_number, upload_id = _part_number(ctx), _upload_id(ctx)
    source = parse_copy_source(ctx.headers)
    await authorize_copy_source(ctx, req, source.bucket, source.key, source.version_id)
    sse = part_customer_key(ctx.headers, ctx.secure, ctx.settings)
    # Fail on a missing upload before reading anything from the source.
    await ctx.layer.get_multipart_upload(ctx.bucket, ctx.key, upload_id)
    reader = await open_copy_source(ctx, source)
    try:
        size = reader.info.size
        range_header = ctx.headers.get("x-amz-copy-source-range")
        offset, length = parse_copy_source_range(range_header, size) if range_header else (0, size)
        if length > MAX_PART_SIZE:
            raise EntityTooLarge()
        body = StreamBody(reader.stream(offset, length), length)
        part = await ctx.layer.put_object_part(ctx.bucket, ctx.key, upload_id, part_number, body,
                                               PutOptions(size=length, sse=sse))
    finally:
        await reader.close()
    w = XmlWriter("CopyPartResult")
    w.elem("LastModified", iso8601(part.mod_time))
    w.elem("ETag", quote_etag(part.etag))
    for algorithm, value in part.checksums.items():
        w.elem(f"Checksum{algorithm}", value)
    return xml_response(w.finish(), headers=copy_source_headers(reader) + _part_sse_headers(part.sse, sse))


def parse_complete_parts(data: bytes) -> list[CompletePart]:
    """The ``CompleteMultipartUpload`` document -> parts, as sent (order is checked by storage)."""
    root = parse_xml(data, "CompleteMultipartUpload", MAX_COMPLETE_BODY)
    parts: list[CompletePart] = []
    for node in root.findall("Part"):
        number_text = (node.findtext("PartNumber") or "").strip()
        etag = (node.findtext("ETag") or "").strip().strip('"')
        if not number_text.isdigit() or not 1 <= int(number_text) <= MAX_PART_NUMBER:
            raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive.")
        if not etag:
            raise InvalidPart()
        checksums = {}
        for algorithm in CHECKSUM_ALGORITHMS:
            value = node.findtext(f"Checksum{algorithm}")
            if value:
                checksums[algorithm] = value.strip()
        parts.append(CompletePart(int(number_text), etag, checksums))
    if not parts:
        raise MalformedXML("You must specify at least one part.")
    return parts


def _whole_object_checksums(ctx: ReqCtx) -> dict[str, str]:
    """Complete's x-amz-checksum-* headers describe the whole object, not the XML body."""
    expected: dict[str, str] = {}
    for name, value in ctx.headers.items():
        algorithm = algorithm_of_header(name)
        if algorithm:
            validate_b64(algorithm, value.split("-")[0])
            expected[algorithm] = value.strip()
    return expected


async def handle_complete_multipart_upload(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    upload_id = _upload_id(ctx)
    parts = parse_complete_parts(await read_small_body(req.body, ctx.headers, MAX_COMPLETE_BODY))
    opts = PutOptions(expected_checksums=_whole_object_checksums(ctx))
    write_conditions(ctx.headers, opts)
    info = await ctx.layer.complete_multipart_upload(ctx.bucket, ctx.key, upload_id, parts, opts)
    w = XmlWriter("CompleteMultipartUploadResult")
    w.elem("Location", f"/{ctx.bucket}/{ctx.key}")
    w.elem("Bucket", ctx.bucket)
    w.elem("Key", ctx.key)
    w.elem("ETag", quote_etag(info.etag))
    for algorithm, value in info.checksums.items():
        w.elem(f"Checksum{algorithm}", value)
    if info.checksums and info.checksum_type:
        w.elem("ChecksumType", info.checksum_type)
    return xml_response(w.finish(), headers=version_headers(info.version_id) + sse_headers(info.sse))


async def handle_abort_multipart_upload(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    await ctx.layer.abort_multipart_upload(ctx.bucket, ctx.key, _upload_id(ctx))
    return Response(status=204)


async def handle_list_parts(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    upload_id = _upload_id(ctx)
    max_parts = int_param(ctx.query, "max-parts", 1000, 0, 1000, clamp_high=True)
    marker = int_param(ctx.query, "part-number-marker", 0, 0)
    result = await ctx.layer.list_parts(ctx.bucket, ctx.key, upload_id, marker, max_parts)
    upload = result.upload
    w = XmlWriter("ListPartsResult")
    w.elem("Bucket", ctx.bucket)
    w.elem("Key", ctx.key)
    w.elem("UploadId", upload_id)
    owners = await Owners(ctx, await bucket_record(ctx)).load([upload.owner])
    w.raw(owners.xml(upload.owner, "Initiator") + owners.xml(upload.owner))
    w.elem("StorageClass", upload.storage_class)
    w.elem("PartNumberMarker", marker)
    if result.next_part_number_marker is not None:
        w.elem("NextPartNumberMarker", result.next_part_number_marker)
    w.elem("MaxParts", max_parts)
    w.elem("IsTruncated", result.is_truncated)
    if upload.checksum_algorithm:
        w.elem("ChecksumAlgorithm", upload.checksum_algorithm)
        w.elem("ChecksumType", upload.checksum_type or "COMPOSITE")
    for part in result.parts:
        w.open("Part")
        w.elem("PartNumber", part.number)
        w.elem("LastModified", iso8601(part.mod_time))
        w.elem("ETag", quote_etag(part.etag))
        w.elem("Size", part.size)
        for algorithm, value in part.checksums.items():
            w.elem(f"Checksum{algorithm}", value)
        w.close("Part")
    return xml_response(w.finish())


async def handle_list_multipart_uploads(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    query = ctx.query
    encode = encoding_type(query)
    max_uploads = int_param(query, "max-uploads", 1000, 0, 1000, clamp_high=True)
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
    key_marker, upload_id_marker = query.get("key-marker", ""), query.get("upload-id-marker", "")
    result = await ctx.layer.list_multipart_uploads(ctx.bucket, prefix, delimiter, key_marker,
                                                    upload_id_marker, max_uploads)
    owners = await Owners(ctx, await bucket_record(ctx)).load(u.owner for u in result.uploads)
    w = XmlWriter("ListMultipartUploadsResult")
    w.elem("Bucket", ctx.bucket)
    w.elem("KeyMarker", encode_name(key_marker, encode))
    w.elem("UploadIdMarker", upload_id_marker)
    if result.next_key_marker is not None:
        w.elem("NextKeyMarker", encode_name(result.next_key_marker, encode))
    if result.next_upload_id_marker is not None:
        w.elem("NextUploadIdMarker", result.next_upload_id_marker)
    w.elem("Prefix", encode_name(prefix, encode))
    if delimiter:
        w.elem("Delimiter", encode_name(delimiter, encode))
    w.elem("MaxUploads", max_uploads)
    w.elem("IsTruncated", result.is_truncated)
    if encode:
        w.elem("EncodingType", "url")
    for upload in result.uploads:
        w.open("Upload")
        w.elem("Key", encode_name(upload.key, encode))
        w.elem("UploadId", upload.upload_id)
        w.raw(owners.xml(upload.owner, "Initiator") + owners.xml(upload.owner))
        w.elem("StorageClass", upload.storage_class)
        w.elem("Initiated", iso8601(upload.initiated))
        if upload.checksum_algorithm:
            w.elem("ChecksumAlgorithm", upload.checksum_algorithm)
            w.elem("ChecksumType", upload.checksum_type or "COMPOSITE")
        w.close("Upload")
    for prefix_value in result.prefixes:
        w.open("CommonPrefixes")
        w.elem("Prefix", encode_name(prefix_value, encode))
        w.close("CommonPrefixes")
    return xml_response(w.finish())
