"""ListObjects (v1), ListObjectsV2 and ListObjectVersions.

The per-object loop appends one pre-escaped fragment per key: a 1000-key page is a few thousand string
operations. ``encoding-type=url`` encodes exactly the fields AWS encodes (v1: Key, Prefix, Delimiter, Marker,
NextMarker; v2: Key, Prefix, Delimiter, StartAfter; versions: Key, Prefix, Delimiter, KeyMarker,
NextKeyMarker; and CommonPrefixes' Prefix in all three), the way AWS does: UTF-8 percent-encoding with
``/`` kept and a space as ``+`` (so ``+`` itself is ``%2B``), which clients undo with ``unquote_plus``.
Tokens and version ids are never encoded. V2 continuation tokens are opaque to
clients: URL-safe base64 of the key to continue after.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote_plus

from storage_engine.api.acl import Owners, bucket_record
from storage_engine.api.context import ReqCtx, VerifiedRequest, int_param, xml_response
from storage_engine.api.xml import XmlWriter, escape, escape_all, iso8601
from storage_engine.errors import InvalidArgument
from storage_engine.http.types import Response
from storage_engine.objects.types import ListedObject, ListObjectsResult, ObjectInfo

MAX_KEYS = 1000


def encoding_type(query: dict[str, str]) -> bool:
    """True for ``encoding-type=url``; any other value is refused."""
    value = query.get("encoding-type")
    if value is None or value == "":
        return False
    if value.lower() != "url":
        raise InvalidArgument("Invalid Encoding Method specified in Request")
    return True


def encode_name(name: str, url: bool) -> str:
    return quote_plus(name, safe="/") if url else name


def _checksum_fragment(obj: ObjectInfo | ListedObject) -> str:
    if not obj.checksums:
        return ""
    algorithms = "".join(f"<ChecksumAlgorithm>{a}</ChecksumAlgorithm>" for a in obj.checksums)
    return algorithms + (f"<ChecksumType>{obj.checksum_type}</ChecksumType>" if obj.checksum_type else "")


def _contents(w: XmlWriter, objects: list[ListedObject], url: bool, owners: Owners | None) -> None:
    # A page in one comprehension, its keys and ETags checked for characters to escape all at once.
    keys = escape_all([encode_name(o.key, url) for o in objects])
    etags = escape_all([o.etag for o in objects])
    w.raw("".join([
        f"<Contents><Key>{key}</Key><LastModified>{iso8601(o.mod_time)}</LastModified>"
        f"<ETag>&quot;{etag}&quot;</ETag>{_checksum_fragment(o) if o.checksums else ''}<Size>{o.size}</Size>"
        f"{owners.xml(o.owner) if owners is not None else ''}<StorageClass>{o.storage_class}</StorageClass>"
        "</Contents>"
        for o, key, etag in zip(objects, keys, etags)]))


def _common_prefixes(w: XmlWriter, prefixes: list[str], url: bool) -> None:
    for prefix in prefixes:
        w.raw(f"<CommonPrefixes><Prefix>{escape(encode_name(prefix, url))}</Prefix></CommonPrefixes>")


async def _list(ctx: ReqCtx, prefix: str, delimiter: str, marker: str, max_keys: int) -> ListObjectsResult:
    if max_keys == 0:                     # nothing to list, but the bucket must still exist
        await ctx.layer.get_bucket_info(ctx.bucket)
        return ListObjectsResult([], [], False, None)
    return await ctx.layer.list_objects(ctx.bucket, prefix, delimiter, marker, max_keys)


async def handle_list_objects(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    q = ctx.query
    url = encoding_type(q)
    max_keys = int_param(q, "max-keys", MAX_KEYS, 0, MAX_KEYS, clamp_high=True)
    prefix, delimiter, marker = q.get("prefix", ""), q.get("delimiter", ""), q.get("marker", "")
    result = await _list(ctx, prefix, delimiter, marker, max_keys)
    w = XmlWriter("ListBucketResult")
    w.elem("Name", ctx.bucket)
    w.elem("Prefix", encode_name(prefix, url))
    w.elem("Marker", encode_name(marker, url))
    w.elem("MaxKeys", max_keys)
    if delimiter:
        w.elem("Delimiter", encode_name(delimiter, url))
    w.elem("IsTruncated", result.is_truncated)
    if result.is_truncated and result.next_marker is not None:
        w.elem("NextMarker", encode_name(result.next_marker, url))
    if url:
        w.elem("EncodingType", "url")
    owners = await Owners(ctx, await bucket_record(ctx)).load(o.owner for o in result.objects)
    _contents(w, result.objects, url, owners)   # v1 always has owners
    _common_prefixes(w, result.prefixes, url)
    return xml_response(w.finish())


def encode_token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode("utf-8", "surrogatepass")).decode("ascii")


def decode_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        raise InvalidArgument("The continuation token provided is incorrect") from None


async def handle_list_objects_v2(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    q = ctx.query
    url = encoding_type(q)
    max_keys = int_param(q, "max-keys", MAX_KEYS, 0, MAX_KEYS, clamp_high=True)
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    token, start_after = q.get("continuation-token") or None, q.get("start-after", "")   # empty: from the start
    marker = decode_token(token) if token is not None else start_after
    fetch_owner = q.get("fetch-owner", "").lower() == "true"
    result = await _list(ctx, prefix, delimiter, marker, max_keys)
    w = XmlWriter("ListBucketResult")
    w.elem("Name", ctx.bucket)
    w.elem("Prefix", encode_name(prefix, url))
    if delimiter:
        w.elem("Delimiter", encode_name(delimiter, url))
    w.elem("MaxKeys", max_keys)
    w.elem("KeyCount", len(result.objects) + len(result.prefixes))
    w.elem("IsTruncated", result.is_truncated)
    if token is not None:
        w.elem("ContinuationToken", token)
    if result.is_truncated and result.next_marker is not None:
        w.elem("NextContinuationToken", encode_token(result.next_marker))
    if start_after:
        w.elem("StartAfter", encode_name(start_after, url))
    if url:
        w.elem("EncodingType", "url")
    owners = await Owners(ctx, await bucket_record(ctx)).load(o.owner for o in result.objects) \
        if fetch_owner else None
    _contents(w, result.objects, url, owners)
    _common_prefixes(w, result.prefixes, url)
    return xml_response(w.finish())


async def handle_list_object_versions(ctx: ReqCtx, req: VerifiedRequest) -> Response:
    del req
    q = ctx.query
    url = encoding_type(q)
    max_keys = int_param(q, "max-keys", MAX_KEYS, 0, MAX_KEYS, clamp_high=True)
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    key_marker, version_marker = q.get("key-marker", ""), q.get("version-id-marker", "")
    if version_marker and not key_marker:
        raise InvalidArgument("A version-id marker cannot be specified without a key marker.")
    if max_keys == 0:
        await ctx.layer.get_bucket_info(ctx.bucket)
    result = await ctx.layer.list_object_versions(ctx.bucket, prefix, delimiter, key_marker,
                                                  version_marker, max(max_keys, 1))
    if max_keys == 0:
        result.versions, result.prefixes, result.is_truncated = [], [], False
    w = XmlWriter("ListVersionsResult")
    w.elem("Name", ctx.bucket)
    w.elem("Prefix", encode_name(prefix, url))
    w.elem("KeyMarker", encode_name(key_marker, url))
    w.elem("VersionIdMarker", version_marker)
    if result.is_truncated:
        if result.next_key_marker is not None:
            w.elem("NextKeyMarker", encode_name(result.next_key_marker, url))
        if result.next_version_id_marker is not None:
            w.elem("NextVersionIdMarker", result.next_version_id_marker)
    w.elem("MaxKeys", max_keys)
    if delimiter:
        w.elem("Delimiter", encode_name(delimiter, url))
    w.elem("IsTruncated", result.is_truncated)
    if url:
        w.elem("EncodingType", "url")
    owners = await Owners(ctx, await bucket_record(ctx)).load(v.owner for v in result.versions)
    for v in result.versions:
        owner_xml = owners.xml(v.owner)
        key = escape(encode_name(v.key, url))
        common = (f"<Key>{key}</Key><VersionId>{escape(v.version_id)}</VersionId>"
                  f"<IsLatest>{'true' if v.is_latest else 'false'}</IsLatest>"
                  f"<LastModified>{iso8601(v.mod_time)}</LastModified>")
        if v.delete_marker:
            w.raw(f"<DeleteMarker>{common}{owner_xml}</DeleteMarker>")
        else:
            w.raw(f"<Version>{common}<ETag>&quot;{escape(v.etag)}&quot;</ETag>{_checksum_fragment(v)}"
                  f"<Size>{v.size}</Size>{owner_xml}<StorageClass>{v.storage_class}</StorageClass></Version>")
    _common_prefixes(w, result.prefixes, url)
    return xml_response(w.finish())
