"""rclone (S3 backend, provider Other, configured through RCLONE_CONFIG_* variables).

Upload cutoff and chunk size are 5M so files above 5 MiB go multipart.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from .helpers import KiB, MiB, assert_same, multipart_etag, payload, run


@pytest.fixture
def rclone(engine: Any, tmp_path: Path) -> Any:
    exe = shutil.which("rclone")
    if exe is None:
        pytest.fail("rclone is not installed (scripts/test installs it with apt)")
    conf = tmp_path / "rclone.conf"
    conf.write_text("")
    env: dict[str, str | None] = {
        # aws-sdk-go refuses a custom CA bundle with rclone's transport, and the endpoint is http anyway.
        "AWS_CA_BUNDLE": None,
        "RCLONE_CONFIG": str(conf),
        "RCLONE_CONFIG_E2E_TYPE": "s3",
        "RCLONE_CONFIG_E2E_PROVIDER": "Other",
        "RCLONE_CONFIG_E2E_ENDPOINT": engine.url,
        "RCLONE_CONFIG_E2E_ACCESS_KEY_ID": engine.access_key,
        "RCLONE_CONFIG_E2E_SECRET_ACCESS_KEY": engine.secret_key,
        "RCLONE_CONFIG_E2E_REGION": engine.region,
        "RCLONE_CONFIG_E2E_FORCE_PATH_STYLE": "true",
    }

    def call(*args: str, check: bool = True) -> Any:
        return run([exe, "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", "--retries", "1",
                    "--low-level-retries", "2", "--contimeout", "10s", "--timeout", "120s", *args],
                   env=env, check=check, timeout=300)

    return call


def test_rclone_round_trip(rclone: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    files = {"big.bin": 12 * MiB + 3, "dir/mid.bin": 300 * KiB, "dir/tiny.txt": 5, "empty": 0}
    for rel, size in files.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(payload(rel, "rclone", size))
    rclone("copy", str(src), f"e2e:{bucket}/tree")
    big = payload("big.bin", "rclone", files["big.bin"])
    head = s3.head_object(Bucket=bucket, Key="tree/big.bin")
    assert head["ContentLength"] == len(big)
    assert head["ETag"] == f'"{multipart_etag(big, 5 * MiB)}"'      # it was a multipart upload

    lsl = rclone("lsl", f"e2e:{bucket}/tree").stdout.decode().splitlines()
    sizes = {line.split()[-1]: int(line.split()[0]) for line in lsl if line.strip()}
    assert sizes == files
    rclone("check", str(src), f"e2e:{bucket}/tree")            # sizes and MD5s (rclone keeps md5 metadata)
    rclone("check", "--download", str(src), f"e2e:{bucket}/tree")  # byte-by-byte

    for offset, count in ((0, 10), (5 * MiB - 5, 10), (MiB, 2 * MiB), (len(big) - 7, 7)):
        got = rclone("cat", "--offset", str(offset), "--count", str(count), f"e2e:{bucket}/tree/big.bin").stdout
        assert_same(got, big[offset:offset + count], f"offset={offset} count={count}")

    dst = tmp_path / "dst"
    rclone("copy", f"e2e:{bucket}/tree", str(dst))
    for rel in files:
        assert_same((dst / rel).read_bytes(), (src / rel).read_bytes(), rel)

    (src / "dir" / "tiny.txt").write_bytes(b"changed")
    rclone("sync", str(src), f"e2e:{bucket}/tree")
    assert s3.get_object(Bucket=bucket, Key="tree/dir/tiny.txt")["Body"].read() == b"changed"
    rclone("delete", f"e2e:{bucket}/tree/dir")
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    assert left == ["tree/big.bin", "tree/empty"]
    rclone("purge", f"e2e:{bucket}/tree")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
