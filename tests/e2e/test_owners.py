"""Owners in listings against the real engine with boto3 (docs/iam.md "ACLs and owners").

ListObjects (v1; V2 with fetch-owner), ListObjectVersions (versions and delete markers), ListBuckets,
ListMultipartUploads and ListParts report the owner recorded with the bucket / object / upload: its
canonical ID (sha256 of the root access key for the root user, as before IAM) and display name.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from tests.conftest import EngineServer

from .helpers import error_code

ROOT_NAME = "rustfs"


def root_owner(engine: EngineServer) -> dict[str, str]:
    return {"ID": hashlib.sha256(engine.access_key.encode()).hexdigest(), "DisplayName": ROOT_NAME}


def test_object_listings_report_the_owner(engine: EngineServer, s3: Any, bucket: str) -> None:
    owner = root_owner(engine)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="a", Body=b"1")
    s3.put_object(Bucket=bucket, Key="b", Body=b"2")
    s3.delete_object(Bucket=bucket, Key="b")

    v1 = s3.list_objects(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Owner"]) for o in v1] == [("a", owner)]
    assert all("Owner" not in o for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    v2 = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"]
    assert [o["Owner"] for o in v2] == [owner]
    versions = s3.list_object_versions(Bucket=bucket)
    assert [v["Owner"] for v in versions["Versions"]] == [owner, owner]
    assert [m["Owner"] for m in versions["DeleteMarkers"]] == [owner]


def test_bucket_and_upload_listings_report_the_owner(engine: EngineServer, s3: Any, bucket: str) -> None:
    owner = root_owner(engine)
    assert s3.list_buckets()["Owner"] == owner
    assert s3.get_bucket_acl(Bucket=bucket)["Owner"] == owner
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"x")
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Initiator"], u["Owner"]) for u in listed] == [(owner, owner)]
    parts = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)
    assert (parts["Initiator"], parts["Owner"]) == (owner, owner)
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    assert s3.get_object_acl(Bucket=bucket, Key="o")["Owner"] == owner


def test_anonymous_callers_see_nothing_of_a_private_bucket(engine: EngineServer, bucket: str) -> None:
    anonymous = engine.client(signature_version=UNSIGNED)
    for call, kwargs in ((anonymous.list_objects, {}), (anonymous.get_bucket_acl, {}),
                         (anonymous.list_object_versions, {})):
        with pytest.raises(ClientError) as exc:
            call(Bucket=bucket, **kwargs)
        assert error_code(exc.value) == "AccessDenied"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
