"""Helpers for the end-to-end tests: deterministic payloads, exact comparisons, CLI runs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MiB = 1 << 20
KiB = 1 << 10


def payload(key: str, seed: int | str, size: int) -> bytes:
    """Deterministic, incompressible bytes derived from ``key`` and ``seed``.

    Every 4 KiB block starts with its offset, so a shifted or swapped block never matches.
    """
    if size <= 0:
        return b""
    base = hashlib.shake_128(f"{key}\0{seed}".encode()).digest(min(size, 4 * MiB))
    if size <= len(base):
        return base
    out = bytearray()
    block = 0
    while len(out) < size:
        chunk = bytearray(base)
        chunk[:8] = block.to_bytes(8, "little")
        out += chunk
        block += 1
    return bytes(out[:size])


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def multipart_etag(data: bytes, part_size: int) -> str:
    """The S3 ETag of ``data`` uploaded in parts of ``part_size``: md5 of the parts' md5s, ``-N``."""
    digests = [hashlib.md5(data[i:i + part_size]).digest() for i in range(0, len(data), part_size)]
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def assert_same(got: bytes, expected: bytes, what: str = "data") -> None:
    """Bit-exact comparison with a short message (pytest's diff of megabytes is useless)."""
    if got == expected:
        return
    first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
    raise AssertionError(
        f"{what}: got {len(got)} bytes (md5 {md5_hex(got)}), expected {len(expected)} bytes "
        f"(md5 {md5_hex(expected)}); first difference at offset {first}")


def error_code(exc: Any) -> str:
    """The S3 error code of a botocore ClientError."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def run(cmd: Sequence[str], env: dict[str, str | None] | None = None, timeout: float = 300,
        check: bool = True, input: bytes | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run a client CLI; on failure the assertion shows the command and its output.

    ``env`` is added to this process's environment; a None value removes the variable."""
    full_env = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            full_env.pop(name, None)
        else:
            full_env[name] = value
    proc = subprocess.run(list(cmd), env=full_env, capture_output=True, timeout=timeout, input=input,
                          cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed with exit code {proc.returncode}: {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout.decode(errors='replace')[-4000:]}\n"
            f"--- stderr ---\n{proc.stderr.decode(errors='replace')[-4000:]}")
    return proc


def remove_bucket(client: Any, bucket: str) -> None:
    """Delete every version, delete marker and upload of ``bucket``, then the bucket (best effort)."""
    from botocore.exceptions import ClientError

    try:
        for _ in range(100):
            resp = client.list_object_versions(Bucket=bucket)
            items = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                     for v in resp.get("Versions", []) + resp.get("DeleteMarkers", [])]
            for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
                client.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
            if not items:
                break
            for i in range(0, len(items), 1000):
                client.delete_objects(Bucket=bucket, Delete={"Objects": items[i:i + 1000], "Quiet": True})
        client.delete_bucket(Bucket=bucket)
    except ClientError:
        pass


def run_cli(server: Any, *args: str) -> tuple[int, str]:
    """``python -m storage_engine ARGS --endpoint <server>`` with the server's root credentials: (status, output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTFS_")}
    env.update({"RUSTFS_ACCESS_KEY": server.access_key, "RUSTFS_SECRET_KEY": server.secret_key,
                "RUSTFS_REGION": server.region})
    proc = subprocess.run([sys.executable, "-m", "storage_engine", *args, "--endpoint", server.url], env=env,
                          capture_output=True, timeout=120)
    return proc.returncode, proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")


def error_of(call: Callable[..., Any], **kwargs: Any) -> tuple[str, int]:
    """``call(**kwargs)`` must fail with a botocore ClientError: its (code, HTTP status)."""
    from botocore.exceptions import ClientError

    try:
        call(**kwargs)
    except ClientError as exc:
        resp: Any = exc.response
        return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{getattr(call, '__name__', call)} did not fail")


def aws_s3api(server: Any, home: Path) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """``aws --endpoint-url <server> s3api ARGS`` (the AWS CLI of the venv) with the server's root credentials
    and nothing of this machine's AWS configuration; ``home`` is its HOME."""
    exe = shutil.which("aws", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if exe is None:
        raise AssertionError("the AWS CLI is not installed (scripts/test installs awscli into the venv)")
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_key,
                "AWS_DEFAULT_REGION": server.region, "AWS_CONFIG_FILE": str(home / "none"),
                "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"), "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_PAGER": "", "HOME": str(home)})

    def aws(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([exe, "--endpoint-url", server.url, "s3api", *args], env=env, capture_output=True,
                              timeout=120)
    return aws
