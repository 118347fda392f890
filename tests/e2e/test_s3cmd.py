"""s3cmd: put (5 MiB multipart chunks), get, ls, del.

s3cmd cannot read a byte range, so the range reads of the objects it wrote go through boto3.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from .helpers import KiB, MiB, assert_same, multipart_etag, payload, run


@pytest.fixture
def s3cmd(engine: Any, tmp_path: Path) -> Any:
    exe = shutil.which("s3cmd", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if exe is None:
        pytest.fail("s3cmd is not installed (it is in the test extra)")
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {engine.access_key}\n"
        f"secret_key = {engine.secret_key}\n"
        f"host_base = {engine.address}\n"
        f"host_bucket = {engine.address}\n"
        "bucket_location = us-east-1\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "check_ssl_certificate = False\n"
        "progress_meter = False\n"
        "socket_timeout = 120\n")

    def call(*args: str, check: bool = True) -> Any:
        return run([exe, "-c", str(cfg), *args], env={"HOME": str(tmp_path)}, check=check, timeout=300)

    return call


def test_s3cmd_round_trip(s3cmd: Any, s3: Any, bucket: str, tmp_path: Path, unique_name: Any) -> None:
    data = payload("s3cmd", 0, 12 * MiB + 1)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    s3cmd("put", "--multipart-chunk-size-mb=5", str(src), f"s3://{bucket}/dir/big.bin")
    head = s3.head_object(Bucket=bucket, Key="dir/big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == f'"{multipart_etag(data, 5 * MiB)}"'
    small = payload("s3cmd-small", 0, 20 * KiB)
    (tmp_path / "small.bin").write_bytes(small)
    s3cmd("put", str(tmp_path / "small.bin"), f"s3://{bucket}/small.bin")

    out = tmp_path / "out.bin"
    s3cmd("get", f"s3://{bucket}/dir/big.bin", str(out))      # s3cmd checks the md5 it stored
    assert_same(out.read_bytes(), data)
    # Range reads of s3cmd's multipart object, through boto3 (s3cmd has no ranged get).
    for first, last in ((0, 0), (5 * MiB - 1, 5 * MiB), (10 * MiB, len(data) - 1)):
        got = s3.get_object(Bucket=bucket, Key="dir/big.bin", Range=f"bytes={first}-{last}")["Body"].read()
        assert_same(got, data[first:last + 1], f"{first}-{last}")

    ls = s3cmd("ls", f"s3://{bucket}/").stdout.decode()
    assert "DIR" in ls and f"s3://{bucket}/dir/" in ls and f"s3://{bucket}/small.bin" in ls, ls
    rec = s3cmd("ls", "--recursive", f"s3://{bucket}").stdout.decode().splitlines()
    sizes = {line.split()[-1]: int(line.split()[-2]) for line in rec if line.strip()}
    assert sizes == {f"s3://{bucket}/dir/big.bin": len(data), f"s3://{bucket}/small.bin": len(small)}, rec
    info = s3cmd("info", f"s3://{bucket}/small.bin").stdout.decode()
    assert str(len(small)) in info

    s3cmd("del", f"s3://{bucket}/dir/big.bin")
    s3cmd("del", f"s3://{bucket}/small.bin")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

    # Bucket life cycle through s3cmd too.
    name = unique_name("s3cmd")
    s3cmd("mb", f"s3://{name}")
    assert name in s3cmd("ls").stdout.decode()
    s3cmd("rb", f"s3://{name}")
