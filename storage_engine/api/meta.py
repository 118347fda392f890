"""Object metadata at the HTTP edge: request headers -> PutOptions, ObjectInfo -> response headers.

Stored metadata maps lower-case header names to values (see ``objects/types.py``): the standard
content headers, ``x-amz-meta-*``, ``x-amz-storage-class`` (only when not STANDARD) and
``x-amz-website-redirect-location``.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from urllib.parse import parse_qsl

from storage_engine.api.body import parse_content_md5
from storage_engine.api.xml import http_date, iso8601, quote_etag
from storage_engine.errors import (
    InvalidArgument,
    InvalidRequest,
    InvalidStorageClass,
    InvalidTag,
    MetadataTooLarge,
    NotImplementedError_,
)
from storage_engine.http.types import Headers
from storage_engine.objects.object_lock import MODES, LockMode, LockRequest
from storage_engine.objects.types import (
    ChecksumAlgorithm,
    ChecksumType,
    ObjectInfo,
    PutOptions,
)

DEFAULT_CONTENT_TYPE = "binary/octet-stream"
CONTENT_HEADERS = ("content-type", "cache-control", "content-disposition", "content-encoding",
                   "content-language", "expires")
STORAGE_CLASSES = ("STANDARD", "REDUCED_REDUNDANCY")
USER_META_PREFIX = "x-amz-meta-"
MAX_USER_METADATA = 2048            # bytes of names (without the prefix) and values, as AWS counts
MAX_SINGLE_PUT = 5 << 30             # 5 GiB: larger objects must use multipart
CHECKSUM_ALGORITHMS: tuple[ChecksumAlgorithm, ...] = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")

MAX_TAGS = 10
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256


def validate_tags(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """S3's tag rules: at most 10, keys 1-128 characters and unique, values up to 256."""
    if len(pairs) > MAX_TAGS:
        raise InvalidTag("Object tags cannot be greater than 10")
    tags: dict[str, str] = {}
    for key, value in pairs:
        if not key or len(key) > MAX_TAG_KEY:
            raise InvalidTag("The TagKey you have provided is invalid")
        if len(value) > MAX_TAG_VALUE:
            raise InvalidTag("The TagValue you have provided is invalid")
        if key in tags:
            raise InvalidTag("Cannot provide multiple Tags with the same key")
        tags[key] = value
    return tags


def parse_tagging_header(value: str) -> dict[str, str]:
    """``x-amz-tagging: k1=v1&k2=v2`` -> validated tags, accepted as AWS accepts them: URL query syntax
    (``%XX`` escapes of UTF-8, ``+`` for a space), raw UTF-8 as well, and empty values (``k=`` or a bare ``k``)."""
    try:
        # Header values arrive as latin-1 text (http/connection.py): raw UTF-8 bytes are re-read as UTF-8.
        value = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass                # not UTF-8 bytes: taken as the text it is
    try:
        pairs = parse_qsl(value, keep_blank_values=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded "
                              "URL query parameters without tag name duplicates.") from None
    return validate_tags(pairs)


def content_encoding(value: str) -> str:
    """Drop ``aws-chunked`` (a transfer detail of the upload) from Content-Encoding."""
    codings = [c.strip() for c in value.split(",") if c.strip() and c.strip().lower() != "aws-chunked"]
    return ", ".join(codings)


def storage_class(headers: Headers) -> str:
    value = headers.get("x-amz-storage-class")
    if value is None or value == "":
        return "STANDARD"
    if value not in STORAGE_CLASSES:
        raise InvalidStorageClass()
    return value


def extract_metadata(headers: Headers) -> dict[str, str]:
    """The headers of a PUT/Create/Copy(REPLACE) request that are stored with the object."""
    metadata: dict[str, str] = {}
    user_size = 0
    for name, value in headers.items():                 # names are lower case already
        if name.startswith(USER_META_PREFIX):
            user_size += len(name) - len(USER_META_PREFIX) + len(value.encode("utf-8", "surrogateescape"))
            # Repeated headers are joined as HTTP allows.
            metadata[name] = f"{metadata[name]},{value}" if name in metadata else value
        elif name in CONTENT_HEADERS:
            if name == "content-encoding":
                value = content_encoding(value)
                if not value:
                    continue
            metadata[name] = value
        elif name == "x-amz-website-redirect-location":
            metadata[name] = value
    if user_size > MAX_USER_METADATA:
        raise MetadataTooLarge()
    metadata.setdefault("content-type", DEFAULT_CONTENT_TYPE)
    cls = storage_class(headers)
    if cls != "STANDARD":
        metadata["x-amz-storage-class"] = cls
    return metadata


def declared_size(headers: Headers, raw_length: int | None) -> int | None:
    """The decoded body length: ``x-amz-decoded-content-length`` for aws-chunked, else Content-Length."""
    decoded = headers.get("x-amz-decoded-content-length")
    raw = decoded if decoded is not None else (str(raw_length) if raw_length is not None else None)
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidArgument("Invalid content length.")
    return int(raw)


def checksum_algorithm(headers: Headers) -> tuple[ChecksumAlgorithm | None, ChecksumType | None]:
    """CreateMultipartUpload's ``x-amz-checksum-algorithm`` and ``x-amz-checksum-type``."""
    raw_algorithm = (headers.get("x-amz-checksum-algorithm") or "").upper()
    raw_type = (headers.get("x-amz-checksum-type") or "").upper()
    algorithm: ChecksumAlgorithm | None = None
    for candidate in CHECKSUM_ALGORITHMS:
        if candidate == raw_algorithm:
            algorithm = candidate
    if raw_algorithm and algorithm is None:
        raise InvalidRequest("Value for x-amz-checksum-algorithm header is invalid.")
    if not raw_type:
        if algorithm is None:
            return None, None
        # CRC64NVME only combines as a full-object checksum; the others default to composite.
        return algorithm, "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"
    if raw_type not in ("FULL_OBJECT", "COMPOSITE"):
        raise InvalidRequest("Value for x-amz-checksum-type header is invalid.")
    if algorithm is None:
        raise InvalidRequest("The x-amz-checksum-type header requires x-amz-checksum-algorithm.")
    checksum_type: ChecksumType = "FULL_OBJECT" if raw_type == "FULL_OBJECT" else "COMPOSITE"
    if (checksum_type == "FULL_OBJECT" and algorithm in ("SHA1", "SHA256")) or (
            checksum_type == "COMPOSITE" and algorithm == "CRC64NVME"):
        raise InvalidRequest(f"The {checksum_type} checksum type cannot be used with the "
                             f"{algorithm.lower()} checksum algorithm.")
    return algorithm, checksum_type


def write_conditions(headers: Headers, opts: PutOptions) -> None:
    """Conditional writes: ``If-None-Match: *`` or ``<etag>``, and ``If-Match: <etag>``."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            opts.if_none_match_star = True
        else:
            opts.if_none_match = if_none_match.strip().removeprefix("W/").strip('"')
    if_match = headers.get("if-match")
    if if_match is not None:
        opts.if_match = if_match.strip().removeprefix("W/").strip('"')


def put_options(headers: Headers, raw_length: int | None) -> PutOptions:
    """Everything PutObject takes from its headers (bodies are the caller's business)."""
    opts = PutOptions(metadata=extract_metadata(headers), storage_class=storage_class(headers),
                      content_md5=parse_content_md5(headers), size=declared_size(headers, raw_length),
                      lock=lock_request(headers))
    tagging = headers.get("x-amz-tagging")
    if tagging is not None:
        opts.tags = parse_tagging_header(tagging)
    write_conditions(headers, opts)
    return opts


def checksum_headers(checksums: dict[str, str], checksum_type: str | None) -> list[tuple[str, str]]:
    headers = [(f"x-amz-checksum-{algorithm.lower()}", value) for algorithm, value in checksums.items()]
    if headers and checksum_type:
        headers.append(("x-amz-checksum-type", checksum_type))
    return headers


def object_headers(info: ObjectInfo) -> list[tuple[str, str]]:
    """Headers describing an object version on GET/HEAD (without length, range or checksums)."""
    headers = [("ETag", quote_etag(info.etag)), ("Last-Modified", http_date(info.mod_time)),
               ("Accept-Ranges", "bytes")]
    metadata = info.metadata
    headers.append(("Content-Type", metadata.get("content-type", DEFAULT_CONTENT_TYPE)))
    for name, value in metadata.items():
        if name not in ("content-type", "x-amz-storage-class"):
            headers.append((name, value))
    if info.storage_class != "STANDARD":       # a transitioned version's class is its tier's name
        headers.append(("x-amz-storage-class", info.storage_class))
    if info.restored_until:                    # RestoreObject made a copy on the hot drives (api/restore.py)
        headers.append(("x-amz-restore",
                        f'ongoing-request="false", expiry-date="{http_date(info.restored_until)}"'))
    if info.version_id and info.version_id != "null":
        headers.append(("x-amz-version-id", info.version_id))
    if info.tags:
        headers.append(("x-amz-tagging-count", str(len(info.tags))))
    return headers + lock_headers(info)


# --- object lock (docs/object-lock.md; the rules: objects/object_lock.py) -----------------------------------
PAST = "The retain until date must be in the future!"


def lock_mode(text: str | None) -> LockMode | None:
    for mode in MODES:
        if mode == text:
            return mode
    return None


def parse_iso_date(text: str) -> float | None:
    """An ISO 8601 timestamp (``2030-01-01T00:00:00Z``, fractions and offsets allowed) -> epoch seconds."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def lock_request(headers: Headers) -> LockRequest | None:
    """The ``x-amz-object-lock-*`` headers of a write (None: none given), checked as AWS checks them."""
    raw_mode = headers.get("x-amz-object-lock-mode")
    raw_until = headers.get("x-amz-object-lock-retain-until-date")
    raw_hold = headers.get("x-amz-object-lock-legal-hold")
    if raw_mode is None and raw_until is None and raw_hold is None:
        return None
    if (raw_mode is None) != (raw_until is None):
        raise InvalidArgument("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")
    mode: LockMode | None = None
    until = 0.0
    if raw_mode is not None and raw_until is not None:
        mode = lock_mode(raw_mode.strip().upper())
        if mode is None:
            raise InvalidArgument("Unknown wormMode directive.")
        parsed = parse_iso_date(raw_until)
        if parsed is None:
            raise InvalidArgument("The retain until date must be provided in ISO 8601 format")
        if parsed <= time.time():
            raise InvalidArgument(PAST)
        until = parsed
    hold: bool | None = None
    if raw_hold is not None:
        if raw_hold.strip().upper() not in ("ON", "OFF"):
            raise InvalidArgument("Legal Hold must be either of 'ON' or 'OFF'")
        hold = raw_hold.strip().upper() == "ON"
    return LockRequest(mode, until, hold)


def bypass_requested(headers: Headers) -> bool:
    """``x-amz-bypass-governance-retention: true`` (honoured only for callers allowed s3:BypassGovernanceRetention)."""
    return (headers.get("x-amz-bypass-governance-retention") or "").strip().lower() == "true"


def lock_headers(info: ObjectInfo) -> list[tuple[str, str]]:
    """What GET and HEAD say of a version's lock."""
    headers: list[tuple[str, str]] = []
    if info.lock_mode:
        headers.append(("x-amz-object-lock-mode", info.lock_mode))
        headers.append(("x-amz-object-lock-retain-until-date", iso8601(info.lock_until)))
    if info.legal_hold is not None:
        headers.append(("x-amz-object-lock-legal-hold", "ON" if info.legal_hold else "OFF"))
    return headers
