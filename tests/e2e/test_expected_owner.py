"""``x-amz-expected-bucket-owner`` and ``x-amz-source-expected-bucket-owner`` against a real engine with boto3:
the engine's account ID or the bucket owner's canonical ID pass, anything else is 403 AccessDenied, on bucket
and object requests and on both sides of a copy."""

from __future__ import annotations

from typing import Any

from .test_bucket_policy import expect

ACCOUNT = "000000000000"            # the one account of an engine (iam/principal.py ACCOUNT_ID)
OTHER = "111122223333"


def test_bucket_requests(s3: Any, bucket: str) -> None:
    canonical = s3.list_buckets()["Owner"]["ID"]          # the root user owns what it creates
    for owner in (ACCOUNT, canonical):
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
        s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=owner)
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]},
                              ExpectedBucketOwner=owner)
    expect("403", 403, s3.head_bucket, Bucket=bucket, ExpectedBucketOwner=OTHER)       # HEAD: no body, no code
    expect("AccessDenied", 403, s3.list_objects_v2, Bucket=bucket, ExpectedBucketOwner=OTHER)
    expect("AccessDenied", 403, s3.get_bucket_tagging, Bucket=bucket, ExpectedBucketOwner=OTHER)
    expect("AccessDenied", 403, s3.delete_bucket_tagging, Bucket=bucket, ExpectedBucketOwner=OTHER)
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "a", "Value": "b"}]    # not deleted
    # A bucket that does not exist is still NoSuchBucket.
    expect("NoSuchBucket", 404, s3.list_objects_v2, Bucket=bucket + "-none", ExpectedBucketOwner=OTHER)


def test_object_requests(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"data", ExpectedBucketOwner=ACCOUNT)
    assert s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner=ACCOUNT)["Body"].read() == b"data"
    expect("AccessDenied", 403, s3.put_object, Bucket=bucket, Key="k", Body=b"other", ExpectedBucketOwner=OTHER)
    expect("AccessDenied", 403, s3.get_object, Bucket=bucket, Key="k", ExpectedBucketOwner=OTHER)
    expect("AccessDenied", 403, s3.delete_object, Bucket=bucket, Key="k", ExpectedBucketOwner=OTHER)
    expect("AccessDenied", 403, s3.create_multipart_upload, Bucket=bucket, Key="mp", ExpectedBucketOwner=OTHER)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"


def test_copy_checks_both_buckets(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"data")
    source = {"Bucket": bucket, "Key": "src"}
    s3.copy_object(Bucket=bucket, Key="ok", CopySource=source, ExpectedBucketOwner=ACCOUNT,
                   ExpectedSourceBucketOwner=ACCOUNT)
    expect("AccessDenied", 403, s3.copy_object, Bucket=bucket, Key="no1", CopySource=source,
           ExpectedSourceBucketOwner=OTHER)
    expect("AccessDenied", 403, s3.copy_object, Bucket=bucket, Key="no2", CopySource=source,
           ExpectedBucketOwner=OTHER, ExpectedSourceBucketOwner=ACCOUNT)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    expect("AccessDenied", 403, s3.upload_part_copy, Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1,
           CopySource=source, ExpectedSourceBucketOwner=OTHER)
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert keys == {"src", "ok"}
