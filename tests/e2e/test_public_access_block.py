"""PublicAccessBlock against the real engine with boto3: the API (AWS's statuses and codes),
BlockPublicPolicy refusing a public policy, RestrictPublicBuckets stopping anonymous access through one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import EngineServer

from .test_bucket_policy import anonymous_client, expect, public_read

ALL = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
NONE = {name: False for name in ALL}


@pytest.fixture
def anon(engine: EngineServer) -> Any:
    return anonymous_client(engine)


def test_put_get_delete(s3: Any, bucket: str) -> None:
    expect("NoSuchPublicAccessBlockConfiguration", 404, s3.get_public_access_block, Bucket=bucket)
    some = {**NONE, "BlockPublicPolicy": True}
    assert s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=some)[
        "ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == some
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=ALL)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == ALL
    assert s3.delete_public_access_block(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect("NoSuchPublicAccessBlockConfiguration", 404, s3.get_public_access_block, Bucket=bucket)
    expect("NoSuchBucket", 404, s3.get_public_access_block, Bucket=bucket + "-none")


def test_malformed_configuration(engine: EngineServer, bucket: str) -> None:
    body = (b"<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls>"
            b"</PublicAccessBlockConfiguration>")
    status, reply = engine.request("PUT", f"/{bucket}", "publicAccessBlock=", body)
    assert status == 400 and b"<Code>MalformedXML</Code>" in reply


def test_block_public_policy(s3: Any, bucket: str) -> None:
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={**NONE, "BlockPublicPolicy": True})
    expect("AccessDenied", 403, s3.put_bucket_policy, Bucket=bucket, Policy=public_read(bucket))
    expect("NoSuchBucketPolicy", 404, s3.get_bucket_policy, Bucket=bucket)
    # A policy that is not public is accepted.
    fixed = public_read(bucket, Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})
    s3.put_bucket_policy(Bucket=bucket, Policy=fixed)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(fixed)


def test_restrict_public_buckets(s3: Any, anon: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="public/a.txt", Body=b"hello")
    s3.put_bucket_policy(Bucket=bucket, Policy=public_read(bucket))
    assert anon.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"hello"
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={**NONE, "RestrictPublicBuckets": True})
    expect("AccessDenied", 403, anon.get_object, Bucket=bucket, Key="public/a.txt")
    assert s3.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"hello"
    # A policy that is not public (a fixed source address) still lets anonymous callers in.
    s3.put_bucket_policy(Bucket=bucket, Policy=public_read(
        bucket, Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}))
    assert anon.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"hello"
    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=public_read(bucket))
    assert anon.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"hello"
    # Anonymous callers never manage the block, whatever the policy grants.
    expect("AccessDenied", 403, anon.put_public_access_block, Bucket=bucket, PublicAccessBlockConfiguration=NONE)
