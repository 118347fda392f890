"""Validation of bucket names, object keys, version ids and upload ids.

Everything a client names ends up as a path on a drive, so nothing reaches a drive before passing here.
A key is what S3 accepts: 1 to 1,024 bytes of UTF-8, with ``a//b``, a leading ``/`` and ``.``/``..``
segments as plain names (``drives.paths`` gives every such key a place inside its bucket directory,
never a path out of it). NUL, which no file system name can hold, is refused.
"""

from __future__ import annotations

import re

from storage_engine.errors import InvalidArgument, InvalidBucketName, InvalidObjectName, KeyTooLongError

MAX_KEY_BYTES = 1024

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")

NULL_VERSION = "null"


def is_valid_bucket(name: str) -> bool:
    """S3's rules: 3-63 characters of lowercase letters, digits, dots and hyphens, starting and ending
    with a letter or digit, no ``..``/``.-``/``-.``, not shaped like an IP address."""
    return bool(_BUCKET.match(name)) and ".." not in name and ".-" not in name and "-." not in name \
        and not _IPV4.match(name)


def check_bucket(name: str) -> None:
    if not is_valid_bucket(name):
        raise InvalidBucketName(resource=name)


def check_key(key: str) -> None:
    if not key:
        raise InvalidObjectName("The object key must not be empty.")
    try:
        size = len(key.encode())
    except UnicodeEncodeError as exc:
        raise InvalidObjectName("The object key is not valid UTF-8.") from exc
    if size > MAX_KEY_BYTES:
        raise KeyTooLongError()
    if "\x00" in key:
        raise InvalidObjectName("The object key must not contain NUL.")


def check_version_id(version_id: str) -> None:
    if version_id != NULL_VERSION and not _UUID.match(version_id):
        raise InvalidArgument("Invalid version id specified")


def is_valid_upload_id(upload_id: str) -> bool:
    return bool(_UPLOAD_ID.match(upload_id))
