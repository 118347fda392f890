from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator

import pytest

from storage_engine.api.body import parse_content_md5
from storage_engine.objects.pipeline import StreamBody
from storage_engine.api.listing import decode_token, encode_name, encode_token
from storage_engine.api.meta import (
    checksum_algorithm,
    content_encoding,
    extract_metadata,
    parse_tagging_header,
    put_options,
    validate_tags,
)
from storage_engine.errors import (
    IncompleteBody,
    InvalidArgument,
    InvalidDigest,
    InvalidRequest,
    InvalidStorageClass,
    InvalidTag,
    MetadataTooLarge,
)
from storage_engine.http.types import Headers


def H(**items: str) -> Headers:
    return Headers((k.replace("_", "-"), v) for k, v in items.items())


def test_metadata_extraction() -> None:
    meta = extract_metadata(H(x_amz_meta_color="blue", cache_control="no-cache", content_encoding="aws-chunked,gzip",
                              authorization="x", x_amz_storage_class="REDUCED_REDUNDANCY", expires="soon"))
    assert meta == {"x-amz-meta-color": "blue", "cache-control": "no-cache", "content-encoding": "gzip",
                    "expires": "soon", "content-type": "binary/octet-stream",
                    "x-amz-storage-class": "REDUCED_REDUNDANCY"}
    assert "content-encoding" not in extract_metadata(H(content_encoding="aws-chunked"))
    assert extract_metadata(H(content_type="text/plain"))["content-type"] == "text/plain"


def test_content_encoding() -> None:
    assert content_encoding("gzip, aws-chunked") == "gzip"
    assert content_encoding("AWS-CHUNKED") == ""


def test_metadata_limits() -> None:
    extract_metadata(H(x_amz_meta_k="v" * 2047))
    with pytest.raises(MetadataTooLarge):
        extract_metadata(H(x_amz_meta_k="v" * 2048))


def test_storage_class() -> None:
    with pytest.raises(InvalidStorageClass):
        extract_metadata(H(x_amz_storage_class="GLACIER"))
    assert "x-amz-storage-class" not in extract_metadata(H(x_amz_storage_class="STANDARD"))


def test_content_md5() -> None:
    digest = hashlib.md5(b"x").digest()
    assert parse_content_md5(H(content_md5=base64.b64encode(digest).decode())) == digest
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(InvalidDigest):
            parse_content_md5(H(content_md5=bad))


def test_put_options() -> None:
    opts = put_options(H(x_amz_tagging="a=1&b=", if_none_match="*", x_amz_decoded_content_length="5",
                         content_length="90"), 90)
    assert opts.tags == {"a": "1", "b": ""}
    assert opts.if_none_match_star and opts.size == 5
    assert put_options(H(if_match='"abc"'), 3).if_match == "abc"
    assert put_options(H(), 3).size == 3
    assert put_options(H(if_none_match='"abc"'), 0).if_none_match == "abc"       # an ETag, as well as "*"
    with pytest.raises(InvalidArgument):
        put_options(H(x_amz_decoded_content_length="-1"), 0)


def test_tags() -> None:
    assert parse_tagging_header("k%20x=v%26") == {"k x": "v&"}
    with pytest.raises(InvalidTag):
        validate_tags([(str(i), "v") for i in range(11)])
    with pytest.raises(InvalidTag):
        validate_tags([("k" * 129, "v")])
    with pytest.raises(InvalidTag):
        validate_tags([("k", "v" * 257)])
    with pytest.raises(InvalidTag):
        validate_tags([("k", "1"), ("k", "2")])
    with pytest.raises(InvalidTag):
        validate_tags([("", "1")])
    validate_tags([("k" * 128, "v" * 256)])


def test_checksum_algorithm() -> None:
    assert checksum_algorithm(H()) == (None, None)
    assert checksum_algorithm(H(x_amz_checksum_algorithm="crc32")) == ("CRC32", "COMPOSITE")
    assert checksum_algorithm(H(x_amz_checksum_algorithm="CRC64NVME")) == ("CRC64NVME", "FULL_OBJECT")
    assert checksum_algorithm(H(x_amz_checksum_algorithm="CRC32C", x_amz_checksum_type="FULL_OBJECT")) == (
        "CRC32C", "FULL_OBJECT")
    for bad in (H(x_amz_checksum_algorithm="MD5"), H(x_amz_checksum_algorithm="SHA256", x_amz_checksum_type="FULL_OBJECT"),
                H(x_amz_checksum_type="COMPOSITE"), H(x_amz_checksum_algorithm="CRC32", x_amz_checksum_type="X")):
        with pytest.raises(InvalidRequest):
            checksum_algorithm(bad)


def test_continuation_tokens_round_trip() -> None:
    for key in ("a", "dir/\u20ac x+y", ""):
        assert decode_token(encode_token(key)) == key
    with pytest.raises(InvalidArgument):
        decode_token("%%%")


def test_url_encoding_of_names() -> None:
    assert encode_name("a b+c/\u20ac", True) == "a+b%2Bc/%E2%82%AC"          # as AWS: a space is "+"
    assert encode_name("a b", False) == "a b"


async def _chunks(sizes: list[int]) -> AsyncIterator[bytes]:
    for i, size in enumerate(sizes):
        yield bytes([i % 256]) * size


def test_stream_body_exact_reads() -> None:
    sizes = [3, 0, 10, 1, 7]
    expected = b"".join(bytes([i]) * s for i, s in enumerate(sizes))

    async def run() -> bytes:
        body = StreamBody(_chunks(sizes), sum(sizes), {"CRC32": "x"})
        out = []
        while True:
            block = await body.read(4)
            if not block:
                break
            assert len(block) == 4 or not await body.read(4)
            out.append(block)
        assert body.checksums() == {"CRC32": "x"}
        return b"".join(out)

    assert asyncio.run(run()) == expected


def test_stream_body_short_source() -> None:
    async def run() -> None:
        body = StreamBody(_chunks([5]), 10)
        await body.read(100)

    with pytest.raises(IncompleteBody):
        asyncio.run(run())
