"""Bucket and key validation at the edge, before any name reaches storage.

Keys follow S3 (``objects/names.py``, the one rule storage applies too): ``a//b``, a leading ``/`` and
``.``/``..`` segments are plain names, never paths. A key no drive can hold (NUL, over 1,024 bytes) is
refused on writes; a read of one answers as for any key that does not exist.
"""

from __future__ import annotations

import re

from storage_engine.errors import InvalidBucketName, InvalidObjectName, KeyTooLongError, NoSuchKey
from storage_engine.objects.names import check_key

# AWS's general-purpose bucket naming rules.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def validate_bucket_name(bucket: str) -> None:
    """Raise InvalidBucketName unless ``bucket`` follows the S3 naming rules."""
    if (not _BUCKET.match(bucket) or ".." in bucket or ".-" in bucket or "-." in bucket
            or _IPV4.match(bucket) or bucket.startswith("xn--") or bucket.endswith("-s3alias")):
        raise InvalidBucketName()


def validate_key(key: str, *, reading: bool = False) -> None:
    """Raise KeyTooLongError or InvalidObjectName for keys storage must never see; NoSuchKey instead
    when ``reading`` (GET, HEAD): no such object can exist."""
    try:
        check_key(key)
    except (InvalidObjectName, KeyTooLongError):
        if reading:
            raise NoSuchKey() from None
        raise
