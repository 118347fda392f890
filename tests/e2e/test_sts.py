"""STS AssumeRole against the running server with boto3's ``sts`` client: temporary credentials that carry
the parent's policies narrowed by a session policy, AWS's parameter errors, and session tokens that are
refused once tampered with (forged, or their expiry rewritten)."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import msgpack  # type: ignore[import-untyped]
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import EngineServer

ROLE = "arn:aws:iam::000000000000:role/reader"


def error_of(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    response: Any = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def client(engine: EngineServer, service: str, creds: dict[str, str] | None = None, **config: Any) -> Any:
    keys = creds or {"AccessKeyId": engine.access_key, "SecretAccessKey": engine.secret_key}
    return boto3.client(service, endpoint_url=engine.url, region_name=engine.region,
                        aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"],
                        aws_session_token=keys.get("SessionToken"),
                        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}, **config))


@pytest.fixture(scope="module")
def alice(engine: EngineServer) -> Iterator[dict[str, Any]]:
    """An IAM user allowed everything on two buckets (its own ``own`` and ``other``), with an access key."""
    iam, s3 = client(engine, "iam"), client(engine, "s3")
    name = f"sts-alice-{engine.port}"
    buckets = {"own": f"sts-own-{engine.port}", "other": f"sts-other-{engine.port}"}
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hello")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="buckets", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": [
            f"arn:aws:s3:::{buckets['own']}", f"arn:aws:s3:::{buckets['own']}/*"]}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    yield {"name": name, "buckets": buckets, "creds": {"AccessKeyId": key["AccessKeyId"],
                                                       "SecretAccessKey": key["SecretAccessKey"]}}


def assume(engine: EngineServer, creds: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    response = client(engine, "sts", creds).assume_role(RoleArn=ROLE, RoleSessionName="test-session", **params)
    return response


def test_assume_role_session_has_the_parents_rights_narrowed_by_the_session_policy(
        engine: EngineServer, alice: dict[str, Any]) -> None:
    own = alice["buckets"]["own"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::{own}/*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{alice['buckets']['other']}/*"}]})
    response = assume(engine, alice["creds"], Policy=policy, DurationSeconds=900)
    creds = response["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40 and creds["SessionToken"]
    assert response["AssumedRoleUser"]["Arn"] == "arn:aws:sts::000000000000:assumed-role/reader/test-session"
    assert abs(creds["Expiration"].timestamp() - time.time() - 900) < 60
    s3 = client(engine, "s3", creds)
    assert s3.get_object(Bucket=own, Key="hello.txt")["Body"].read() == b"hello"
    s3.put_object(Bucket=own, Key="from-session.txt", Body=b"x")
    # The session policy does not allow it, though the parent may:
    assert error_of(lambda: s3.delete_object(Bucket=own, Key="hello.txt")) == ("AccessDenied", 403)
    # The session policy allows it, but the parent may not:
    other = alice["buckets"]["other"]
    assert error_of(lambda: s3.get_object(Bucket=other, Key="hello.txt")) == ("AccessDenied", 403)
    identity = client(engine, "sts", creds).get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::000000000000:assumed-role/reader/test-session"
    assert identity["Account"] == "000000000000"


def test_without_a_session_policy_the_session_acts_as_its_parent(engine: EngineServer, alice: dict[str, Any]) -> None:
    creds = assume(engine, alice["creds"])["Credentials"]
    s3 = client(engine, "s3", creds)
    own = alice["buckets"]["own"]
    s3.put_object(Bucket=own, Key="parent-rights.txt", Body=b"y")
    s3.delete_object(Bucket=own, Key="parent-rights.txt")
    assert error_of(lambda: s3.get_object(Bucket=alice["buckets"]["other"], Key="hello.txt"))[0] == "AccessDenied"


def test_a_session_ends_with_its_parent_user(engine: EngineServer) -> None:
    iam, name = client(engine, "iam"), f"sts-temp-{engine.port}"
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::000000000000:policy/readwrite")
    key = iam.create_access_key(UserName=name)["AccessKey"]
    user_creds = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
    assert client(engine, "sts", user_creds).get_caller_identity()["Arn"] == \
        f"arn:aws:iam::000000000000:user/{name}"
    session = client(engine, "s3", assume(engine, user_creds)["Credentials"])
    session.list_buckets()
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.detach_user_policy(UserName=name, PolicyArn="arn:aws:iam::000000000000:policy/readwrite")
    iam.delete_user(UserName=name)
    assert error_of(session.list_buckets) == ("InvalidAccessKeyId", 403)


def test_root_may_assume_a_role(engine: EngineServer, alice: dict[str, Any]) -> None:
    creds = assume(engine)["Credentials"]
    s3 = client(engine, "s3", creds)
    assert s3.get_object(Bucket=alice["buckets"]["other"], Key="hello.txt")["Body"].read() == b"hello"


def test_sessions_cannot_assume_roles(engine: EngineServer, alice: dict[str, Any]) -> None:
    creds = assume(engine, alice["creds"])["Credentials"]
    assert error_of(lambda: assume(engine, creds)) == ("AccessDenied", 403)


@pytest.mark.parametrize(("params", "code"), [
    ({"DurationSeconds": 899}, "ValidationError"),
    ({"DurationSeconds": 43201}, "ValidationError"),
    ({"RoleSessionName": "has space"}, "ValidationError"),
    ({"RoleArn": "arn:aws:iam::000000000000:user/alice"}, "ValidationError"),
    ({"Policy": "{not json"}, "MalformedPolicyDocument"),
    ({"Policy": json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                                     "Resource": "arn:aws:s3:::b/" + "k" * 2100}]})},
     "ValidationError"),
])
def test_parameters_are_checked_as_aws_does(engine: EngineServer, alice: dict[str, Any], params: dict[str, Any],
                                            code: str) -> None:
    sts = client(engine, "sts", alice["creds"], parameter_validation=False)
    args = {"RoleArn": ROLE, "RoleSessionName": "s1", **params}
    assert error_of(lambda: sts.assume_role(**args)) == (code, 400)


def test_unsigned_assume_role_is_refused(engine: EngineServer) -> None:
    body = f"Action=AssumeRole&Version=2011-06-15&RoleArn={ROLE}&RoleSessionName=s1".encode()
    request = urllib.request.Request(engine.url + "/", data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in info.value.read()


# --- session tokens that were tampered with -------------------------------------------------------------
def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_forged_tokens_are_refused(engine: EngineServer, alice: dict[str, Any]) -> None:
    creds = assume(engine, alice["creds"])["Credentials"]
    own = alice["buckets"]["own"]
    token = creds["SessionToken"]
    flipped = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    for forged in (flipped, token[: len(token) // 2], "not-a-token"):
        s3 = client(engine, "s3", {**creds, "SessionToken": forged})
        assert error_of(lambda: s3.get_object(Bucket=own, Key="hello.txt")) == ("InvalidToken", 400)
    # Another session's token with this session's key.
    other = assume(engine, alice["creds"])["Credentials"]
    s3 = client(engine, "s3", {**creds, "SessionToken": other["SessionToken"]})
    assert error_of(lambda: s3.get_object(Bucket=own, Key="hello.txt")) == ("InvalidToken", 400)
    # The key without any token.
    s3 = client(engine, "s3", {"AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"]})
    assert error_of(lambda: s3.get_object(Bucket=own, Key="hello.txt")) == ("InvalidToken", 400)


def test_a_token_whose_expiry_was_pushed_back_is_refused(engine: EngineServer, alice: dict[str, Any]) -> None:
    creds = assume(engine, alice["creds"], DurationSeconds=900)["Credentials"]
    version, key_id, packed, mac = msgpack.unpackb(_unb64(creds["SessionToken"]), raw=False)
    payload = msgpack.unpackb(packed, raw=False)
    payload["exp"] = payload["exp"] + 10 * 365 * 86400
    repacked = msgpack.packb([version, key_id, msgpack.packb(payload, use_bin_type=True), mac], use_bin_type=True)
    assert isinstance(repacked, bytes)
    rewritten = _b64(repacked)
    s3 = client(engine, "s3", {**creds, "SessionToken": rewritten})
    assert error_of(lambda: s3.list_objects_v2(Bucket=alice["buckets"]["own"])) == ("InvalidToken", 400)
    # The untouched token still works.
    client(engine, "s3", creds).list_objects_v2(Bucket=alice["buckets"]["own"])
