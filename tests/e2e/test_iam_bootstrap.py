"""RUSTFS_IAM_BOOTSTRAP_FILE against a running engine: the declared users authenticate with boto3 and can do exactly
what their policies allow; every start converges to the document (a changed policy, a removed group membership, a
rotated secret file) and leaves alone what the document does not declare."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import EngineServer

ALICE_KEY, BOB_KEY = "BOOTSTRAPALICE000001", "BOOTSTRAPBOB00000001"


def _read(bucket: str, *actions: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", *actions], "Resource": [f"arn:aws:s3:::{bucket}/*"]},
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{bucket}"]}]}


def _document(secrets: Path, reports: dict[str, Any], alice_groups: list[str]) -> dict[str, Any]:
    return {"policies": {"reports-read": reports},
            "groups": {"analysts": {"policies": ["reports-read"]}},
            "users": {"alice": {"groups": alice_groups, "access_key": ALICE_KEY,
                                "secret_key_file": str(secrets / "alice")},
                      "bob": {"policies": ["readonly"], "access_key": BOB_KEY, "secret_key_file": str(secrets / "bob")}}}


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _iam(engine: EngineServer) -> Any:
    return boto3.session.Session().client(
        "iam", endpoint_url=engine.url, region_name=engine.region, aws_access_key_id=engine.access_key,
        aws_secret_access_key=engine.secret_key, config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def test_declared_users_get_exactly_their_policies_and_restarts_converge(
        make_engine: Callable[..., EngineServer], tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "alice").write_text("alice-secret-0123456789abcdefghijklmnop\n")
    (secrets / "bob").write_text("bob-secret-0123456789abcdefghijklmnopqr")
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(_document(secrets, _read("reports"), ["analysts"])))
    engine = make_engine(env={"RUSTFS_IAM_BOOTSTRAP_FILE": str(path)}, name="iam-bootstrap")

    root = engine.client()
    for bucket in ("reports", "private"):
        root.create_bucket(Bucket=bucket)
        root.put_object(Bucket=bucket, Key="q1.csv", Body=b"a,b\n")
    alice = engine.client(access_key=ALICE_KEY, secret_key="alice-secret-0123456789abcdefghijklmnop")
    bob = engine.client(access_key=BOB_KEY, secret_key="bob-secret-0123456789abcdefghijklmnopqr")

    # alice: the group's policy (read reports), nothing else.
    assert alice.get_object(Bucket="reports", Key="q1.csv")["Body"].read() == b"a,b\n"
    assert [o["Key"] for o in alice.list_objects_v2(Bucket="reports")["Contents"]] == ["q1.csv"]
    for call in (lambda: alice.put_object(Bucket="reports", Key="x", Body=b"x"),
                 lambda: alice.get_object(Bucket="private", Key="q1.csv"), alice.list_buckets):
        with pytest.raises(ClientError) as denied:
            call()
        assert _code(denied) == "AccessDenied"
    # bob: the built-in readonly policy, attached directly.
    assert bob.get_object(Bucket="private", Key="q1.csv")["Body"].read() == b"a,b\n"
    with pytest.raises(ClientError) as denied:
        bob.put_object(Bucket="private", Key="x", Body=b"x")
    assert _code(denied) == "AccessDenied"

    # What the document does not declare is the administrators' and survives restarts.
    iam = _iam(engine)
    iam.create_user(UserName="carol")
    iam.attach_user_policy(UserName="carol", PolicyArn="arn:aws:iam::000000000000:policy/reports-read")
    iam.add_user_to_group(GroupName="analysts", UserName="carol")

    # Restart unchanged: nothing duplicated.
    engine.restart()
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]] == [ALICE_KEY]
    assert sorted(u["UserName"] for u in iam.get_group(GroupName="analysts")["Users"]) == ["alice", "carol"]

    # Converge: the policy now allows writes, alice leaves the group for a direct attachment, bob's secret rotates.
    document = _document(secrets, _read("reports", "s3:PutObject"), [])
    document["users"]["alice"]["policies"] = ["reports-read"]
    path.write_text(json.dumps(document))
    (secrets / "bob").write_text("bob-rotated-0123456789abcdefghijklmnopq")
    engine.restart()
    alice.put_object(Bucket="reports", Key="q2.csv", Body=b"c,d\n")
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="alice")["Groups"]] == []
    assert [p["PolicyName"] for p in iam.list_attached_user_policies(UserName="alice")["AttachedPolicies"]] == \
        ["reports-read"]
    with pytest.raises(ClientError) as old_secret:
        bob.list_objects_v2(Bucket="private")
    assert _code(old_secret) == "SignatureDoesNotMatch"
    rotated = engine.client(access_key=BOB_KEY, secret_key="bob-rotated-0123456789abcdefghijklmnopq")
    assert rotated.get_object(Bucket="private", Key="q1.csv")["Body"].read() == b"a,b\n"
    assert iam.get_user(UserName="carol")["User"]["UserName"] == "carol"
    assert [u["UserName"] for u in iam.get_group(GroupName="analysts")["Users"]] == ["carol"]
    assert [p["PolicyName"] for p in iam.list_attached_user_policies(UserName="carol")["AttachedPolicies"]] == \
        ["reports-read"]


def test_every_node_of_a_distributed_engine_applies_it_once(
        engine_factory: Callable[..., EngineServer], tmp_path: Path) -> None:
    (tmp_path / "alice").write_text("alice-secret-0123456789abcdefghijklmnop")
    (tmp_path / "bob").write_text("bob-secret-0123456789abcdefghijklmnopqr")
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(_document(tmp_path, _read("reports"), ["analysts"])))
    servers = [engine_factory(drives=2, start=False, name=f"iam-boot-node{i}",
                              env={"RUSTFS_IAM_BOOTSTRAP_FILE": str(path)}) for i in range(4)]
    drives = [f"http://{s.address}{d}" for s in servers for d in s.drives]
    for server in servers:
        server.command = (lambda s=server: [sys.executable, "-m", "storage_engine", "server",  # type: ignore[method-assign]
                                            "--address", s.address, *drives])
    try:
        for server in servers:          # all at once: every node applies the document, one after another
            server.start(wait=False)
        for server in servers:
            server.wait_ready()
        servers[0].client().create_bucket(Bucket="reports")
        servers[0].client().put_object(Bucket="reports", Key="q1.csv", Body=b"a,b\n")
        for server in servers:
            alice = server.client(access_key=ALICE_KEY, secret_key="alice-secret-0123456789abcdefghijklmnop")
            assert alice.get_object(Bucket="reports", Key="q1.csv")["Body"].read() == b"a,b\n"
        iam = _iam(servers[3])
        assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]] == [ALICE_KEY]
        assert [u["UserName"] for u in iam.get_group(GroupName="analysts")["Users"]] == ["alice"]
        assert sorted(u["UserName"] for u in iam.list_users()["Users"]) == ["alice", "bob"]
    finally:
        for server in servers:
            server.stop()
