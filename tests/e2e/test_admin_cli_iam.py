"""``python -m storage_engine admin ...`` against the running server: users, groups, policies, service accounts
and the keyring, through the IAM API with the root credentials of the environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import REPO, EngineServer, free_port

ADMIN = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["iam:ListUsers", "iam:GetUser"], "Resource": ["*"]}]})


def cli(engine: EngineServer, *args: str, endpoint: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RUSTFS_")}
    base.update({"RUSTFS_ACCESS_KEY": engine.access_key, "RUSTFS_SECRET_KEY": engine.secret_key,
                 "RUSTFS_REGION": engine.region})
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "storage_engine", "admin", "--endpoint", endpoint or engine.url,
                           *args], cwd=REPO, env=base, capture_output=True, text=True, timeout=60)


def keys_of(out: str) -> tuple[str, str]:
    access = re.search(r"^access key: (\S+)$", out, re.M)
    secret = re.search(r"^secret key: (\S+)$", out, re.M)
    assert access and secret, out
    return access.group(1), secret.group(1)


def iam_as(engine: EngineServer, access: str, secret: str) -> Any:
    return boto3.session.Session().client(
        "iam", endpoint_url=engine.url, region_name=engine.region, aws_access_key_id=access,
        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def code_of(call: Any) -> str:
    with pytest.raises(ClientError) as exc:
        call()
    return str(exc.value.response["Error"]["Code"])


def test_admin_cli_manages_users_policies_groups_and_service_accounts(engine: EngineServer, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    user, group, policy = f"cli-{tag}", f"cli-group-{tag}", f"cli-admin-{tag}"
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(ADMIN)

    done = cli(engine, "policy", "create", policy, str(policy_file))
    assert done.returncode == 0 and f"Created policy {policy}" in done.stdout, done.stderr
    assert policy in cli(engine, "policy", "list").stdout

    added = cli(engine, "user", "add", user, "--policy", policy)
    assert added.returncode == 0, added.stderr
    access, secret = keys_of(added.stdout)
    mine = iam_as(engine, access, secret)
    assert user in [u["UserName"] for u in mine.list_users()["Users"]]      # the key works, the policy applies
    assert user in cli(engine, "user", "list").stdout

    again = cli(engine, "user", "add", user)
    assert again.returncode == 1 and again.stderr.startswith("error: EntityAlreadyExists: ")
    assert len(again.stderr.strip().splitlines()) == 1 and "Traceback" not in again.stderr

    assert cli(engine, "user", "disable", user).returncode == 0
    assert code_of(mine.list_users) == "InvalidAccessKeyId"
    assert cli(engine, "user", "enable", user).returncode == 0
    mine.get_user()

    assert cli(engine, "group", "add", group, user).returncode == 0
    info = cli(engine, "group", "info", group)
    assert info.returncode == 0 and f"members: {user}" in info.stdout
    assert group in cli(engine, "group", "list").stdout
    detach = cli(engine, "policy", "detach", policy, "--user", user)
    assert detach.returncode == 0, detach.stderr
    assert code_of(mine.list_users) == "AccessDenied"
    assert cli(engine, "policy", "attach", policy, "--group", group).returncode == 0
    mine.list_users()                                                     # through the group now

    svc = cli(engine, "svcacct", "add", user, "--name", "backup")
    assert svc.returncode == 0, svc.stderr
    svc_access, svc_secret = keys_of(svc.stdout)
    account = iam_as(engine, svc_access, svc_secret)
    account.list_users()                                                  # the parent's (group's) policies
    listed = cli(engine, "svcacct", "list", user)
    assert svc_access in listed.stdout and "backup" in listed.stdout

    rotated = cli(engine, "iam", "rotate-key")
    assert rotated.returncode == 0 and rotated.stdout.startswith("New IAM keyring key: "), rotated.stderr
    mine.get_user()                                                       # sealed again, same secret
    account.list_users()

    assert cli(engine, "svcacct", "remove", svc_access).returncode == 0
    assert code_of(account.list_users) == "InvalidAccessKeyId"
    busy = cli(engine, "group", "remove", group)
    assert busy.returncode == 1 and busy.stderr.startswith("error: DeleteConflict: ")
    assert cli(engine, "group", "remove", group, user).returncode == 0
    assert cli(engine, "policy", "detach", policy, "--group", group).returncode == 0
    assert cli(engine, "group", "remove", group).returncode == 0
    removed = cli(engine, "user", "remove", user)
    assert removed.returncode == 0, removed.stderr
    assert code_of(mine.list_users) == "InvalidAccessKeyId"
    assert cli(engine, "policy", "remove", policy).returncode == 0
    # the secrets were printed once, never logged by the server
    log = engine.log_path.read_text(errors="replace")
    assert secret not in log and svc_secret not in log


def test_admin_cli_errors_are_one_line(engine: EngineServer, tmp_path: Path) -> None:
    unreachable = cli(engine, "user", "list", endpoint=f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 1 and unreachable.stderr.startswith("error: cannot reach ")
    no_creds = cli(engine, "user", "list", env={"RUSTFS_ACCESS_KEY": "", "RUSTFS_SECRET_KEY": ""})
    assert no_creds.returncode == 2 and no_creds.stderr.startswith("error: set RUSTFS_ACCESS_KEY")
    missing = cli(engine, "policy", "create", "p", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: cannot read ")
    bad = tmp_path / "bad.json"
    bad.write_text('{"Statement": 1}')
    malformed = cli(engine, "policy", "create", f"bad-{uuid.uuid4().hex[:6]}", str(bad))
    assert malformed.returncode == 1 and malformed.stderr.startswith("error: MalformedPolicyDocument: ")
    unknown = cli(engine, "user", "remove", f"nobody-{uuid.uuid4().hex[:6]}")
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: NoSuchEntity: ")
    for result in (unreachable, no_creds, missing, malformed, unknown):
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
