"""Root credentials across restarts: generated once and kept with the drives, or taken from the environment.

Real engine processes (``python -m storage_engine server --address 127.0.0.1:<port> <tmp>/d{1...4}``)
started without RUSTFS_ACCESS_KEY/RUSTFS_SECRET_KEY unless a test sets them; boto3 shows which
credentials the server accepts.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parents[2]
STORED = Path(".rustfs.sys") / "root-credentials.json"
GENERATED = re.compile(r"access key: (\S+)\n\s*secret key: (\S+)")
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def engine_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTFS_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), str(REPO)) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


def engine(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """Run a short engine command (one that exits by itself) to completion."""
    return subprocess.run([sys.executable, "-m", "storage_engine", *args], env=engine_env(**settings),
                          capture_output=True, text=True, timeout=60, cwd=REPO)


def drives_of(root: Path) -> list[Path]:
    drives = [root / f"d{i}" for i in range(1, 5)]
    for drive in drives:
        drive.mkdir(parents=True, exist_ok=True)
    return drives


@dataclass
class Server:
    """An engine process serving ``root/d{1...4}``; ``output`` is what it printed up to now."""

    root: Path
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def client(self, access_key: str, secret_key: str) -> Any:
        return boto3.session.Session().client(
            "s3", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def start_server(root: Path, name: str, **settings: str) -> Server:
    drives_of(root)
    port = free_port()
    log = root / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "storage_engine", "server", "--address", f"127.0.0.1:{port}",
                                 f"{root}/d{{1...4}}"], env=engine_env(**settings), cwd=root, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(root, proc, port, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if "listening on" in server.output:
            return server
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    server.stop()
    raise AssertionError(f"engine did not start (exit {proc.returncode}):\n{server.output}")


def round_trip(s3: Any, bucket: str) -> None:
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"kept")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"


def assert_refused(s3: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3.list_buckets()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.fixture(scope="module")
def first_start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    """A server that generated its credentials on fresh drives: (server, access key, secret key)."""
    server = start_server(tmp_path_factory.mktemp("generated"), "first")
    try:
        found = GENERATED.search(server.output)
        assert found, server.output
        yield server, found.group(1), found.group(2)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def restarted(first_start: tuple[Server, str, str]) -> Iterator[Server]:
    """The same drives served again after a stop, with drive 1's copy lost (a replaced drive)."""
    first, _, _ = first_start
    first.stop()
    (first.root / "d1" / STORED).unlink()
    server = start_server(first.root, "second")
    try:
        yield server
    finally:
        server.stop()


def test_first_start_prints_generated_credentials_that_work(first_start: tuple[Server, str, str]) -> None:
    server, access, secret = first_start
    round_trip(server.client(access, secret), "first")
    assert_refused(server.client(access, secret + "x"))
    assert "storage_engine credentials" in server.output
    for drive in drives_of(server.root):
        assert stat.S_IMODE((drive / STORED).stat().st_mode) == 0o600


def test_credentials_command_prints_the_stored_credentials(first_start: tuple[Server, str, str]) -> None:
    server, access, secret = first_start
    shown = engine("credentials", f"{server.root}/d{{1...4}}")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == f"access key: {access}\nsecret key: {secret}\n"
    exported = engine("credentials", "--export", f"{server.root}/d{{1...4}}")
    assert exported.stdout == f"export AWS_ACCESS_KEY_ID={access} AWS_SECRET_ACCESS_KEY={secret}\n"


def test_restart_keeps_the_credentials_and_prints_no_secret(first_start: tuple[Server, str, str],
                                                            restarted: Server) -> None:
    _, access, secret = first_start
    assert secret not in restarted.output
    assert access in restarted.output
    assert "storage_engine credentials" in restarted.output
    round_trip(restarted.client(access, secret), "second")
    # The lost copy is back, so the credentials survive losing the other drives too.
    assert "secret_key" in (restarted.root / "d1" / STORED).read_text()


def test_environment_credentials_win_and_are_never_written(tmp_path: Path) -> None:
    drives = drives_of(tmp_path)
    stored = drives[0] / STORED
    stored.parent.mkdir()
    stored.write_text('{"access_key": "stored-access", "secret_key": "stored-secret-0123456789"}')
    before = stored.read_bytes()
    server = start_server(tmp_path, "env", RUSTFS_ACCESS_KEY="env-access", RUSTFS_SECRET_KEY="env-secret-0123456789")
    try:
        round_trip(server.client("env-access", "env-secret-0123456789"), "env")
        assert_refused(server.client("stored-access", "stored-secret-0123456789"))
        assert not GENERATED.search(server.output)
    finally:
        server.stop()
    assert stored.read_bytes() == before
    assert not any((drive / STORED).exists() for drive in drives[1:])


def test_remote_drives_without_environment_credentials_are_refused(tmp_path: Path) -> None:
    port = free_port()
    result = engine("server", "--address", f"127.0.0.1:{port}", f"http://127.0.0.1:{port}{tmp_path}/d{{1...4}}")
    assert result.returncode == 2
    assert "RUSTFS_ACCESS_KEY" in result.stderr and "RUSTFS_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert list(tmp_path.iterdir()) == []


def test_half_of_the_credentials_is_refused(tmp_path: Path) -> None:
    result = engine("server", "--address", f"127.0.0.1:{free_port()}", f"{tmp_path}/d{{1...4}}",
                    RUSTFS_ACCESS_KEY="only-the-access-key")
    assert result.returncode == 2
    assert "set both RUSTFS_ACCESS_KEY and RUSTFS_SECRET_KEY" in result.stderr
    assert not any(tmp_path.rglob(STORED.name))


def test_credentials_command_without_stored_credentials_fails(tmp_path: Path) -> None:
    drives_of(tmp_path)
    result = engine("credentials", f"{tmp_path}/d{{1...4}}")
    assert result.returncode == 1
    assert "no stored root credentials" in result.stderr
    assert result.stdout == ""
