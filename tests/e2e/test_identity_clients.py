"""Identity and access with real clients (issue 11's "Done when"), against the running server.

- The AWS CLI (``--endpoint-url``): ``iam create-user / create-access-key / put-user-policy``, the user's own
  credentials, ``sts assume-role`` (a session narrowed by its policy), ``s3api put-bucket-policy /
  get-bucket-policy / get-bucket-policy-status / get-bucket-acl / put-public-access-block``.
- ListBuckets of IAM users, as AWS: every bucket of the account when a policy allows s3:ListAllMyBuckets on
  ``arn:aws:s3:::*``, AccessDenied otherwise (owning buckets is not enough).
- s3cmd with its default settings (region "US") and a user's own credentials: ``mb``, ``put``, ``setacl
  --acl-public``, ``setpolicy``, ``info``, ``delpolicy``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import EngineServer, empty_bucket

from .helpers import error_code, run
from .test_regions import default_s3cfg, s3cmd_exe

ACCOUNT = "000000000000"


def _exe(name: str) -> str:
    exe = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if exe is None:
        pytest.fail(f"{name} is not installed (scripts/test installs it into the venv)")
    return exe


class AwsCli:
    """The AWS CLI with its own config directory, signed with the given credentials."""

    def __init__(self, engine: EngineServer, home: Path, access_key: str, secret_key: str,
                 session_token: str = "") -> None:
        self.engine, self.exe = engine, _exe("aws")
        home.mkdir(parents=True, exist_ok=True)
        (home / "config").write_text("[default]\nregion = us-east-1\noutput = json\n")
        token = f"aws_session_token = {session_token}\n" if session_token else ""
        (home / "credentials").write_text(
            f"[default]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n{token}")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update({"AWS_CONFIG_FILE": str(home / "config"), "AWS_SHARED_CREDENTIALS_FILE":
                         str(home / "credentials"), "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "",
                         "HOME": str(home)})

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run([self.exe, "--endpoint-url", self.engine.url, *args], env=self.env,
                              capture_output=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout.decode(errors='replace')[-2000:]}\n"
                                 f"{proc.stderr.decode(errors='replace')[-2000:]}")
        return proc

    def json(self, *args: str) -> Any:
        out = self(*args).stdout
        return json.loads(out) if out.strip() else {}

    def refused(self, code: str, *args: str) -> None:
        proc = self(*args, check=False)
        assert proc.returncode != 0 and f"({code})" in proc.stderr.decode(errors="replace"), proc.stderr


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def anonymous_get(engine: EngineServer, path: str) -> int:
    try:
        with urllib.request.urlopen(f"{engine.url}/{path}", timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def root_cli(engine: EngineServer, tmp_path: Path) -> AwsCli:
    return AwsCli(engine, tmp_path / "root", engine.access_key, engine.secret_key)


@pytest.fixture
def cleanup(engine: EngineServer, s3: Any, root_cli: AwsCli) -> Iterator[Callable[[str, str], None]]:
    """``cleanup("bucket", name)`` / ``cleanup("user", name)``: removed at the end (root)."""
    things: list[tuple[str, str]] = []
    yield lambda kind, name: things.append((kind, name))
    for kind, name in reversed(things):
        if kind == "bucket":
            empty_bucket(s3, name)
            try:
                s3.delete_bucket(Bucket=name)
            except ClientError:
                pass
            continue
        for key in root_cli.json("iam", "list-access-keys", "--user-name", name)["AccessKeyMetadata"]:
            root_cli("iam", "delete-access-key", "--user-name", name, "--access-key-id", key["AccessKeyId"])
        for pol in root_cli.json("iam", "list-user-policies", "--user-name", name)["PolicyNames"]:
            root_cli("iam", "delete-user-policy", "--user-name", name, "--policy-name", pol)
        root_cli("iam", "delete-user", "--user-name", name)


def make_user(root_cli: AwsCli, cleanup: Callable[[str, str], None], name: str,
              document: str) -> tuple[str, str]:
    """An IAM user with an inline policy, made with the AWS CLI: its access key and secret."""
    created = root_cli.json("iam", "create-user", "--user-name", name)["User"]
    cleanup("user", name)
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    key = root_cli.json("iam", "create-access-key", "--user-name", name)["AccessKey"]
    root_cli("iam", "put-user-policy", "--user-name", name, "--policy-name", "access",
             "--policy-document", document)
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_aws_cli_users_sessions_and_bucket_policies(engine: EngineServer, s3: Any, root_cli: AwsCli,
                                                    cleanup: Any, unique_name: Callable[[str], str],
                                                    tmp_path: Path) -> None:
    bucket, user = unique_name("cli"), unique_name("alice")[:60]
    document = policy(allow(["s3:ListAllMyBuckets"], ["arn:aws:s3:::*"]),
                      allow(["s3:*"], [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]))
    access_key, secret_key = make_user(root_cli, cleanup, user, document)
    stored = root_cli.json("iam", "get-user-policy", "--user-name", user, "--policy-name", "access")
    assert stored["PolicyDocument"]["Statement"][1]["Resource"] == [f"arn:aws:s3:::{bucket}",
                                                                     f"arn:aws:s3:::{bucket}/*"]

    alice = AwsCli(engine, tmp_path / "alice", access_key, secret_key)
    assert alice.json("sts", "get-caller-identity")["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{user}"
    alice("s3api", "create-bucket", "--bucket", bucket)
    cleanup("bucket", bucket)
    (tmp_path / "f.txt").write_bytes(b"alice's")
    alice("s3api", "put-object", "--bucket", bucket, "--key", "public/f.txt", "--body", str(tmp_path / "f.txt"))
    alice.refused("AccessDenied", "s3api", "put-object", "--bucket", unique_name("other"), "--key", "k",
                  "--body", str(tmp_path / "f.txt"))

    # The bucket's owner (the user) reads its ACL: BucketOwnerEnforced, the owner's FULL_CONTROL.
    acl = alice.json("s3api", "get-bucket-acl", "--bucket", bucket)
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"]
    assert acl["Owner"]["ID"] == acl["Grants"][0]["Grantee"]["ID"]

    # A bucket policy through the CLI: public reads of public/*.
    alice.refused("NoSuchBucketPolicy", "s3api", "get-bucket-policy-status", "--bucket", bucket)
    public = policy({"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                     "Resource": f"arn:aws:s3:::{bucket}/public/*"})
    assert anonymous_get(engine, f"{bucket}/public/f.txt") == 403
    alice("s3api", "put-bucket-policy", "--bucket", bucket, "--policy", public)
    assert json.loads(alice.json("s3api", "get-bucket-policy", "--bucket", bucket)["Policy"]) == json.loads(public)
    assert alice.json("s3api", "get-bucket-policy-status", "--bucket", bucket)["PolicyStatus"]["IsPublic"] is True
    assert anonymous_get(engine, f"{bucket}/public/f.txt") == 200
    # PublicAccessBlock: RestrictPublicBuckets turns the public policy off for anonymous callers.
    alice("s3api", "put-public-access-block", "--bucket", bucket, "--public-access-block-configuration",
          "BlockPublicAcls=false,IgnorePublicAcls=false,BlockPublicPolicy=false,RestrictPublicBuckets=true")
    assert alice.json("s3api", "get-public-access-block", "--bucket", bucket)[
        "PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert anonymous_get(engine, f"{bucket}/public/f.txt") == 403
    alice("s3api", "put-public-access-block", "--bucket", bucket, "--public-access-block-configuration",
          "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=false")
    alice.refused("AccessDenied", "s3api", "put-bucket-policy", "--bucket", bucket, "--policy", public)

    # AssumeRole with a session policy: the session may read, not write.
    read_only = policy(allow(["s3:GetObject", "s3:ListBucket"], [f"arn:aws:s3:::{bucket}",
                                                                  f"arn:aws:s3:::{bucket}/*"]))
    assumed = alice.json("sts", "assume-role", "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/reader",
                         "--role-session-name", "cli-session", "--duration-seconds", "900",
                         "--policy", read_only)
    creds = assumed["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/reader/cli-session"
    session = AwsCli(engine, tmp_path / "session", creds["AccessKeyId"], creds["SecretAccessKey"],
                     creds["SessionToken"])
    assert session.json("sts", "get-caller-identity")["Arn"] == assumed["AssumedRoleUser"]["Arn"]
    listed = session.json("s3api", "list-objects-v2", "--bucket", bucket)
    assert [o["Key"] for o in listed["Contents"]] == ["public/f.txt"]
    session("s3api", "get-object", "--bucket", bucket, "--key", "public/f.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_bytes() == b"alice's"
    session.refused("AccessDenied", "s3api", "put-object", "--bucket", bucket, "--key", "k",
                    "--body", str(tmp_path / "f.txt"))
    session.refused("AccessDenied", "s3api", "delete-bucket-policy", "--bucket", bucket)
    # Without its token the session's key is refused.
    tokenless = AwsCli(engine, tmp_path / "tokenless", creds["AccessKeyId"], creds["SecretAccessKey"])
    tokenless.refused("InvalidToken", "s3api", "list-objects-v2", "--bucket", bucket)
    # The root user still sees and may change everything.
    assert json.loads(root_cli.json("s3api", "get-bucket-policy", "--bucket", bucket)["Policy"]) == \
        json.loads(public)
    s3.delete_public_access_block(Bucket=bucket)


def test_iam_users_list_buckets_as_on_aws(engine: EngineServer, root_cli: AwsCli, cleanup: Any,
                                          unique_name: Callable[[str], str], tmp_path: Path) -> None:
    # Two users, each owning a bucket. A policy allowing s3:ListAllMyBuckets on arn:aws:s3:::* lists every
    # bucket of the account (AWS; MinIO would filter); without it ListBuckets is denied, buckets owned or not;
    # a ListAllMyBuckets naming one bucket matches nothing (its resource is arn:aws:s3:::*).
    a_bucket, b_bucket = unique_name("ua"), unique_name("ub")
    lister = policy(allow(["s3:ListAllMyBuckets"], ["arn:aws:s3:::*"]),
                    allow(["s3:*"], [f"arn:aws:s3:::{a_bucket}", f"arn:aws:s3:::{a_bucket}/*"]))
    owner_only = policy(allow(["s3:ListAllMyBuckets", "s3:*"],
                              [f"arn:aws:s3:::{b_bucket}", f"arn:aws:s3:::{b_bucket}/*"]))
    a_user, b_user = unique_name("lister")[:60], unique_name("owner")[:60]
    a = AwsCli(engine, tmp_path / "a", *make_user(root_cli, cleanup, a_user, lister))
    b = AwsCli(engine, tmp_path / "b", *make_user(root_cli, cleanup, b_user, owner_only))
    a("s3api", "create-bucket", "--bucket", a_bucket)
    cleanup("bucket", a_bucket)
    b("s3api", "create-bucket", "--bucket", b_bucket)
    cleanup("bucket", b_bucket)

    names = {x["Name"] for x in a.json("s3api", "list-buckets")["Buckets"]}
    assert {a_bucket, b_bucket} <= names                  # the other user's bucket too, as AWS
    assert names == {x["Name"] for x in root_cli.json("s3api", "list-buckets")["Buckets"]}   # all, as root sees
    b.refused("AccessDenied", "s3api", "list-buckets")    # owns a bucket, may not list the account's
    b("s3api", "head-bucket", "--bucket", b_bucket)
    b.refused("AccessDenied", "s3api", "list-objects-v2", "--bucket", a_bucket)


def test_s3cmd_default_settings_with_a_users_credentials(engine: EngineServer, s3: Any, root_cli: AwsCli,
                                                         cleanup: Any, unique_name: Callable[[str], str],
                                                         tmp_path: Path) -> None:
    bucket = unique_name("s3cmd-user")
    user = unique_name("carol")[:60]
    access_key, secret_key = make_user(root_cli, cleanup, user, policy(
        allow(["s3:ListAllMyBuckets"], ["arn:aws:s3:::*"]),
        allow(["s3:*"], [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"])))
    cfg = default_s3cfg(engine, tmp_path / "s3cfg")       # s3cmd's defaults: bucket_location "US", SigV4
    text = cfg.read_text().replace(engine.access_key, access_key).replace(engine.secret_key, secret_key)
    assert engine.secret_key not in text
    cfg.write_text(text)
    exe = s3cmd_exe()

    def s3cmd(*args: str) -> str:
        return run([exe, "-c", str(cfg), "--no-progress", *args], env={"HOME": str(tmp_path)},
                   timeout=120).stdout.decode()

    # s3cmd asks for ObjectWriter itself with --acl-public on mb; the user owns the bucket.
    s3cmd("mb", "--acl-public", f"s3://{bucket}")
    cleanup("bucket", bucket)
    (tmp_path / "f.txt").write_bytes(b"carol's")
    s3cmd("put", str(tmp_path / "f.txt"), f"s3://{bucket}/f.txt")
    assert anonymous_get(engine, f"{bucket}/f.txt") == 403
    s3cmd("setacl", "--acl-public", f"s3://{bucket}/f.txt")
    assert anonymous_get(engine, f"{bucket}/f.txt") == 200
    assert "*anon*: READ" in s3cmd("info", f"s3://{bucket}/f.txt")
    s3cmd("setacl", "--acl-private", f"s3://{bucket}/f.txt")
    assert anonymous_get(engine, f"{bucket}/f.txt") == 403

    document = policy({"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/*"})
    (tmp_path / "policy.json").write_text(document)
    s3cmd("setpolicy", str(tmp_path / "policy.json"), f"s3://{bucket}")
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(document)
    assert anonymous_get(engine, f"{bucket}/f.txt") == 200
    info = s3cmd("info", f"s3://{bucket}")
    assert "PublicRead" in info and "none" not in info.split("Policy:")[1].splitlines()[0]
    s3cmd("delpolicy", f"s3://{bucket}")
    assert anonymous_get(engine, f"{bucket}/f.txt") == 403
    try:
        s3.get_bucket_policy(Bucket=bucket)
        raise AssertionError("the policy is still there")
    except ClientError as exc:
        assert error_code(exc) == "NoSuchBucketPolicy"
    assert bucket in s3cmd("ls")
