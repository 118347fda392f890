"""The IAM API against the running server with boto3's ``iam`` client (query protocol, SigV4 service iam)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import EngineServer

READ_BUCKETS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets"], "Resource": ["*"]}]})
MANAGE_IAM = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["iam:GetUser", "iam:ListUsers"], "Resource": ["*"]}]})


def iam_client(engine: EngineServer, access_key: str | None = None, secret_key: str | None = None) -> Any:
    return boto3.session.Session().client(
        "iam", endpoint_url=engine.url, region_name=engine.region,
        aws_access_key_id=access_key or engine.access_key, aws_secret_access_key=secret_key or engine.secret_key,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_users_and_keys_round_trip_and_authenticate(engine: EngineServer) -> None:
    iam = iam_client(engine)
    user = name("alice")
    created = iam.create_user(UserName=user)["User"]
    assert created["UserName"] == user and created["Arn"] == f"arn:aws:iam::000000000000:user/{user}"
    assert iam.get_user(UserName=user)["User"]["UserId"] == created["UserId"]
    assert user in [u["UserName"] for u in iam.list_users()["Users"]]
    with pytest.raises(ClientError) as exists:
        iam.create_user(UserName=user)
    assert error_of(exists) == ("EntityAlreadyExists", 409)

    key = iam.create_access_key(UserName=user)["AccessKey"]
    assert key["Status"] == "Active" and len(key["SecretAccessKey"]) == 40
    listed = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]] and "SecretAccessKey" not in listed[0]

    s3 = engine.client(access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    with pytest.raises(ClientError) as denied:           # authenticated, but no policy allows it
        s3.list_buckets()
    assert error_of(denied) == ("AccessDenied", 403)
    iam.put_user_policy(UserName=user, PolicyName="buckets", PolicyDocument=READ_BUCKETS)
    s3.list_buckets()                                    # the user's policy applies

    mine = iam_client(engine, key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as not_allowed:
        mine.list_users()
    assert error_of(not_allowed) == ("AccessDenied", 403)
    iam.put_user_policy(UserName=user, PolicyName="iam", PolicyDocument=MANAGE_IAM)
    assert mine.get_user()["User"]["UserName"] == user          # no UserName: the caller's own user
    assert user in [u["UserName"] for u in mine.list_users()["Users"]]
    with pytest.raises(ClientError) as no_create:
        mine.create_user(UserName=name("mallory"))
    assert error_of(no_create) == ("AccessDenied", 403)

    iam.update_access_key(UserName=user, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as inactive:
        s3.list_buckets()
    assert error_of(inactive) == ("InvalidAccessKeyId", 403)
    iam.update_access_key(UserName=user, AccessKeyId=key["AccessKeyId"], Status="Active")
    assert mine.get_user()["User"]["UserName"] == user

    with pytest.raises(ClientError) as conflict:
        iam.delete_user(UserName=user)
    assert error_of(conflict) == ("DeleteConflict", 409)
    iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError) as deleted:
        s3.list_buckets()
    assert error_of(deleted) == ("InvalidAccessKeyId", 403)
    for policy in iam.list_user_policies(UserName=user)["PolicyNames"]:
        iam.delete_user_policy(UserName=user, PolicyName=policy)
    iam.delete_user(UserName=user)
    with pytest.raises(ClientError) as gone:
        iam.get_user(UserName=user)
    assert error_of(gone) == ("NoSuchEntity", 404)


def test_policies_and_groups_round_trip(engine: EngineServer) -> None:
    iam = iam_client(engine)
    user, group, policy_name = name("bob"), name("devs"), name("readbuckets")
    iam.create_user(UserName=user)
    with pytest.raises(ClientError) as malformed:
        iam.create_policy(PolicyName=policy_name, PolicyDocument='{"Version": "2012-10-17", "Statement": 5}')
    assert error_of(malformed) == ("MalformedPolicyDocument", 400)
    policy = iam.create_policy(PolicyName=policy_name, PolicyDocument=READ_BUCKETS, Description="d")["Policy"]
    arn = policy["Arn"]
    assert arn == f"arn:aws:iam::000000000000:policy/{policy_name}"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["PolicyName"] == policy_name
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert version["Document"] == json.loads(READ_BUCKETS)     # URL-encoded on the wire, decoded by botocore
    names = {p["PolicyName"] for p in iam.list_policies()["Policies"]}
    assert {policy_name, "readwrite", "readonly", "writeonly", "diagnostics", "consoleAdmin"} <= names

    iam.put_user_policy(UserName=user, PolicyName="inline", PolicyDocument=READ_BUCKETS)
    assert iam.get_user_policy(UserName=user, PolicyName="inline")["PolicyDocument"] == json.loads(READ_BUCKETS)
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]] == [arn]
    with pytest.raises(ClientError) as attached:
        iam.delete_policy(PolicyArn=arn)
    assert error_of(attached) == ("DeleteConflict", 409)

    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    got = iam.get_group(GroupName=group)
    assert got["Group"]["GroupName"] == group and [u["UserName"] for u in got["Users"]] == [user]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]] == [group]
    assert group in [g["GroupName"] for g in iam.list_groups()["Groups"]]
    iam.put_group_policy(GroupName=group, PolicyName="g-inline", PolicyDocument=READ_BUCKETS)
    assert iam.get_group_policy(GroupName=group, PolicyName="g-inline")["PolicyDocument"] == json.loads(READ_BUCKETS)
    assert iam.list_group_policies(GroupName=group)["PolicyNames"] == ["g-inline"]
    iam.attach_group_policy(GroupName=group, PolicyArn="arn:aws:iam::000000000000:policy/readonly")
    assert [p["PolicyName"] for p in iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]] == \
        ["readonly"]
    with pytest.raises(ClientError) as members:
        iam.delete_group(GroupName=group)
    assert error_of(members) == ("DeleteConflict", 409)

    iam.remove_user_from_group(GroupName=group, UserName=user)
    iam.detach_group_policy(GroupName=group, PolicyArn="arn:aws:iam::000000000000:policy/readonly")
    iam.delete_group_policy(GroupName=group, PolicyName="g-inline")
    iam.delete_group(GroupName=group)
    with pytest.raises(ClientError) as no_group:
        iam.get_group(GroupName=group)
    assert error_of(no_group) == ("NoSuchEntity", 404)
    iam.detach_user_policy(UserName=user, PolicyArn=arn)
    with pytest.raises(ClientError) as not_attached:
        iam.detach_user_policy(UserName=user, PolicyArn=arn)
    assert error_of(not_attached) == ("NoSuchEntity", 404)
    iam.delete_policy(PolicyArn=arn)
    iam.delete_user_policy(UserName=user, PolicyName="inline")
    iam.delete_user(UserName=user)


def test_query_api_errors(engine: EngineServer) -> None:
    import hashlib
    from urllib.parse import urlencode

    def post(body: bytes, sign: bool = True) -> tuple[int, bytes]:
        headers = {"content-type": "application/x-www-form-urlencoded"}
        if sign:
            headers = engine.sign("POST", "/", "", hashlib.sha256(body).hexdigest(), headers)
        from tests.conftest import raw_request
        return raw_request(engine.port, "POST", "/", headers, body)
    # signed for the service "s3" (the fixture's signer): no query API there
    status, body = post(urlencode({"Action": "ListUsers", "Version": "2010-05-08"}).encode())
    assert status == 400 and b"<Code>InvalidAction</Code>" in body and b"Traceback" not in body
    status, body = post(b"Action=ListUsers&Version=2010-05-08&Pad=" + b"x" * (200 * 1024))
    assert status == 400 and b"<ErrorResponse" in body
    iam = iam_client(engine)
    with pytest.raises(ClientError) as unknown_user:
        iam.list_access_keys(UserName=name("nobody"))
    assert error_of(unknown_user) == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as root_name:
        iam.create_user(UserName="root")
    assert error_of(root_name)[1] == 400


def test_session_credentials_sign_headers_and_presigned_urls(engine: EngineServer, s3: Any, bucket: str) -> None:
    import urllib.error
    import urllib.request
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    s3.put_object(Bucket=bucket, Key="k", Body=b"session data")
    sts = boto3.session.Session().client(
        "sts", endpoint_url=engine.url, region_name=engine.region, aws_access_key_id=engine.access_key,
        aws_secret_access_key=engine.secret_key, config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    creds = sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/reader", RoleSessionName="s1")["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")

    def client(signature_version: str = "s3v4", token: str | None = creds["SessionToken"]) -> Any:
        return boto3.session.Session().client(
            "s3", endpoint_url=engine.url, region_name=engine.region, aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=token,
            config=Config(signature_version=signature_version, s3={"addressing_style": "path"},
                          retries={"max_attempts": 1, "mode": "standard"}))

    def fetch(url: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    assert client().get_object(Bucket=bucket, Key="k")["Body"].read() == b"session data"      # header token
    for version, param in (("s3v4", "X-Amz-Security-Token"), ("s3", "x-amz-security-token")):
        url = client(version).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
        assert param in url
        assert fetch(url) == (200, b"session data"), version
        parts = urlsplit(url)
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != param])
        stripped = urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
        status, body = fetch(stripped)
        assert status == 400 and b"<Code>InvalidToken</Code>" in body, (version, body)
    with pytest.raises(ClientError) as missing:
        client(token=None).get_object(Bucket=bucket, Key="k")
    assert error_of(missing) == ("InvalidToken", 400)
