"""ACLs and bucket ownership controls against the real engine with boto3 (docs/iam.md "ACLs and owners").

New buckets get BucketOwnerEnforced, as on AWS: ACLs are disabled, reads report the owner's FULL_CONTROL,
writes of any ACL but the owner's full control fail with 400 AccessControlListNotSupported. A bucket
created with ``ObjectOwnership="ObjectWriter"`` (what s3cmd asks for with ``--acl-public``) keeps ACLs:
canned ACLs, ``x-amz-grant-*`` headers and AccessControlPolicy documents, with AWS's errors.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import EngineServer, empty_bucket

from .helpers import error_code
from .test_s3cmd import s3cmd as s3cmd_fixture

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"


def root_id(engine: EngineServer) -> str:
    return hashlib.sha256(engine.access_key.encode()).hexdigest()


def grants(acl: dict[str, Any]) -> set[tuple[str, str]]:
    """(grantee ID or URI, permission) of a Get*Acl answer."""
    return {(g["Grantee"].get("ID") or g["Grantee"].get("URI") or "", g["Permission"]) for g in acl["Grants"]}


def expect(code: str, status: int, call: Callable[..., Any], **kwargs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    assert error_code(exc.value) == code, exc.value.response
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


@pytest.fixture
def writer_bucket(engine: EngineServer, s3: Any, unique_name: Callable[[str], str]) -> Iterator[str]:
    """A bucket with ACLs enabled (ObjectOwnership ObjectWriter)."""
    name = unique_name("acl")
    s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter")
    yield name
    empty_bucket(s3, name)
    s3.delete_bucket(Bucket=name)


# --- BucketOwnerEnforced: the default ------------------------------------------------------------------
def test_new_bucket_is_bucket_owner_enforced(engine: EngineServer, s3: Any, bucket: str) -> None:
    rule = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rule == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert acl["Owner"]["ID"] == root_id(engine)
    assert grants(acl) == {(root_id(engine), "FULL_CONTROL")}


def test_enforced_refuses_acls_but_the_owners(engine: EngineServer, s3: Any, bucket: str) -> None:
    expect("AccessControlListNotSupported", 400, s3.put_object, Bucket=bucket, Key="k", Body=b"x",
           ACL="public-read")
    expect("AccessControlListNotSupported", 400, s3.put_object, Bucket=bucket, Key="k", Body=b"x",
           GrantRead=f'uri="{ALL_USERS}"')
    expect("AccessControlListNotSupported", 400, s3.put_bucket_acl, Bucket=bucket, ACL="public-read")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")            # nothing was stored
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    s3.put_object(Bucket=bucket, Key="k2", Body=b"x")
    s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ACL="private")      # rclone's default (docs/iam.md)
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    expect("AccessControlListNotSupported", 400, s3.put_object_acl, Bucket=bucket, Key="k", ACL="public-read")
    # s3cmd's cp / mv copy the source's ACL document to the destination: the owner's full control passes.
    policy = s3.get_object_acl(Bucket=bucket, Key="k")
    assert grants(policy) == {(root_id(engine), "FULL_CONTROL")}
    s3.put_object_acl(Bucket=bucket, Key="k2", AccessControlPolicy={
        "Owner": policy["Owner"], "Grants": policy["Grants"]})
    s3.copy_object(Bucket=bucket, Key="k3", CopySource={"Bucket": bucket, "Key": "k"})
    expect("AccessControlListNotSupported", 400, s3.copy_object, Bucket=bucket, Key="k4",
           CopySource={"Bucket": bucket, "Key": "k"}, ACL="public-read")
    expect("AccessControlListNotSupported", 400, s3.create_multipart_upload, Bucket=bucket, Key="k5",
           ACL="authenticated-read")


def test_create_bucket_acl_needs_acls_enabled(s3: Any, unique_name: Callable[[str], str]) -> None:
    name = unique_name("acl")
    expect("InvalidBucketAclWithObjectOwnership", 400, s3.create_bucket, Bucket=name, ACL="public-read")
    expect("NoSuchBucket", 404, s3.get_bucket_acl, Bucket=name)
    expect("InvalidArgument", 400, s3.create_bucket, Bucket=name, ObjectOwnership="Nobody")
    s3.create_bucket(Bucket=name, ACL="private")
    s3.delete_bucket(Bucket=name)


# --- ownership controls --------------------------------------------------------------------------------
def test_ownership_controls_put_get_delete(s3: Any, bucket: str) -> None:
    for value in ("BucketOwnerPreferred", "ObjectWriter", "BucketOwnerEnforced"):
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": value}]})
        assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
            {"ObjectOwnership": value}]
    s3.delete_bucket_ownership_controls(Bucket=bucket)
    expect("OwnershipControlsNotFoundError", 404, s3.get_bucket_ownership_controls, Bucket=bucket)
    expect("InvalidArgument", 400, s3.put_bucket_ownership_controls, Bucket=bucket,
           OwnershipControls={"Rules": [{"ObjectOwnership": "Everybody"}]})
    expect("NoSuchBucket", 404, s3.get_bucket_ownership_controls, Bucket=bucket + "-none")
    # Without controls ACLs are enabled again (ObjectWriter).
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert (ALL_USERS, "READ") in grants(s3.get_bucket_acl(Bucket=bucket))
    # ACLs are disabled only once the bucket's ACL gives nobody else anything.
    expect("InvalidBucketAclWithObjectOwnership", 400, s3.put_bucket_ownership_controls, Bucket=bucket,
           OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})


# --- ACLs enabled ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("canned", "extra"), [
    ("private", set()),
    ("public-read", {(ALL_USERS, "READ")}),
    ("public-read-write", {(ALL_USERS, "READ"), (ALL_USERS, "WRITE")}),
    ("authenticated-read", {(AUTHENTICATED, "READ")}),
    ("bucket-owner-read", set()),                    # the writer is the bucket owner: nothing more
    ("bucket-owner-full-control", set()),
])
def test_canned_object_acls(engine: EngineServer, s3: Any, writer_bucket: str, canned: str,
                            extra: set[tuple[str, str]]) -> None:
    s3.put_object(Bucket=writer_bucket, Key="o", Body=b"data", ACL=canned)
    acl = s3.get_object_acl(Bucket=writer_bucket, Key="o")
    assert acl["Owner"]["ID"] == root_id(engine)
    assert grants(acl) == {(root_id(engine), "FULL_CONTROL")} | extra
    s3.put_object_acl(Bucket=writer_bucket, Key="o", ACL="private")
    assert grants(s3.get_object_acl(Bucket=writer_bucket, Key="o")) == {(root_id(engine), "FULL_CONTROL")}


def test_canned_bucket_acls(engine: EngineServer, s3: Any, writer_bucket: str) -> None:
    me = (root_id(engine), "FULL_CONTROL")
    s3.put_bucket_acl(Bucket=writer_bucket, ACL="log-delivery-write")
    assert grants(s3.get_bucket_acl(Bucket=writer_bucket)) == {me, (LOG_DELIVERY, "WRITE"),
                                                               (LOG_DELIVERY, "READ_ACP")}
    s3.put_bucket_acl(Bucket=writer_bucket, ACL="authenticated-read")
    assert grants(s3.get_bucket_acl(Bucket=writer_bucket)) == {me, (AUTHENTICATED, "READ")}
    expect("InvalidArgument", 400, s3.put_bucket_acl, Bucket=writer_bucket, ACL="everyone-may")


def test_create_bucket_with_canned_acl(engine: EngineServer, s3: Any, unique_name: Callable[[str], str]) -> None:
    name = unique_name("acl")
    s3.create_bucket(Bucket=name, ACL="public-read", ObjectOwnership="ObjectWriter")
    try:
        acl = s3.get_bucket_acl(Bucket=name)
        assert grants(acl) == {(root_id(engine), "FULL_CONTROL"), (ALL_USERS, "READ")}
    finally:
        s3.delete_bucket(Bucket=name)


def test_grant_headers(engine: EngineServer, s3: Any, writer_bucket: str) -> None:
    me = root_id(engine)
    s3.put_object(Bucket=writer_bucket, Key="o", Body=b"data", GrantRead=f'uri="{AUTHENTICATED}"',
                  GrantFullControl=f'id="{me}"')
    assert grants(s3.get_object_acl(Bucket=writer_bucket, Key="o")) == {(AUTHENTICATED, "READ"), (me, "FULL_CONTROL")}
    # Explicit grants replace the ACL: the owner keeps only what they name.
    s3.put_object_acl(Bucket=writer_bucket, Key="o", GrantReadACP=f'id="{me}", uri="{ALL_USERS}"',
                      GrantWrite=f'uri="{LOG_DELIVERY}"')
    assert grants(s3.get_object_acl(Bucket=writer_bucket, Key="o")) == {
        (me, "READ_ACP"), (ALL_USERS, "READ_ACP"), (LOG_DELIVERY, "WRITE")}
    s3.put_bucket_acl(Bucket=writer_bucket, GrantWriteACP=f'id="{me}"', GrantRead=f'id="{me}"')
    assert grants(s3.get_bucket_acl(Bucket=writer_bucket)) == {(me, "WRITE_ACP"), (me, "READ")}


def test_grant_errors(s3: Any, writer_bucket: str) -> None:
    s3.put_object(Bucket=writer_bucket, Key="o", Body=b"data")
    expect("UnresolvableGrantByEmailAddress", 400, s3.put_object_acl, Bucket=writer_bucket, Key="o",
           GrantRead='emailAddress="someone@example.com"')
    expect("InvalidArgument", 400, s3.put_object_acl, Bucket=writer_bucket, Key="o", GrantRead=f'id="{"a" * 64}"')
    expect("InvalidArgument", 400, s3.put_object_acl, Bucket=writer_bucket, Key="o",
           GrantRead='uri="http://acs.amazonaws.com/groups/global/Nobody"')
    expect("InvalidRequest", 400, s3.put_object_acl, Bucket=writer_bucket, Key="o", ACL="public-read",
           GrantRead=f'uri="{ALL_USERS}"')
    expect("UnresolvableGrantByEmailAddress", 400, s3.put_object, Bucket=writer_bucket, Key="p", Body=b"x",
           GrantRead='emailAddress="someone@example.com"')
    expect("NoSuchKey", 404, s3.put_object_acl, Bucket=writer_bucket, Key="missing", ACL="private")


def test_access_control_policy_body(engine: EngineServer, s3: Any, writer_bucket: str) -> None:
    me = root_id(engine)
    s3.put_object(Bucket=writer_bucket, Key="o", Body=b"data")
    owner = s3.get_object_acl(Bucket=writer_bucket, Key="o")["Owner"]
    document = {"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": me}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}]}
    s3.put_object_acl(Bucket=writer_bucket, Key="o", AccessControlPolicy=document)
    acl = s3.get_object_acl(Bucket=writer_bucket, Key="o")
    assert grants(acl) == {(me, "FULL_CONTROL"), (ALL_USERS, "READ")}
    user_grant = next(g for g in acl["Grants"] if g["Grantee"]["Type"] == "CanonicalUser")
    assert user_grant["Grantee"]["DisplayName"] == "rustfs"
    s3.put_bucket_acl(Bucket=writer_bucket, AccessControlPolicy=document)
    assert grants(s3.get_bucket_acl(Bucket=writer_bucket)) == {(me, "FULL_CONTROL"), (ALL_USERS, "READ")}

    unknown = {"Owner": owner, "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "b" * 64},
                                           "Permission": "READ"}]}
    expect("InvalidArgument", 400, s3.put_object_acl, Bucket=writer_bucket, Key="o", AccessControlPolicy=unknown)
    email = {"Owner": owner, "Grants": [{"Grantee": {"Type": "AmazonCustomerByEmail",
                                                     "EmailAddress": "someone@example.com"}, "Permission": "READ"}]}
    expect("UnresolvableGrantByEmailAddress", 400, s3.put_bucket_acl, Bucket=writer_bucket,
           AccessControlPolicy=email)
    bad_permission = {"Owner": owner, "Grants": [{"Grantee": {"Type": "Group", "URI": ALL_USERS},
                                                  "Permission": "EVERYTHING"}]}
    expect("MalformedACLError", 400, s3.put_bucket_acl, Bucket=writer_bucket, AccessControlPolicy=bad_permission)
    expect("UnexpectedContent", 400, s3.put_object_acl, Bucket=writer_bucket, Key="o", ACL="private",
           AccessControlPolicy=document)
    # The ACL seen last is still the one set by the valid document.
    assert grants(s3.get_object_acl(Bucket=writer_bucket, Key="o")) == {(me, "FULL_CONTROL"), (ALL_USERS, "READ")}


def test_object_acl_of_a_version(engine: EngineServer, s3: Any, writer_bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=writer_bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=writer_bucket, Key="o", Body=b"1", ACL="public-read")["VersionId"]
    s3.put_object(Bucket=writer_bucket, Key="o", Body=b"2")
    assert (ALL_USERS, "READ") in grants(s3.get_object_acl(Bucket=writer_bucket, Key="o", VersionId=first))
    assert grants(s3.get_object_acl(Bucket=writer_bucket, Key="o")) == {(root_id(engine), "FULL_CONTROL")}
    s3.put_object_acl(Bucket=writer_bucket, Key="o", VersionId=first, ACL="private")
    assert grants(s3.get_object_acl(Bucket=writer_bucket, Key="o", VersionId=first)) == {
        (root_id(engine), "FULL_CONTROL")}


def test_copy_and_multipart_take_the_requests_acl(engine: EngineServer, s3: Any, writer_bucket: str) -> None:
    s3.put_object(Bucket=writer_bucket, Key="src", Body=b"data", ACL="public-read")
    s3.copy_object(Bucket=writer_bucket, Key="plain", CopySource={"Bucket": writer_bucket, "Key": "src"})
    assert grants(s3.get_object_acl(Bucket=writer_bucket, Key="plain")) == {(root_id(engine), "FULL_CONTROL")}
    s3.copy_object(Bucket=writer_bucket, Key="auth", CopySource={"Bucket": writer_bucket, "Key": "src"},
                   ACL="authenticated-read")
    assert (AUTHENTICATED, "READ") in grants(s3.get_object_acl(Bucket=writer_bucket, Key="auth"))
    upload = s3.create_multipart_upload(Bucket=writer_bucket, Key="mp", ACL="public-read-write")["UploadId"]
    etag = s3.upload_part(Bucket=writer_bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"x")["ETag"]
    s3.complete_multipart_upload(Bucket=writer_bucket, Key="mp", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert grants(s3.get_object_acl(Bucket=writer_bucket, Key="mp")) == {
        (root_id(engine), "FULL_CONTROL"), (ALL_USERS, "READ"), (ALL_USERS, "WRITE")}


# --- who the grants let in: anonymous callers, IAM users -------------------------------------------------
def user_id(name: str) -> str:
    return hashlib.sha256(f"user/{name}".encode()).hexdigest()


@pytest.fixture
def user(engine: EngineServer, unique_name: Callable[[str], str]) -> Iterator[tuple[str, Any]]:
    """An IAM user without any policy: (name, its boto3 s3 client)."""
    import boto3.session

    iam = boto3.session.Session().client(
        "iam", endpoint_url=engine.url, region_name=engine.region, aws_access_key_id=engine.access_key,
        aws_secret_access_key=engine.secret_key)
    name = unique_name("u")[:60]
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    yield name, engine.client(access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=name)


@pytest.fixture
def anonymous(engine: EngineServer) -> Any:
    from botocore import UNSIGNED
    return engine.client(signature_version=UNSIGNED)


def test_public_grants_let_anonymous_callers_in(s3: Any, anonymous: Any, writer_bucket: str) -> None:
    s3.put_object(Bucket=writer_bucket, Key="public", Body=b"open", ACL="public-read")
    s3.put_object(Bucket=writer_bucket, Key="private", Body=b"closed")
    assert anonymous.get_object(Bucket=writer_bucket, Key="public")["Body"].read() == b"open"
    expect("AccessDenied", 403, anonymous.get_object, Bucket=writer_bucket, Key="private")
    expect("AccessDenied", 403, anonymous.get_object_acl, Bucket=writer_bucket, Key="public")
    expect("AccessDenied", 403, anonymous.list_objects_v2, Bucket=writer_bucket)
    expect("AccessDenied", 403, anonymous.put_object, Bucket=writer_bucket, Key="new", Body=b"x")
    s3.put_bucket_acl(Bucket=writer_bucket, ACL="public-read-write")
    assert {o["Key"] for o in anonymous.list_objects_v2(Bucket=writer_bucket)["Contents"]} == {"public", "private"}
    anonymous.put_object(Bucket=writer_bucket, Key="new", Body=b"x")
    anonymous.delete_object(Bucket=writer_bucket, Key="new")
    expect("AccessDenied", 403, anonymous.get_bucket_acl, Bucket=writer_bucket)
    expect("AccessDenied", 403, anonymous.put_bucket_acl, Bucket=writer_bucket, ACL="private")


def test_grants_to_users(engine: EngineServer, s3: Any, anonymous: Any, user: tuple[str, Any],
                         writer_bucket: str) -> None:
    name, client = user
    s3.put_object(Bucket=writer_bucket, Key="signed", Body=b"s", ACL="authenticated-read")
    assert client.get_object(Bucket=writer_bucket, Key="signed")["Body"].read() == b"s"
    expect("AccessDenied", 403, anonymous.get_object, Bucket=writer_bucket, Key="signed")
    s3.put_object(Bucket=writer_bucket, Key="named", Body=b"n", GrantRead=f'id="{user_id(name)}"',
                  GrantReadACP=f'id="{user_id(name)}"')
    assert client.get_object(Bucket=writer_bucket, Key="named")["Body"].read() == b"n"
    acl = client.get_object_acl(Bucket=writer_bucket, Key="named")
    assert grants(acl) == {(user_id(name), "READ"), (user_id(name), "READ_ACP")}
    named = next(g for g in acl["Grants"] if g["Permission"] == "READ")
    assert named["Grantee"]["DisplayName"] == name
    expect("AccessDenied", 403, client.put_object_acl, Bucket=writer_bucket, Key="named", ACL="public-read")
    expect("AccessDenied", 403, client.put_object, Bucket=writer_bucket, Key="mine", Body=b"x")
    s3.put_bucket_acl(Bucket=writer_bucket, GrantWrite=f'id="{user_id(name)}"',
                      GrantFullControl=f'id="{root_id(engine)}"')
    client.put_object(Bucket=writer_bucket, Key="mine", Body=b"x")          # WRITE on the bucket
    expect("AccessDenied", 403, client.list_objects_v2, Bucket=writer_bucket)


def test_public_access_block_and_acls(s3: Any, anonymous: Any, writer_bucket: str) -> None:
    s3.put_object(Bucket=writer_bucket, Key="public", Body=b"open", ACL="public-read")
    s3.put_public_access_block(Bucket=writer_bucket, PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
    expect("AccessDenied", 403, anonymous.get_object, Bucket=writer_bucket, Key="public")
    s3.put_public_access_block(Bucket=writer_bucket, PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    assert anonymous.get_object(Bucket=writer_bucket, Key="public")["Body"].read() == b"open"
    expect("AccessDenied", 403, s3.put_object, Bucket=writer_bucket, Key="p2", Body=b"x", ACL="public-read")
    expect("AccessDenied", 403, s3.put_object_acl, Bucket=writer_bucket, Key="public", ACL="authenticated-read")
    expect("AccessDenied", 403, s3.put_bucket_acl, Bucket=writer_bucket, GrantRead=f'uri="{ALL_USERS}"')
    s3.put_object(Bucket=writer_bucket, Key="p3", Body=b"x", ACL="private")
    s3.delete_public_access_block(Bucket=writer_bucket)
    s3.put_object(Bucket=writer_bucket, Key="p2", Body=b"x", ACL="public-read")


def test_enforced_bucket_ignores_acls(s3: Any, anonymous: Any, writer_bucket: str) -> None:
    s3.put_object(Bucket=writer_bucket, Key="public", Body=b"open", ACL="public-read")
    s3.put_bucket_ownership_controls(Bucket=writer_bucket, OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    expect("AccessDenied", 403, anonymous.get_object, Bucket=writer_bucket, Key="public")


# --- s3cmd with its default settings: cp / mv copy the source's ACL document --------------------------------
s3cmd = s3cmd_fixture          # the s3cmd fixture (default settings, this engine)


def test_s3cmd_defaults_work_with_bucket_owner_enforced(engine: EngineServer, s3: Any, s3cmd: Any,
                                                        unique_name: Callable[[str], str], tmp_path: Path) -> None:
    name, public = unique_name("s3cmd"), unique_name("s3cmd-pub")
    source = tmp_path / "f.txt"
    source.write_bytes(b"s3cmd")
    s3cmd("mb", f"s3://{name}")
    try:
        assert s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"] == [
            {"ObjectOwnership": "BucketOwnerEnforced"}]
        s3cmd("put", str(source), f"s3://{name}/a")
        s3cmd("cp", f"s3://{name}/a", f"s3://{name}/b")              # GetObjectAcl, copy, PutObjectAcl
        s3cmd("mv", f"s3://{name}/b", f"s3://{name}/c")
        assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]) == ["a", "c"]
        assert b"FULL_CONTROL" in s3cmd("info", f"s3://{name}/c").stdout
        refused = s3cmd("setacl", "--acl-public", f"s3://{name}/a", check=False)
        assert refused.returncode != 0 and b"AccessControlListNotSupported" in refused.stderr + refused.stdout
        # --acl-public on mb asks for ObjectWriter itself: the bucket is public-read.
        s3cmd("mb", "--acl-public", f"s3://{public}")
        assert (ALL_USERS, "READ") in grants(s3.get_bucket_acl(Bucket=public))
        s3cmd("put", "--acl-public", str(source), f"s3://{public}/p")
        assert (ALL_USERS, "READ") in grants(s3.get_object_acl(Bucket=public, Key="p"))
    finally:
        for bucket in (name, public):
            empty_bucket(s3, bucket)
            with contextlib.suppress(ClientError):
                s3.delete_bucket(Bucket=bucket)
