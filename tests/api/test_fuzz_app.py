"""Malformed requests never produce a 5xx from the app (routing, names, query arguments, headers, XML)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from storage_engine.api.app import S3App

from .fake_layer import FakeLayer
from .harness import Client, install_fake_auth, settings

METHODS = st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"])
SUBRESOURCES = ["uploads", "uploadId", "partNumber", "versionId", "versions", "versioning", "tagging", "location",
                "delete", "list-type", "max-keys", "marker", "continuation-token", "start-after", "encoding-type",
                "prefix", "delimiter", "max-parts", "part-number-marker", "key-marker", "version-id-marker",
                "response-content-type", "acl", "policy", "fetch-owner"]
HEADERS = ["range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "content-md5",
           "x-amz-copy-source", "x-amz-copy-source-range", "x-amz-metadata-directive", "x-amz-tagging",
           "x-amz-storage-class", "x-amz-checksum-algorithm", "x-amz-checksum-type", "x-amz-decoded-content-length",
           "x-amz-meta-x", "content-encoding", "x-amz-checksum-mode", "x-amz-copy-source-if-match"]
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
path_segment = st.one_of(st.sampled_from(["bkt", "..", ".", "", "%2e%2e", "%00", "a%2Fb", "%FF", "k" * 300]), text)


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    mp = pytest.MonkeyPatch()
    install_fake_auth(mp)
    try:
        c = Client(S3App(FakeLayer(), settings()))
        c("PUT", "/bkt")
        c("PUT", "/bkt/obj", b"0123456789")
        yield c
    finally:
        mp.undo()        # else every later test in the process would run with the fake (root) auth


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=METHODS, segments=st.lists(path_segment, max_size=4),
       query=st.dictionaries(st.sampled_from(SUBRESOURCES), text, max_size=4),
       headers=st.dictionaries(st.sampled_from(HEADERS), text.filter(lambda s: "\r" not in s and "\n" not in s),
                               max_size=4),
       body=st.one_of(st.just(b""), st.binary(max_size=64),
                      st.sampled_from([b"<Delete><Object><Key>obj</Key></Object></Delete>",
                                       b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
                                       b"</CompleteMultipartUpload>",
                                       b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>"])))
def test_no_server_errors(client: Client, method: str, segments: list[str], query: dict[str, str],
                          headers: dict[str, str], body: bytes) -> None:
    path = "/" + "/".join(s if "%" in s else quote(s, safe="") for s in segments)
    query_string = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    target = path + ("?" + query_string if query_string else "")
    result = asyncio.run(client.request(method, target, body, headers))
    assert result.status < 500 or result.status == 501, (method, target, headers, result.body[:300])
