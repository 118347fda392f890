"""Bucket and key validation at the edge, before any name reaches storage.

Keys become paths on the drives, so anything that could escape a bucket's directory or alias another
key is refused here: NUL, ``.``/``..`` segments and empty segments (``//``, a leading ``/``). A
trailing ``/`` is allowed: "folder" markers such as ``photos/`` are ordinary S3 keys.
"""

from __future__ import annotations

import re

from storage_engine.errors import InvalidBucketName, InvalidObjectName, KeyTooLongError

MAX_KEY_BYTES = 1024

# AWS's general-purpose bucket naming rules.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def validate_bucket_name(bucket: str) -> None:
    """Raise InvalidBucketName unless ``bucket`` follows the S3 naming rules."""
    if (not _BUCKET.match(bucket) or ".." in bucket or ".-" in bucket or "-." in bucket
            or _IPV4.match(bucket) or bucket.startswith("xn--") or bucket.endswith("-s3alias")):
        raise InvalidBucketName()


def validate_key(key: str) -> None:
    """Raise KeyTooLongError or InvalidObjectName for keys storage must never see."""
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise KeyTooLongError()
    if not key:
        raise InvalidObjectName("The object key must not be empty.")
    if "\x00" in key:
        raise InvalidObjectName("Object keys must not contain NUL characters.")
    segments = key.split("/")
    if segments[-1] == "":              # "dir/": a folder marker; its last segment is empty by design
        segments.pop()
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidObjectName("Object keys must not contain empty, '.' or '..' path segments.")
