"""Bucket tagging against a real engine with boto3: Put/Get/DeleteBucketTagging, NoSuchTagSet, and AWS's limits
(50 tags, keys 1-128 and values up to 256 characters, unique keys, no ``aws:`` prefix: InvalidTag)."""

from __future__ import annotations

from typing import Any

import pytest

from .test_bucket_policy import expect


def tag_set(count: int, key: str = "k") -> list[dict[str, str]]:
    return [{"Key": f"{key}{i}", "Value": f"v{i}"} for i in range(count)]


def test_put_get_delete(s3: Any, bucket: str) -> None:
    expect("NoSuchTagSet", 404, s3.get_bucket_tagging, Bucket=bucket)
    tags = [{"Key": "team", "Value": "data"}, {"Key": "cost-center", "Value": ""},
            {"Key": "ünïcode key", "Value": "välue <&>"}]
    assert s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})["ResponseMetadata"]["HTTPStatusCode"] \
        in (200, 204)
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags
    # A put replaces the whole set.
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags[:1]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags[:1]
    assert s3.delete_bucket_tagging(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect("NoSuchTagSet", 404, s3.get_bucket_tagging, Bucket=bucket)
    # An empty set leaves none.
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": []})
    expect("NoSuchTagSet", 404, s3.get_bucket_tagging, Bucket=bucket)
    expect("NoSuchBucket", 404, s3.get_bucket_tagging, Bucket=bucket + "-none")
    expect("NoSuchBucket", 404, s3.put_bucket_tagging, Bucket=bucket + "-none", Tagging={"TagSet": tags})


def test_fifty_tags_and_the_longest_names(s3: Any, bucket: str) -> None:
    tags = tag_set(48) + [{"Key": "k" * 128, "Value": "v" * 256}, {"Key": "e", "Value": ""}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags


@pytest.mark.parametrize("tags", [
    tag_set(51),
    [{"Key": "k" * 129, "Value": "v"}],
    [{"Key": "k", "Value": "v" * 257}],
    [{"Key": "aws:createdBy", "Value": "me"}],
    [{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}],
])
def test_invalid_tags(s3: Any, bucket: str, tags: list[dict[str, str]]) -> None:
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set(2)})
    expect("InvalidTag", 400, s3.put_bucket_tagging, Bucket=bucket, Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tag_set(2)      # unchanged


def test_raw_documents(engine: Any, bucket: str) -> None:
    status, reply = engine.request("PUT", f"/{bucket}", "tagging=",
                                   b"<Tagging><TagSet><Tag><Key></Key><Value>v</Value></Tag></TagSet></Tagging>")
    assert status == 400 and b"<Code>InvalidTag</Code>" in reply          # boto3 refuses to send an empty key
    status, reply = engine.request("PUT", f"/{bucket}", "tagging=", b"<Tagging><Tags/></Tagging>")
    assert status == 400 and b"<Code>MalformedXML</Code>" in reply
    status, reply = engine.request("PUT", f"/{bucket}", "tagging=",
                                   b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>")
    assert status == 400 and b"<Code>MalformedXML</Code>" in reply


def test_bucket_tags_are_not_object_tags(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set(1)})
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "obj", "Value": "1"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tag_set(1)
