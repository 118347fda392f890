"""GetObjectAttributes: ``GET /bucket/key?attributes`` with ``x-amz-object-attributes``.

The attributes are read from the version's metadata alone (no data is opened), as AWS reports them:

- ``ETag``: unquoted;
- ``Checksum``: the whole-object checksum and its ``ChecksumType``; a COMPOSITE checksum of a multipart
  object is the checksum of its parts' checksums, *without* the ``-N`` that GET and HEAD append;
- ``ObjectParts`` (multipart objects only): ``PartsCount`` and the parts (number, size, checksums), paged
  with ``x-amz-max-parts`` (default and ceiling 1000) and ``x-amz-part-number-marker``;
- ``StorageClass`` and ``ObjectSize``.

``versionId`` picks a version; a delete marker answers as HEAD does (404 or 405 with
``x-amz-delete-marker``); an SSE-C object needs the customer key headers, as HEAD does.
"""

from __future__ import annotations

from storage_engine.api.context import ReqCtx, VerifiedRequest, version_headers, xml_response
from storage_engine.api.object import object_info, version_id_param
from storage_engine.api.sse import read_customer_key
from storage_engine.api.xml import XmlWriter, http_date
from storage_engine.errors import InvalidArgument
from storage_engine.http.types import Response
from storage_engine.objects.types import ObjectInfo

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_PARTS = 1000


def requested_attributes(value: str | None) -> set[str]:
    """``x-amz-object-attributes: ETag,ObjectSize`` -> the names; missing or unknown -> InvalidArgument."""
    names = {name.strip() for name in (value or "").split(",") if name.strip()}
    if not names:
        raise InvalidArgument("The x-amz-object-attributes header specifying the attributes to be retrieved "
                              "is either missing or empty")
    unknown = sorted(names.difference(ATTRIBUTES))
    if unknown:
        raise InvalidArgument(f"Invalid attribute name specified: {unknown[0]}")
    return names


def _header_int(ctx: ReqCtx, name: str, default: int, high: int | None = None) -> int:
    raw = (ctx.headers.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise InvalidArgument(f"Provided {name} not an integer or within integer range")
    value = int(raw)
    return min(value, high) if high is not None else value


def _object_parts(w: XmlWriter, info: ObjectInfo, marker: int, max_parts: int) -> None:
    after = [part for part in info.parts if part.number > marker]
    page = after[:max_parts]
    truncated = len(after) > len(page)
    w.open("ObjectParts")
    w.elem("PartsCount", len(info.parts))
    w.elem("PartNumberMarker", marker)
    if page:
        w.elem("NextPartNumberMarker", page[-1].number)
    w.elem("MaxParts", max_parts)
    w.elem("IsTruncated", truncated)
    for part in page:
        w.open("Part")
        for algorithm, value in part.checksums.items():
            w.elem(f"Checksum{algorithm}", value)
        w.elem("PartNumber", part.number)
        w.elem("Size", part.size)
        w.close("Part")
    w.close("ObjectParts")


async def handle_get_object_attributes(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    wanted = requested_attributes(ctx.headers.get("x-amz-object-attributes"))
    max_parts = _header_int(ctx, "x-amz-max-parts", MAX_PARTS, MAX_PARTS)
    marker = _header_int(ctx, "x-amz-part-number-marker", 0)
    customer_key = read_customer_key(ctx.headers, ctx.secure, ctx.settings)
    info = await object_info(ctx.layer, ctx.bucket, ctx.key, version_id_param(ctx.query), customer_key)
    w = XmlWriter("GetObjectAttributesResponse")
    if "ETag" in wanted:
        w.elem("ETag", info.etag)
    if "Checksum" in wanted and info.checksums:
        w.open("Checksum")
        for algorithm, value in info.checksums.items():
            w.elem(f"Checksum{algorithm}", value.split("-", 1)[0])     # AWS drops the "-N" here
        if info.checksum_type:
            w.elem("ChecksumType", info.checksum_type)
        w.close("Checksum")
    if "ObjectParts" in wanted and info.parts:
        _object_parts(w, info, marker, max_parts)
    if "StorageClass" in wanted:
        w.elem("StorageClass", info.storage_class)
    if "ObjectSize" in wanted:
        w.elem("ObjectSize", info.size)
    headers = [("Last-Modified", http_date(info.mod_time))] + version_headers(info.version_id)
    return xml_response(w.finish(), headers=headers)
