"""Conditional requests (RFC 7232) and byte ranges (RFC 7233), as S3 applies them.

Precedence, as in RFC 7232 section 6 and S3's documentation:

1. ``If-Match`` fails -> 412; when it is absent, ``If-Unmodified-Since`` fails -> 412;
2. ``If-None-Match`` matches -> 304 (GET/HEAD); when it is absent, ``If-Modified-Since`` not
   modified -> 304.

For CopyObject's ``x-amz-copy-source-if-*`` every failure is 412. Dates that do not parse are ignored,
as the RFC says; times compare at one-second resolution, the resolution of ``Last-Modified``.
"""

from __future__ import annotations

import math
from email.utils import parsedate_to_datetime

from storage_engine.errors import InvalidRange, NotModified, PreconditionFailed, S3Error
from storage_engine.http.types import Headers


def parse_http_date(value: str | None) -> float | None:
    """Seconds since the epoch of an HTTP date, or None when absent or unparsable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def etag_matches(header: str, etag: str) -> bool:
    """Whether an ``If-Match``/``If-None-Match`` list (``"a", W/"b"`` or ``*``) names ``etag``."""
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*":
            return True
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate.strip('"') == etag:
            return True
    return False


def _evaluate(if_match: str | None, if_none_match: str | None, if_modified_since: str | None,
              if_unmodified_since: str | None, etag: str, mod_time: float, copy: bool) -> None:
    modified = math.floor(mod_time)
    if if_match is not None:
        if not etag_matches(if_match, etag):
            raise PreconditionFailed()
    else:
        since = parse_http_date(if_unmodified_since)
        if since is not None and modified > since:
            raise PreconditionFailed()
    not_modified = PreconditionFailed if copy else NotModified
    if if_none_match is not None:
        if etag_matches(if_none_match, etag):
            raise not_modified()
    else:
        since = parse_http_date(if_modified_since)
        if since is not None and modified <= since:
            raise not_modified()


def check_read_conditions(headers: Headers, etag: str, mod_time: float) -> None:
    """GET/HEAD preconditions: raises PreconditionFailed (412) or NotModified (304)."""
    _evaluate(headers.get("if-match"), headers.get("if-none-match"), headers.get("if-modified-since"),
              headers.get("if-unmodified-since"), etag, mod_time, copy=False)


def check_copy_source_conditions(headers: Headers, etag: str, mod_time: float) -> None:
    """CopyObject / UploadPartCopy ``x-amz-copy-source-if-*``: raises PreconditionFailed."""
    _evaluate(headers.get("x-amz-copy-source-if-match"), headers.get("x-amz-copy-source-if-none-match"),
              headers.get("x-amz-copy-source-if-modified-since"),
              headers.get("x-amz-copy-source-if-unmodified-since"), etag, mod_time, copy=True)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``Range`` -> ``(offset, length)`` of a single satisfiable range, or None for the whole object.

    Syntactically invalid or multi-range headers are ignored (whole object), as S3 does. A valid range
    that does not overlap the object raises InvalidRange (416) with ``Content-Range: bytes */size``.
    """
    if not header:
        return None
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or (not first and last.isdigit())) or (last and not last.isdigit()):
        return None
    if not first:                                   # suffix range: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        suffix = min(suffix, size)
        return size - suffix, suffix
    start = int(first)
    if last and int(last) < start:
        return None                                 # RFC 7233: invalid, so ignored
    end = int(last) if last else size - 1
    if start >= size:
        raise _unsatisfiable(size)
    end = min(end, size - 1)
    return start, end - start + 1


def parse_copy_source_range(header: str, size: int) -> tuple[int, int]:
    """``x-amz-copy-source-range: bytes=first-last`` (both required) -> ``(offset, length)``."""
    unit, sep, spec = header.strip().partition("=")
    first, dash, last = spec.partition("-")
    if (not sep or unit != "bytes" or not dash or not first.isdigit() or not last.isdigit()
            or int(last) < int(first)):
        raise InvalidRange("The x-amz-copy-source-range value must be of the form bytes=first-last "
                           "where first and last are the zero-based offsets of the first and last bytes to copy.")
    start, end = int(first), int(last)
    if end >= size:
        raise InvalidRange(f"Range specified is not valid for source object of size: {size}",
                           headers={"Content-Range": f"bytes */{size}"})
    return start, end - start + 1


def content_range(offset: int, length: int, size: int) -> str:
    return f"bytes {offset}-{offset + length - 1}/{size}"


def _unsatisfiable(size: int) -> S3Error:
    return InvalidRange(headers={"Content-Range": f"bytes */{size}"})
