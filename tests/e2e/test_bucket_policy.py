"""Bucket policies against the real engine with boto3 (docs/iam.md "The decision", "APIs").

Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus with AWS's statuses and error codes, and anonymous
callers (``botocore.UNSIGNED``) allowed exactly what a bucket policy grants them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3.session
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import EngineServer


def anonymous_client(engine: EngineServer) -> Any:
    config = Config(signature_version=UNSIGNED, s3={"addressing_style": "path"},
                    retries={"max_attempts": 1, "mode": "standard"})
    return boto3.session.Session().client("s3", endpoint_url=engine.url, region_name=engine.region, config=config)


def expect(code: str, status: int, call: Any, **kwargs: Any) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (status, code), error
    return caught.value


def public_read(bucket: str, **extra: Any) -> str:
    statement = {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                 "Resource": f"arn:aws:s3:::{bucket}/public/*", **extra}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture
def anon(engine: EngineServer) -> Iterator[Any]:
    yield anonymous_client(engine)


def test_put_get_delete_policy(s3: Any, bucket: str) -> None:
    expect("NoSuchBucketPolicy", 404, s3.get_bucket_policy, Bucket=bucket)
    expect("NoSuchBucketPolicy", 404, s3.get_bucket_policy_status, Bucket=bucket)   # as AWS
    text = public_read(bucket)
    assert s3.put_bucket_policy(Bucket=bucket, Policy=text)["ResponseMetadata"]["HTTPStatusCode"] == 204
    stored = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert stored == json.loads(text)
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    assert s3.delete_bucket_policy(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect("NoSuchBucketPolicy", 404, s3.get_bucket_policy, Bucket=bucket)
    expect("NoSuchBucketPolicy", 404, s3.get_bucket_policy_status, Bucket=bucket)
    expect("NoSuchBucket", 404, s3.put_bucket_policy, Bucket=bucket + "-none", Policy=public_read(bucket + "-none"))


def test_policy_status_is_public_as_aws_defines_it(s3: Any, bucket: str) -> None:
    fixed_ip = public_read(bucket, Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    s3.put_bucket_policy(Bucket=bucket, Policy=fixed_ip)
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    named = json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                       "Principal": {"AWS": "arn:aws:iam::000000000000:user/alice"},
                                       "Resource": f"arn:aws:s3:::{bucket}/*"}]})
    s3.put_bucket_policy(Bucket=bucket, Policy=named)
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    everyone_ip = public_read(bucket, Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}})
    s3.put_bucket_policy(Bucket=bucket, Policy=everyone_ip)
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True


@pytest.mark.parametrize(("document", "message"), [
    ("not json", "not valid JSON"),
    ('{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{b}/*"}]}',
     "Principal"),
    ('{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", '
     '"Resource": "arn:aws:s3:::other-bucket/*"}]}', "Policy has invalid resource"),
    ('{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "iam:CreateUser", '
     '"Resource": "arn:aws:s3:::{b}/*"}]}', "Policy has invalid action"),
    ('{"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject", '
     '"Resource": "arn:aws:s3:::{b}/*"}]}', "Effect"),
])
def test_malformed_policy(s3: Any, bucket: str, document: str, message: str) -> None:
    error = expect("MalformedPolicy", 400, s3.put_bucket_policy, Bucket=bucket,
                   Policy=document.replace("{b}", bucket))
    assert message in error.response["Error"]["Message"]
    expect("NoSuchBucketPolicy", 404, s3.get_bucket_policy, Bucket=bucket)


def test_anonymous_access_through_a_bucket_policy(s3: Any, anon: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="public/a.txt", Body=b"hello")
    s3.put_object(Bucket=bucket, Key="private/b.txt", Body=b"secret")
    # Without a policy an anonymous caller gets AccessDenied, as before.
    expect("AccessDenied", 403, anon.get_object, Bucket=bucket, Key="public/a.txt")
    expect("AccessDenied", 403, anon.list_objects_v2, Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=public_read(bucket))
    assert anon.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"hello"
    assert anon.head_object(Bucket=bucket, Key="public/a.txt")["ContentLength"] == 5
    expect("AccessDenied", 403, anon.get_object, Bucket=bucket, Key="private/b.txt")
    expect("AccessDenied", 403, anon.put_object, Bucket=bucket, Key="public/new", Body=b"x")
    expect("AccessDenied", 403, anon.delete_object, Bucket=bucket, Key="public/a.txt")
    expect("AccessDenied", 403, anon.list_objects_v2, Bucket=bucket)
    # Managing the policy is never for anonymous callers, whatever the policy grants.
    everything = json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*",
                                            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]})
    s3.put_bucket_policy(Bucket=bucket, Policy=everything)
    expect("AccessDenied", 403, anon.delete_bucket_policy, Bucket=bucket)
    expect("AccessDenied", 403, anon.get_bucket_policy, Bucket=bucket)
    anon.put_object(Bucket=bucket, Key="public/new", Body=b"x")
    assert [o["Key"] for o in anon.list_objects_v2(Bucket=bucket)["Contents"]] == \
        ["private/b.txt", "public/a.txt", "public/new"]
    s3.delete_bucket_policy(Bucket=bucket)
    expect("AccessDenied", 403, anon.get_object, Bucket=bucket, Key="public/a.txt")


def test_explicit_deny_and_conditions(s3: Any, anon: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="public/a.txt", Body=b"hello")
    s3.put_object(Bucket=bucket, Key="public/deny.txt", Body=b"no")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/public/*"},
        {"Sid": "NotThat", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/public/deny.txt"},
        {"Sid": "ListPublic", "Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{bucket}", "Condition": {"StringLike": {"s3:prefix": "public/*"}}},
    ]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert anon.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"hello"
    expect("AccessDenied", 403, anon.get_object, Bucket=bucket, Key="public/deny.txt")
    listed = anon.list_objects_v2(Bucket=bucket, Prefix="public/")
    assert [o["Key"] for o in listed["Contents"]] == ["public/a.txt", "public/deny.txt"]
    expect("AccessDenied", 403, anon.list_objects_v2, Bucket=bucket)
    expect("AccessDenied", 403, anon.list_objects_v2, Bucket=bucket, Prefix="private/")
    # The loopback peer is the caller's address: a SourceIp condition elsewhere allows nothing.
    elsewhere = public_read(bucket, Condition={"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}})
    s3.put_bucket_policy(Bucket=bucket, Policy=elsewhere)
    expect("AccessDenied", 403, anon.get_object, Bucket=bucket, Key="public/a.txt")
    here = public_read(bucket, Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})
    s3.put_bucket_policy(Bucket=bucket, Policy=here)
    assert anon.get_object(Bucket=bucket, Key="public/a.txt")["Body"].read() == b"hello"


def test_delete_objects_per_key_and_copy_source(s3: Any, anon: Any, bucket: str) -> None:
    for key in ("public/a", "public/b", "private/c"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": ["s3:DeleteObject", "s3:PutObject"],
         "Resource": f"arn:aws:s3:::{bucket}/public/*"},
    ]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    result = anon.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "public/a"}, {"Key": "private/c"}]})
    assert [d["Key"] for d in result.get("Deleted", [])] == ["public/a"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("private/c", "AccessDenied")]
    assert s3.get_object(Bucket=bucket, Key="private/c")["Body"].read() == b"private/c"
    # CopyObject: the destination may be written, but the source needs s3:GetObject.
    expect("AccessDenied", 403, anon.copy_object, Bucket=bucket, Key="public/copy",
           CopySource={"Bucket": bucket, "Key": "private/c"})
    policy["Statement"].append({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                "Resource": f"arn:aws:s3:::{bucket}/private/*"})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    anon.copy_object(Bucket=bucket, Key="public/copy", CopySource={"Bucket": bucket, "Key": "private/c"})
    assert s3.get_object(Bucket=bucket, Key="public/copy")["Body"].read() == b"private/c"


def test_existing_object_tag_condition(s3: Any, anon: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"t", Tagging="share=yes")
    s3.put_object(Bucket=bucket, Key="untagged", Body=b"u")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/share": "yes"}}}]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert anon.get_object(Bucket=bucket, Key="tagged")["Body"].read() == b"t"
    expect("AccessDenied", 403, anon.get_object, Bucket=bucket, Key="untagged")
    s3.put_object_tagging(Bucket=bucket, Key="tagged", Tagging={"TagSet": [{"Key": "share", "Value": "no"}]})
    expect("AccessDenied", 403, anon.get_object, Bucket=bucket, Key="tagged")


def test_acl_grants_count_for_each_resource_of_a_request(s3: Any, anon: Any, bucket: str) -> None:
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.put_object(Bucket=bucket, Key="src/open", Body=b"open", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="src/closed", Body=b"closed")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/dst/*"}]}))
    # The copy source is allowed by its object's ACL, not by the destination's.
    anon.copy_object(Bucket=bucket, Key="dst/a", CopySource={"Bucket": bucket, "Key": "src/open"})
    assert s3.get_object(Bucket=bucket, Key="dst/a")["Body"].read() == b"open"
    expect("AccessDenied", 403, anon.copy_object, Bucket=bucket, Key="dst/b",
           CopySource={"Bucket": bucket, "Key": "src/closed"})
    # DeleteObjects: a bucket ACL granting WRITE allows each key's delete.
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    result = anon.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "src/closed"}]})
    assert [d["Key"] for d in result["Deleted"]] == ["src/closed"] and not result.get("Errors")
