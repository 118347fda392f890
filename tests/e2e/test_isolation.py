"""Users are isolated from each other's buckets unless a policy says otherwise (docs/iam.md "The decision").

Users are made with boto3's ``iam`` client (root), each with an identity policy allowing ``s3:*`` on the
buckets named after them (``${aws:username}-*``). Then: another user's bucket cannot be listed, read,
written or managed; a bucket policy can grant it; an explicit Deny in the caller's identity policy beats
that grant; a session policy (AssumeRole's ``Policy``) intersects what the user may do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3.session
import pytest
from botocore.config import Config

from tests.conftest import EngineServer

from .helpers import remove_bucket
from .test_bucket_policy import expect

OWN_BUCKETS = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Own", "Effect": "Allow", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::${aws:username}-*", "arn:aws:s3:::${aws:username}-*/*"]},
    {"Sid": "List", "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
]}


def _client(engine: EngineServer, service: str, **credentials: Any) -> Any:
    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1, "mode": "standard"})
    return boto3.session.Session().client(service, endpoint_url=engine.url, region_name=engine.region,
                                          config=config, **credentials)


@pytest.fixture(scope="module")
def iam(engine: EngineServer) -> Any:
    return _client(engine, "iam", aws_access_key_id=engine.access_key, aws_secret_access_key=engine.secret_key)


class User:
    def __init__(self, engine: EngineServer, iam: Any, name: str, policy: dict[str, Any]) -> None:
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="own", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        self.name = name
        self.bucket = f"{name}-data"
        self.credentials = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
        self.s3 = _client(engine, "s3", **self.credentials)
        self.sts = _client(engine, "sts", **self.credentials)


@pytest.fixture
def users(engine: EngineServer, iam: Any, s3: Any, unique_name: Callable[[str], str]) -> Iterator[tuple[User, User]]:
    alice = User(engine, iam, unique_name("alice"), OWN_BUCKETS)
    bob = User(engine, iam, unique_name("bob"), OWN_BUCKETS)
    for user in (alice, bob):
        user.s3.create_bucket(Bucket=user.bucket)
        user.s3.put_object(Bucket=user.bucket, Key="file.txt", Body=user.name.encode())
    yield alice, bob
    for user in (alice, bob):
        remove_bucket(s3, user.bucket)          # as root: whatever the test left in its policies


def test_a_user_cannot_touch_another_users_bucket(users: tuple[User, User]) -> None:
    alice, bob = users
    assert alice.s3.get_object(Bucket=alice.bucket, Key="file.txt")["Body"].read() == alice.name.encode()
    assert [o["Key"] for o in alice.s3.list_objects_v2(Bucket=alice.bucket)["Contents"]] == ["file.txt"]
    expect("AccessDenied", 403, bob.s3.list_objects_v2, Bucket=alice.bucket)
    expect("AccessDenied", 403, bob.s3.get_object, Bucket=alice.bucket, Key="file.txt")
    expect("AccessDenied", 403, bob.s3.put_object, Bucket=alice.bucket, Key="evil", Body=b"x")
    expect("AccessDenied", 403, bob.s3.delete_object, Bucket=alice.bucket, Key="file.txt")
    expect("AccessDenied", 403, bob.s3.put_bucket_policy, Bucket=alice.bucket, Policy=json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*",
                        "Resource": f"arn:aws:s3:::{alice.bucket}/*"}]}))
    expect("AccessDenied", 403, bob.s3.delete_bucket, Bucket=alice.bucket)
    expect("AccessDenied", 403, bob.s3.create_bucket, Bucket=f"{alice.name}-squat")
    result = bob.s3.delete_objects(Bucket=alice.bucket, Delete={"Objects": [{"Key": "file.txt"}]})
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("file.txt", "AccessDenied")]
    expect("AccessDenied", 403, bob.s3.copy_object, Bucket=bob.bucket, Key="stolen",
           CopySource={"Bucket": alice.bucket, "Key": "file.txt"})
    assert alice.s3.get_object(Bucket=alice.bucket, Key="file.txt")["Body"].read() == alice.name.encode()


def test_a_bucket_policy_grants_and_an_identity_deny_wins(iam: Any, users: tuple[User, User]) -> None:
    alice, bob = users
    grant = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::000000000000:user/{bob.name}"},
         "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{alice.bucket}/*"}]}
    alice.s3.put_bucket_policy(Bucket=alice.bucket, Policy=json.dumps(grant))
    assert bob.s3.get_object(Bucket=alice.bucket, Key="file.txt")["Body"].read() == alice.name.encode()
    bob.s3.copy_object(Bucket=bob.bucket, Key="copied", CopySource={"Bucket": alice.bucket, "Key": "file.txt"})
    expect("AccessDenied", 403, bob.s3.put_object, Bucket=alice.bucket, Key="evil", Body=b"x")
    expect("AccessDenied", 403, bob.s3.list_objects_v2, Bucket=alice.bucket)
    # An explicit Deny in bob's own identity policy beats alice's grant.
    deny = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{alice.bucket}/*"}]}
    iam.put_user_policy(UserName=bob.name, PolicyName="deny", PolicyDocument=json.dumps(deny))
    expect("AccessDenied", 403, bob.s3.get_object, Bucket=alice.bucket, Key="file.txt")
    iam.delete_user_policy(UserName=bob.name, PolicyName="deny")
    assert bob.s3.get_object(Bucket=alice.bucket, Key="file.txt")["Body"].read() == alice.name.encode()
    # An explicit Deny in a bucket policy beats the identity policy (and ownership) of its own owner.
    own_deny = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bob.bucket}/*"}]}
    bob.s3.put_bucket_policy(Bucket=bob.bucket, Policy=json.dumps(own_deny))
    expect("AccessDenied", 403, bob.s3.get_object, Bucket=bob.bucket, Key="file.txt")
    bob.s3.delete_bucket_policy(Bucket=bob.bucket)
    assert bob.s3.get_object(Bucket=bob.bucket, Key="file.txt")["Body"].read() == bob.name.encode()


def test_a_session_policy_intersects(users: tuple[User, User], engine: EngineServer) -> None:
    alice, _ = users
    read_only = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    session = alice.sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/reader", RoleSessionName="s1",
                                    Policy=json.dumps(read_only))["Credentials"]
    s3 = _client(engine, "s3", aws_access_key_id=session["AccessKeyId"],
                 aws_secret_access_key=session["SecretAccessKey"], aws_session_token=session["SessionToken"])
    assert s3.get_object(Bucket=alice.bucket, Key="file.txt")["Body"].read() == alice.name.encode()
    expect("AccessDenied", 403, s3.put_object, Bucket=alice.bucket, Key="new", Body=b"x")   # her own bucket
    expect("AccessDenied", 403, s3.list_objects_v2, Bucket=alice.bucket)
