"""Keys against the on-disk layout: names that look like internal files, directory markers, and keys
that try to climb out of the bucket. Each is either stored and returned exactly, or refused with a
4xx, and nothing is ever written outside ``<drive>/<bucket>/`` and the engine's own system area."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from .helpers import KiB, assert_same, payload

LAYOUT_LOOKALIKES = [
    "a.xl.meta", "b.xl.data", "c.xl.esc", "d.xl.meta/inner", "e.xl.data/part.1", "f.xl.esc/g.xl.esc",
    ".rustfs.sys", ".rustfs.sys/format.json", "dir.xl.meta/x.xl.data/y", "format.json", "part.1",
]


def test_layout_lookalike_keys(s3: Any, bucket: str) -> None:
    for i, key in enumerate(LAYOUT_LOOKALIKES):
        s3.put_object(Bucket=bucket, Key=key, Body=payload(key, i, 200 * KiB if i % 2 else 100))
    # A key and a "directory" of the same name coexist.
    s3.put_object(Bucket=bucket, Key="a.xl.meta/child", Body=b"child")
    s3.put_object(Bucket=bucket, Key="e.xl.data", Body=b"sibling")
    expected = sorted([*LAYOUT_LOOKALIKES, "a.xl.meta/child", "e.xl.data"], key=lambda k: k.encode())
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == expected
    for i, key in enumerate(LAYOUT_LOOKALIKES):
        assert_same(s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
                    payload(key, i, 200 * KiB if i % 2 else 100), key)
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top.get("CommonPrefixes", [])] == sorted(
        {k.split("/")[0] + "/" for k in expected if "/" in k}, key=lambda k: k.encode())
    for key in expected:
        s3.delete_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_directory_markers(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="folder/", Body=b"")
    s3.put_object(Bucket=bucket, Key="folder/a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="folder/sub/", Body=b"")
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["folder/"] and "Contents" not in top
    inside = s3.list_objects_v2(Bucket=bucket, Prefix="folder/", Delimiter="/")
    assert [o["Key"] for o in inside["Contents"]] == ["folder/", "folder/a"]
    assert [p["Prefix"] for p in inside["CommonPrefixes"]] == ["folder/sub/"]
    assert s3.head_object(Bucket=bucket, Key="folder/")["ContentLength"] == 0
    s3.delete_object(Bucket=bucket, Key="folder/")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["folder/a", "folder/sub/"]
    s3.delete_object(Bucket=bucket, Key="folder/sub/")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["folder/a"]


def all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("raw_key", [
    "../escape1", "..%2Fescape2", "%2E%2E/%2E%2E/escape3", "a/../../escape4", "a/%2E%2E/%2E%2E/escape5",
    "..%5Cescape6", "a//b", "a/./b", "./c", "nul%00byte", "%2Fleading", "trailing/..",
])
def test_keys_cannot_escape_the_bucket(engine: Any, bucket: str, raw_key: str) -> None:
    """Raw request targets (no client-side normalization): stored exactly or refused with a 4xx."""
    root = engine.root
    before = all_files(root)
    path = f"/{bucket}/{raw_key}"
    body = b"escape attempt"
    headers = engine.sign("PUT", path, "", hashlib.sha256(body).hexdigest())
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=30)
    conn.request("PUT", path, body=body, headers=headers)
    resp = conn.getresponse()
    answer = resp.read()
    conn.close()
    assert resp.status < 500, (resp.status, answer)
    created = all_files(root) - before
    allowed = [engine.root / d.name / bucket for d in engine.drives] + \
        [engine.root / d.name / ".rustfs.sys" for d in engine.drives]
    outside = [p for p in created if not any(a in p.parents for a in allowed) and p.suffix != ".log"]
    assert not outside, f"PUT {path} wrote outside the bucket: {outside}"
    if resp.status == 200:
        # Whatever key the server stored, it can be read back through the same raw path.
        headers = engine.sign("GET", path, "", hashlib.sha256(b"").hexdigest())
        conn = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=30)
        conn.request("GET", path, headers=headers)
        got = conn.getresponse()
        data = got.read()
        conn.close()
        assert (got.status, data) == (200, body), (got.status, data[:200])
    else:
        assert 400 <= resp.status < 500


def test_response_header_overrides(s3: Any, bucket: str) -> None:
    """GET's response-* parameters (used by presigned download links) override the stored headers."""
    s3.put_object(Bucket=bucket, Key="doc", Body=b"%PDF", ContentType="application/octet-stream")
    got = s3.get_object(Bucket=bucket, Key="doc", ResponseContentType="application/pdf",
                        ResponseContentDisposition='attachment; filename="r.pdf"',
                        ResponseCacheControl="no-cache", ResponseContentLanguage="en")
    assert got["ContentType"] == "application/pdf"
    assert got["ContentDisposition"] == 'attachment; filename="r.pdf"'
    assert got["CacheControl"] == "no-cache" and got["ContentLanguage"] == "en"
    assert s3.head_object(Bucket=bucket, Key="doc")["ContentType"] == "application/octet-stream"


def test_list_object_versions_paging(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    made: list[tuple[str, str]] = []
    for key in ("a", "b", "c"):
        for i in range(4):
            made.append((key, s3.put_object(Bucket=bucket, Key=key, Body=f"{key}{i}".encode())["VersionId"]))
    s3.delete_object(Bucket=bucket, Key="b")                               # a marker on top of b
    seen: list[tuple[str, str]] = []
    kw: dict[str, str] = {}
    for _ in range(50):
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=3, **kw)
        entries = [(v["Key"], v["VersionId"], v["LastModified"]) for v in
                   page.get("Versions", []) + page.get("DeleteMarkers", [])]
        assert len(entries) <= 3
        entries.sort(key=lambda e: e[0].encode())        # markers and versions come in two lists
        seen += [(k, v) for k, v, _ in entries]
        if not page["IsTruncated"]:
            break
        kw = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    assert len(seen) == len(set(seen)) == len(made) + 1, seen
    assert set(made) <= set(seen)
    by_key = [k for k, _ in seen]
    assert by_key == sorted(by_key)
    for key in ("a", "c"):   # newest first within a key
        assert [v for k, v in seen if k == key] == [v for k, v in reversed(made) if k == key]
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="b")
