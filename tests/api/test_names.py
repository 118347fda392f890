from __future__ import annotations

import pytest

from storage_engine.api.names import validate_bucket_name, validate_key
from storage_engine.errors import InvalidBucketName, InvalidObjectName, KeyTooLongError, NoSuchKey


@pytest.mark.parametrize("name", ["abc", "my-bucket.1", "a" * 63, "0ab"])
def test_valid_buckets(name: str) -> None:
    validate_bucket_name(name)


@pytest.mark.parametrize("name", ["ab", "a" * 64, "ABC", "a_b", "-ab", "ab-", "a..b", "a.-b",
                                  "192.168.1.1", "xn--abc", "abc-s3alias", "..", "a/b", ""])
def test_invalid_buckets(name: str) -> None:
    with pytest.raises(InvalidBucketName):
        validate_bucket_name(name)


@pytest.mark.parametrize("key", ["a", "dir/", "a/b/c", "a b+c", "\u20ac/x", "a..b", ".hidden", "x" * 1024,
                                 "/", "a//b", "/a", "../a", "a/../b", "a/.", ".", "..", "dir//", "s" * 300])
def test_valid_keys(key: str) -> None:
    validate_key(key)


@pytest.mark.parametrize("key", ["", "a\x00b"])
def test_invalid_keys(key: str) -> None:
    with pytest.raises(InvalidObjectName):
        validate_key(key)
    with pytest.raises(NoSuchKey):
        validate_key(key, reading=True)


def test_key_too_long() -> None:
    with pytest.raises(KeyTooLongError):
        validate_key("x" * 1025)
    with pytest.raises(KeyTooLongError):
        validate_key("\u20ac" * 342)          # 1026 bytes in UTF-8
