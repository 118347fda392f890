from __future__ import annotations

import pytest

from storage_engine.api.conditions import (
    check_copy_source_conditions,
    check_read_conditions,
    etag_matches,
    parse_copy_source_range,
    parse_range,
)
from storage_engine.errors import InvalidRange, NotModified, PreconditionFailed
from storage_engine.http.types import Headers

ETAG = "0123456789abcdef0123456789abcdef"
MTIME = 1_714_564_800.5          # Wed, 01 May 2024 12:00:00.5 GMT
AT = "Wed, 01 May 2024 12:00:00 GMT"
BEFORE = "Wed, 01 May 2024 11:00:00 GMT"
AFTER = "Wed, 01 May 2024 13:00:00 GMT"


@pytest.mark.parametrize(("header", "size", "expected"), [
    ("bytes=0-9", 100, (0, 10)),
    ("bytes=10-", 100, (10, 90)),
    ("bytes=-10", 100, (90, 10)),
    ("bytes=-1000", 100, (0, 100)),
    ("bytes=90-1000", 100, (90, 10)),
    ("bytes=99-99", 100, (99, 1)),
    (None, 100, None),
    ("bytes=5-1", 100, None),          # invalid: ignored
    ("items=0-1", 100, None),
    ("bytes=0-1,3-4", 100, None),     # multiple ranges: whole object
    ("bytes=a-b", 100, None),
    ("bytes=-", 100, None),
])
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=100-", 100), ("bytes=100-200", 100), ("bytes=-0", 100),
                                              ("bytes=0-", 0), ("bytes=-5", 0)])
def test_unsatisfiable_range(header: str, size: int) -> None:
    with pytest.raises(InvalidRange) as info:
        parse_range(header, size)
    assert info.value.headers["Content-Range"] == f"bytes */{size}"


def test_copy_source_range() -> None:
    assert parse_copy_source_range("bytes=0-4", 10) == (0, 5)
    for bad in ("bytes=0-10", "bytes=5-", "bytes=-5", "0-4", "bytes=4-3"):
        with pytest.raises(InvalidRange):
            parse_copy_source_range(bad, 10)


def test_etag_matches() -> None:
    assert etag_matches(f'"{ETAG}"', ETAG)
    assert etag_matches(ETAG, ETAG)
    assert etag_matches(f'"x", W/"{ETAG}"', ETAG)
    assert etag_matches("*", ETAG)
    assert not etag_matches('"x"', ETAG)


def _read(**headers: str) -> None:
    check_read_conditions(Headers((k.replace("_", "-"), v) for k, v in headers.items()), ETAG, MTIME)


def test_read_conditions_pass() -> None:
    _read()
    _read(if_match=f'"{ETAG}"', if_none_match='"other"')
    _read(if_modified_since=BEFORE, if_unmodified_since=AFTER)
    _read(if_unmodified_since=AT)          # not modified after AT (one-second resolution)
    _read(if_modified_since="garbage")


@pytest.mark.parametrize(("headers", "error"), [
    ({"if_match": '"other"'}, PreconditionFailed),
    ({"if_unmodified_since": BEFORE}, PreconditionFailed),
    ({"if_none_match": f'"{ETAG}"'}, NotModified),
    ({"if_none_match": "*"}, NotModified),
    ({"if_modified_since": AT}, NotModified),
    ({"if_modified_since": AFTER}, NotModified),
    # If-Match wins over If-Unmodified-Since; If-None-Match over If-Modified-Since (RFC 7232 6).
    ({"if_match": '"other"', "if_none_match": f'"{ETAG}"'}, PreconditionFailed),
    ({"if_none_match": f'"{ETAG}"', "if_modified_since": BEFORE}, NotModified),
])
def test_read_conditions_fail(headers: dict[str, str], error: type[Exception]) -> None:
    with pytest.raises(error):
        _read(**headers)


def test_precedence_ignores_weaker_header() -> None:
    _read(if_match=f'"{ETAG}"', if_unmodified_since=BEFORE)
    _read(if_none_match='"other"', if_modified_since=AFTER)


def test_copy_conditions_are_412() -> None:
    with pytest.raises(PreconditionFailed):
        check_copy_source_conditions(Headers([("x-amz-copy-source-if-none-match", f'"{ETAG}"')]), ETAG, MTIME)
    with pytest.raises(PreconditionFailed):
        check_copy_source_conditions(Headers([("x-amz-copy-source-if-modified-since", AFTER)]), ETAG, MTIME)
    check_copy_source_conditions(Headers([("x-amz-copy-source-if-match", ETAG)]), ETAG, MTIME)
