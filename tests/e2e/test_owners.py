"""Owners in listings against the real engine with boto3 (docs/iam.md "ACLs and owners").

ListObjects (v1; V2 with fetch-owner), ListObjectVersions, ListBuckets, ListMultipartUploads / ListParts and
Get*Acl report the owner recorded with the bucket / object / upload, whoever asks: its canonical ID (sha256 of
the root access key for the root user, as before IAM; sha256("user/" + name) for an IAM user) and display name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import EngineServer, empty_bucket

from .helpers import error_code

ROOT_NAME = "rustfs"


def root_owner(engine: EngineServer) -> dict[str, str]:
    return {"ID": hashlib.sha256(engine.access_key.encode()).hexdigest(), "DisplayName": ROOT_NAME}


# --- IAM users own what they create ----------------------------------------------------------------------
EVERYTHING = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
                                                                 "Resource": "*"}]})


@pytest.fixture
def user(engine: EngineServer, unique_name: Callable[[str], str]) -> Iterator[tuple[dict[str, str], Any]]:
    """An IAM user allowed s3:*: (its owner as listings show it, its boto3 s3 client)."""
    import boto3.session

    iam = boto3.session.Session().client(
        "iam", endpoint_url=engine.url, region_name=engine.region, aws_access_key_id=engine.access_key,
        aws_secret_access_key=engine.secret_key)
    name = unique_name("u")[:60]
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=EVERYTHING)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    owner = {"ID": hashlib.sha256(f"user/{name}".encode()).hexdigest(), "DisplayName": name}
    yield owner, engine.client(access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user_policy(UserName=name, PolicyName="s3")
    iam.delete_user(UserName=name)


@pytest.fixture
def writer_bucket(s3: Any, unique_name: Callable[[str], str]) -> Iterator[str]:
    name = unique_name("own")
    s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter")
    yield name
    empty_bucket(s3, name)
    s3.delete_bucket(Bucket=name)


def test_listings_report_the_writer_not_the_caller(engine: EngineServer, s3: Any, user: tuple[dict[str, str], Any],
                                                    writer_bucket: str) -> None:
    owner, client = user
    root = root_owner(engine)
    client.put_object(Bucket=writer_bucket, Key="by-user", Body=b"u")
    s3.put_object(Bucket=writer_bucket, Key="by-root", Body=b"r")
    for caller in (s3, client):
        expected = [("by-root", root), ("by-user", owner)]
        assert [(o["Key"], o["Owner"]) for o in caller.list_objects(Bucket=writer_bucket)["Contents"]] == expected
        v2 = caller.list_objects_v2(Bucket=writer_bucket, FetchOwner=True)["Contents"]
        assert [(o["Key"], o["Owner"]) for o in v2] == expected
        versions = caller.list_object_versions(Bucket=writer_bucket)["Versions"]
        assert [(v["Key"], v["Owner"]) for v in versions] == expected
        assert all("Owner" not in o for o in caller.list_objects_v2(Bucket=writer_bucket)["Contents"])
    acl = s3.get_object_acl(Bucket=writer_bucket, Key="by-user")
    assert acl["Owner"] == owner and acl["Grants"][0]["Grantee"]["ID"] == owner["ID"]
    upload = client.create_multipart_upload(Bucket=writer_bucket, Key="mp")["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=writer_bucket)["Uploads"]
    assert [(u["Initiator"], u["Owner"]) for u in listed] == [(owner, owner)]
    parts = s3.list_parts(Bucket=writer_bucket, Key="mp", UploadId=upload)
    assert (parts["Initiator"], parts["Owner"]) == (owner, owner)


def test_ownership_decides_who_owns_new_objects(engine: EngineServer, s3: Any, user: tuple[dict[str, str], Any],
                                                writer_bucket: str) -> None:
    owner, client = user
    root = root_owner(engine)

    def owner_of(key: str) -> dict[str, str]:
        return dict(s3.get_object_acl(Bucket=writer_bucket, Key=key)["Owner"])

    s3.put_bucket_ownership_controls(Bucket=writer_bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    client.put_object(Bucket=writer_bucket, Key="given", Body=b"x", ACL="bucket-owner-full-control")
    client.put_object(Bucket=writer_bucket, Key="kept", Body=b"x")
    assert owner_of("given") == root and owner_of("kept") == owner
    s3.put_bucket_ownership_controls(Bucket=writer_bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    client.put_object(Bucket=writer_bucket, Key="enforced", Body=b"x")
    assert owner_of("enforced") == root and owner_of("kept") == root       # ACLs (and writers) no longer count
    listed = s3.list_objects(Bucket=writer_bucket)["Contents"]
    assert {o["Owner"]["ID"] for o in listed} == {root["ID"]}


def test_buckets_belong_to_their_creator(engine: EngineServer, s3: Any, user: tuple[dict[str, str], Any],
                                         unique_name: Callable[[str], str]) -> None:
    owner, client = user
    name = unique_name("mine")
    client.create_bucket(Bucket=name)
    try:
        assert s3.get_bucket_acl(Bucket=name)["Owner"] == owner
        assert client.list_buckets()["Owner"] == owner
        client.put_object(Bucket=name, Key="o", Body=b"x")
        assert s3.list_objects(Bucket=name)["Contents"][0]["Owner"] == owner
        with pytest.raises(ClientError) as exc:
            s3.create_bucket(Bucket=name)
        assert (error_code(exc.value), exc.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
            "BucketAlreadyExists", 409)
        # The owner again: 200 in us-east-1 (AWS's legacy answer), and the bucket stays its owner's.
        assert client.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert s3.get_bucket_acl(Bucket=name)["Owner"] == owner
    finally:
        empty_bucket(s3, name)
        s3.delete_bucket(Bucket=name)


def test_delete_markers_belong_to_the_deleter(engine: EngineServer, s3: Any, user: tuple[dict[str, str], Any],
                                              writer_bucket: str) -> None:
    owner, client = user
    s3.put_bucket_versioning(Bucket=writer_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=writer_bucket, Key="a", Body=b"1")
    s3.put_object(Bucket=writer_bucket, Key="b", Body=b"2")
    client.delete_object(Bucket=writer_bucket, Key="a")
    client.delete_objects(Bucket=writer_bucket, Delete={"Objects": [{"Key": "b"}]})
    s3.delete_object(Bucket=writer_bucket, Key="b")
    markers = s3.list_object_versions(Bucket=writer_bucket)["DeleteMarkers"]
    assert sorted((m["Key"], m["Owner"]["ID"]) for m in markers) == sorted(
        [("a", owner["ID"]), ("b", owner["ID"]), ("b", root_owner(engine)["ID"])])
    assert all(m["Owner"] == owner for m in markers if m["Owner"]["ID"] == owner["ID"])
    s3.put_bucket_ownership_controls(Bucket=writer_bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    client.delete_object(Bucket=writer_bucket, Key="c")
    markers = s3.list_object_versions(Bucket=writer_bucket, Prefix="c")["DeleteMarkers"]
    assert [m["Owner"] for m in markers] == [root_owner(engine)]
