"""The IAM bootstrap document (storage_engine/iam/bootstrap.py): its validation names the field, secrets come only
from files, and the engine refuses to start with one clear line when the document or a secret file is unusable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from storage_engine.iam.bootstrap import BootstrapError, load_bootstrap, parse_bootstrap

REPO = Path(__file__).resolve().parents[2]
READ_ONLY = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
                            "Resource": ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"]}]}
KEY = "BOOTSTRAPALICE000001"


def _document(secret_file: str = "/run/secrets/alice") -> dict[str, Any]:
    return {"policies": {"reports-read": READ_ONLY},
            "groups": {"analysts": {"policies": ["reports-read"]}},
            "users": {"alice": {"groups": ["analysts"], "policies": ["readonly"], "access_key": KEY,
                                "secret_key_file": secret_file}}}


def test_a_valid_document_round_trips_and_knows_its_members() -> None:
    bootstrap = parse_bootstrap(_document())
    assert bootstrap.members("analysts") == ["alice"]
    assert parse_bootstrap(json.loads(bootstrap.to_json())) == bootstrap


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d["users"]["alice"].update(groups=["nobody"]), "users.alice.groups"),
    (lambda d: d["groups"]["analysts"].update(policies=["missing"]), "groups.analysts.policies"),
    (lambda d: d["users"]["alice"].update(policies=["missing"]), "users.alice.policies"),
    (lambda d: d["policies"].update(bad={"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]}),
     "policy 'bad'"),
    (lambda d: d["users"]["alice"].pop("secret_key_file"), "users.alice"),
    (lambda d: d["users"]["alice"].update(secret_key="inline-secret"), "users.alice.secret_key"),
    (lambda d: d["users"]["alice"].update(secret_key_file="relative/path"), "users.alice"),
    (lambda d: d["users"]["alice"].update(access_key="lower-case"), "users.alice.access_key"),
    (lambda d: d["users"].update(root={}), "users.root"),
    (lambda d: d["users"].update(bob={"access_key": KEY, "secret_key_file": "/x"}), "users.bob.access_key"),
    (lambda d: d.update(roles={}), "roles"),
])
def test_errors_name_the_field(change: Any, field: str) -> None:
    document = _document()
    change(document)
    with pytest.raises(BootstrapError) as info:
        parse_bootstrap(document)
    message = str(info.value)
    assert field in message and "\n" not in message


def test_load_reads_each_users_secret_from_its_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "alice"
    secret_file.write_text("s3cr3t-of-alice-0123456789\n")
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(_document(str(secret_file))))
    bootstrap, secrets = load_bootstrap(str(path))
    assert secrets == {KEY: "s3cr3t-of-alice-0123456789"}
    assert "s3cr3t" not in repr(bootstrap) and "s3cr3t" not in bootstrap.to_json()


@pytest.mark.parametrize("problem", ["missing", "short"])
def test_load_refuses_an_unusable_secret_file_without_echoing_it(tmp_path: Path, problem: str) -> None:
    secret_file = tmp_path / "alice"
    if problem == "short":
        secret_file.write_text("abc")
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(_document(str(secret_file))))
    with pytest.raises(BootstrapError, match=r"^users\.alice\.secret_key_file: ") as info:
        load_bootstrap(str(path))
    assert "abc" not in str(info.value)


def _server(tmp_path: Path, bootstrap_file: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTFS_")}
    env.update(RUSTFS_ACCESS_KEY="bootstrap-root", RUSTFS_SECRET_KEY="bootstrap-root-secret-0123456789",
               RUSTFS_IAM_BOOTSTRAP_FILE=str(bootstrap_file), PYTHONPATH=str(REPO))
    for i in range(1, 5):
        (tmp_path / f"d{i}").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-m", "storage_engine", "server", "--address", "127.0.0.1:0",
                           f"{tmp_path}/d{{1...4}}"], env=env, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)


@pytest.mark.parametrize(("setup", "expected"), [
    (lambda p: p.write_text(json.dumps(_document(str(p.parent / "absent")))),
     "error: IAM bootstrap: users.alice.secret_key_file: cannot read "),
    (lambda p: p.write_text("{not json"), "error: IAM bootstrap: IAM bootstrap file "),
    (lambda p: None, "error: IAM bootstrap: cannot read the IAM bootstrap file "),
])
def test_the_engine_refuses_to_start_with_one_line(tmp_path: Path, setup: Any, expected: str) -> None:
    path = tmp_path / "bootstrap.json"
    setup(path)
    done = _server(tmp_path, path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), done.stderr
    assert "Traceback" not in done.stderr and "listening" not in done.stdout
