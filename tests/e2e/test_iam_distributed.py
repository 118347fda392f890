"""IAM in distributed mode: 4 engine processes on loopback (2 drives each, one drive list). A user, key, policy
or group change made through one node is in force on every other within a second (config store records,
peer notifications)."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import EngineServer

NODES, DRIVES = 4, 2
WITHIN_SECONDS = 1.0
LIST_BUCKETS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets"], "Resource": ["*"]}]})


@pytest.fixture(scope="module")
def nodes(engine_factory: Callable[..., EngineServer]) -> Iterator[list[EngineServer]]:
    servers = [engine_factory(drives=DRIVES, start=False, name=f"iam-node{i}") for i in range(NODES)]
    drives = [f"http://{s.address}{d}" for s in servers for d in s.drives]
    for server in servers:
        server.command = (lambda s=server: [sys.executable, "-m", "storage_engine", "server",  # type: ignore[method-assign]
                                            "--address", s.address, *drives])
    for server in reversed(servers):
        server.start(wait=False)
    for server in servers:
        server.wait_ready()
    yield servers
    for server in servers:
        server.stop()


def _config() -> Config:
    return Config(retries={"max_attempts": 1, "mode": "standard"})


def iam_of(node: EngineServer) -> Any:
    return boto3.session.Session().client("iam", endpoint_url=node.url, region_name=node.region,
                                          aws_access_key_id=node.access_key,
                                          aws_secret_access_key=node.secret_key, config=_config())


def outcome(node: EngineServer, access: str, secret: str) -> str:
    """What ListBuckets with this key answers on ``node``: "ok" or the error code."""
    try:
        node.client(access_key=access, secret_key=secret, retries={"max_attempts": 1, "mode": "standard"}) \
            .list_buckets()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def on_every_node(nodes: list[EngineServer], access: str, secret: str, expected: str) -> None:
    """Each node answers ``expected`` within WITHIN_SECONDS of the change (polled, bounded)."""
    deadline = time.monotonic() + WITHIN_SECONDS
    seen: dict[str, str] = {}
    pending = list(nodes)
    while True:
        for node in pending:
            seen[node.name] = outcome(node, access, secret)
        pending = [node for node in pending if seen[node.name] != expected]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not pending, f"after {WITHIN_SECONDS}s: {seen} (expected {expected!r} everywhere)"


def test_a_change_through_one_node_is_in_force_on_every_other(nodes: list[EngineServer]) -> None:
    first, others = nodes[0], nodes[1:]
    iam = iam_of(first)
    user = f"dist-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    access, secret = key["AccessKeyId"], key["SecretAccessKey"]
    on_every_node(others, access, secret, "AccessDenied")           # known everywhere, allowed nothing

    iam.put_user_policy(UserName=user, PolicyName="list", PolicyDocument=LIST_BUCKETS)
    on_every_node(others, access, secret, "ok")

    iam_of(nodes[2]).update_access_key(UserName=user, AccessKeyId=access, Status="Inactive")   # via another node
    on_every_node([first, nodes[1], nodes[3]], access, secret, "InvalidAccessKeyId")
    iam.update_access_key(UserName=user, AccessKeyId=access, Status="Active")
    on_every_node(others, access, secret, "ok")

    group = f"dist-group-{uuid.uuid4().hex[:8]}"
    iam.delete_user_policy(UserName=user, PolicyName="list")
    on_every_node(others, access, secret, "AccessDenied")
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="list", PolicyDocument=LIST_BUCKETS)
    iam.add_user_to_group(GroupName=group, UserName=user)
    on_every_node(others, access, secret, "ok")

    iam.delete_access_key(UserName=user, AccessKeyId=access)
    on_every_node(others, access, secret, "InvalidAccessKeyId")
