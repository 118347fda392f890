"""Listings and versioning through boto3: v1/v2 pagination, delimiters, url encoding, versions."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from .test_boto3_objects import error_of

KEYS = ["a/1", "a/2", "a/b/3", "b", "c d/e", "c+d/f", "z"]


@pytest.fixture
def filled(client: Any, bkt: str) -> str:
    for key in KEYS:
        client.put_object(Bucket=bkt, Key=key, Body=key.encode())
    return bkt


def test_list_v2_paginates(client: Any, filled: str) -> None:
    seen: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=filled, PaginationConfig={"PageSize": 2}):
        assert page["KeyCount"] <= 2
        seen += [o["Key"] for o in page.get("Contents", [])]
    assert seen == sorted(KEYS)
    full = client.list_objects_v2(Bucket=filled)
    assert full["KeyCount"] == len(KEYS) and not full["IsTruncated"]
    first = full["Contents"][0]
    assert first["Size"] == len(b"a/1") and first["ETag"].startswith('"') and first["StorageClass"] == "STANDARD"
    assert "Owner" not in first
    assert "Owner" in client.list_objects_v2(Bucket=filled, FetchOwner=True)["Contents"][0]


def test_list_v2_delimiter_prefix_start_after(client: Any, filled: str) -> None:
    top = client.list_objects_v2(Bucket=filled, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "c d/", "c+d/"]
    assert [o["Key"] for o in top["Contents"]] == ["b", "z"]
    assert top["KeyCount"] == 5
    under_a = client.list_objects_v2(Bucket=filled, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in under_a["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in under_a["CommonPrefixes"]] == ["a/b/"]
    after = client.list_objects_v2(Bucket=filled, StartAfter="b")
    assert [o["Key"] for o in after["Contents"]] == ["c d/e", "c+d/f", "z"]
    # Pages of a delimited listing never repeat a common prefix.
    prefixes: list[str] = []
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=filled, Delimiter="/",
                                                                 PaginationConfig={"PageSize": 1}):
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        keys += [o["Key"] for o in page.get("Contents", [])]
    assert prefixes == ["a/", "c d/", "c+d/"] and keys == ["b", "z"]


def test_list_v1(client: Any, filled: str) -> None:
    seen: list[str] = []
    for page in client.get_paginator("list_objects").paginate(Bucket=filled, PaginationConfig={"PageSize": 3}):
        seen += [o["Key"] for o in page.get("Contents", [])]
    assert seen == sorted(KEYS)
    page = client.list_objects(Bucket=filled, Marker="b", MaxKeys=2)
    assert [o["Key"] for o in page["Contents"]] == ["c d/e", "c+d/f"] and page["IsTruncated"]
    assert "Owner" in page["Contents"][0]
    delimited = client.list_objects(Bucket=filled, Delimiter="/", MaxKeys=1)
    assert delimited["IsTruncated"] and delimited["NextMarker"] == "a/"


def test_list_bad_arguments(client: Any, filled: str) -> None:
    with pytest.raises(ClientError) as exc:
        client.list_objects_v2(Bucket=filled, ContinuationToken="not-a-token!")
    assert error_of(exc) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as exc:
        client.list_objects_v2(Bucket=filled, MaxKeys=-1)
    assert error_of(exc) == ("InvalidArgument", 400)
    assert client.list_objects_v2(Bucket=filled, MaxKeys=0)["KeyCount"] == 0
    assert len(client.list_objects_v2(Bucket=filled, MaxKeys=5000)["Contents"]) == len(KEYS)


def test_versioning(client: Any, bkt: str) -> None:
    assert "Status" not in client.get_bucket_versioning(Bucket=bkt)
    client.put_object(Bucket=bkt, Key="k", Body=b"null-version")
    client.put_bucket_versioning(Bucket=bkt, VersioningConfiguration={"Status": "Enabled"})
    assert client.get_bucket_versioning(Bucket=bkt)["Status"] == "Enabled"
    v1 = client.put_object(Bucket=bkt, Key="k", Body=b"one")["VersionId"]
    v2 = client.put_object(Bucket=bkt, Key="k", Body=b"two")["VersionId"]
    assert v1 != v2 and v1 != "null"
    assert client.get_object(Bucket=bkt, Key="k", VersionId=v1)["Body"].read() == b"one"
    assert client.get_object(Bucket=bkt, Key="k", VersionId="null")["Body"].read() == b"null-version"
    assert client.head_object(Bucket=bkt, Key="k")["VersionId"] == v2

    deleted = client.delete_object(Bucket=bkt, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket=bkt, Key="k")
    assert error_of(exc) == ("NoSuchKey", 404)
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"].get("x-amz-delete-marker") == "true"
    assert client.list_objects_v2(Bucket=bkt).get("KeyCount") == 0

    versions = client.list_object_versions(Bucket=bkt)
    assert [v["VersionId"] for v in versions["Versions"]] == [v2, v1, "null"]
    assert [(m["VersionId"], m["IsLatest"]) for m in versions["DeleteMarkers"]] == [(marker, True)]
    assert not any(v["IsLatest"] for v in versions["Versions"])

    page = client.list_object_versions(Bucket=bkt, MaxKeys=2)
    assert page["IsTruncated"]
    rest = client.list_object_versions(Bucket=bkt, KeyMarker=page["NextKeyMarker"],
                                       VersionIdMarker=page["NextVersionIdMarker"])
    got = [v.get("VersionId") for v in page.get("DeleteMarkers", []) + page.get("Versions", [])]
    got += [v.get("VersionId") for v in rest.get("DeleteMarkers", []) + rest.get("Versions", [])]
    assert sorted(got) == sorted([marker, v2, v1, "null"])

    removed = client.delete_object(Bucket=bkt, Key="k", VersionId=marker)
    assert removed["VersionId"] == marker
    assert client.get_object(Bucket=bkt, Key="k")["Body"].read() == b"two"
    client.delete_object(Bucket=bkt, Key="k", VersionId=v2)
    assert client.get_object(Bucket=bkt, Key="k")["Body"].read() == b"one"

    client.put_bucket_versioning(Bucket=bkt, VersioningConfiguration={"Status": "Suspended"})
    assert client.get_bucket_versioning(Bucket=bkt)["Status"] == "Suspended"
    suspended = client.put_object(Bucket=bkt, Key="k", Body=b"suspended")
    assert suspended.get("VersionId") in (None, "null")
    assert client.get_object(Bucket=bkt, Key="k")["Body"].read() == b"suspended"
    assert client.get_object(Bucket=bkt, Key="k", VersionId=v1)["Body"].read() == b"one"


def test_versioned_delete_objects(client: Any, bkt: str) -> None:
    client.put_bucket_versioning(Bucket=bkt, VersioningConfiguration={"Status": "Enabled"})
    v1 = client.put_object(Bucket=bkt, Key="k", Body=b"1")["VersionId"]
    result = client.delete_objects(Bucket=bkt, Delete={"Objects": [{"Key": "k"}]})
    assert result["Deleted"][0]["DeleteMarker"] is True and result["Deleted"][0]["DeleteMarkerVersionId"]
    result = client.delete_objects(Bucket=bkt, Delete={"Objects": [{"Key": "k", "VersionId": v1}]})
    assert result["Deleted"][0]["VersionId"] == v1
    with pytest.raises(ClientError) as exc:
        client.get_object(Bucket=bkt, Key="k", VersionId=v1)
    assert error_of(exc)[1] in (400, 404)


def test_list_versions_with_prefix_and_delimiter(client: Any, bkt: str) -> None:
    client.put_bucket_versioning(Bucket=bkt, VersioningConfiguration={"Status": "Enabled"})
    for key in ("top", "d/1", "d/2", "e/x y"):
        client.put_object(Bucket=bkt, Key=key, Body=b"1")
        client.put_object(Bucket=bkt, Key=key, Body=b"2")
    top = client.list_object_versions(Bucket=bkt, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["d/", "e/"]
    assert {v["Key"] for v in top["Versions"]} == {"top"} and len(top["Versions"]) == 2
    under = client.list_object_versions(Bucket=bkt, Prefix="e/")
    assert [v["Key"] for v in under["Versions"]] == ["e/x y", "e/x y"]
    assert [v["IsLatest"] for v in under["Versions"]] == [True, False]
