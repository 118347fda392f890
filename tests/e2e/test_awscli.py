"""The AWS CLI (v1, from the venv): ``s3 cp`` (multipart), ``s3 sync``, ``s3 ls``, ``s3api``."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from .helpers import KiB, MiB, assert_same, md5_hex, multipart_etag, payload


@pytest.fixture
def aws(engine: Any, tmp_path: Path) -> Any:
    exe = shutil.which("aws", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if exe is None:
        pytest.fail("the AWS CLI is not installed (scripts/test installs awscli into the venv)")
    home = tmp_path / "awshome"
    home.mkdir()
    (home / "config").write_text(
        "[default]\nregion = us-east-1\noutput = json\n"
        "s3 =\n    multipart_threshold = 5MB\n    multipart_chunksize = 5MB\n    addressing_style = path\n")
    (home / "credentials").write_text(
        f"[default]\naws_access_key_id = {engine.access_key}\naws_secret_access_key = {engine.secret_key}\n")
    env = {"AWS_CONFIG_FILE": str(home / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "", "HOME": str(home)}
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        env[var] = ""

    def call(*args: str, check: bool = True, input: bytes | None = None) -> Any:
        clean = {k: v for k, v in env.items() if v}
        base = dict(os.environ)
        for var in env:
            base.pop(var, None)
        base.update(clean)
        import subprocess

        proc = subprocess.run([exe, "--endpoint-url", engine.url, *args], env=base, capture_output=True,
                              timeout=300, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout.decode(errors='replace')[-3000:]}\n"
                                 f"{proc.stderr.decode(errors='replace')[-3000:]}")
        return proc

    return call


def test_cp_multipart_and_range(aws: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    data = payload("awscli", 0, 12 * MiB + 777)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    aws("s3", "cp", str(src), f"s3://{bucket}/dir/big.bin")
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "dir/big.bin").stdout)
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == f'"{multipart_etag(data, 5 * MiB)}"'   # three 5 MiB parts: it was multipart
    out = tmp_path / "back.bin"
    aws("s3", "cp", f"s3://{bucket}/dir/big.bin", str(out))
    assert_same(out.read_bytes(), data)
    rng = tmp_path / "range.bin"
    meta = json.loads(aws("s3api", "get-object", "--bucket", bucket, "--key", "dir/big.bin",
                          "--range", f"bytes={5 * MiB - 10}-{5 * MiB + 9}", str(rng)).stdout)
    assert meta["ContentRange"] == f"bytes {5 * MiB - 10}-{5 * MiB + 9}/{len(data)}"
    assert_same(rng.read_bytes(), data[5 * MiB - 10:5 * MiB + 10])
    # Server-side copy: above the multipart threshold the CLI copies with UploadPartCopy ranges.
    aws("s3", "cp", f"s3://{bucket}/dir/big.bin", f"s3://{bucket}/copy/big.bin")
    copied = s3.get_object(Bucket=bucket, Key="copy/big.bin")
    assert copied["ContentLength"] == len(data)
    assert_same(copied["Body"].read(), data, "server-side copy")
    aws("s3", "mv", f"s3://{bucket}/copy/big.bin", f"s3://{bucket}/moved.bin")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="copy/").get("Contents", [])] == []
    assert_same(s3.get_object(Bucket=bucket, Key="moved.bin")["Body"].read(), data, "moved")
    # Streams: stdin up (unknown length), stdout down.
    aws("s3", "cp", "-", f"s3://{bucket}/stdin.txt", input=b"hello from stdin")
    assert s3.get_object(Bucket=bucket, Key="stdin.txt")["Body"].read() == b"hello from stdin"
    assert aws("s3", "cp", f"s3://{bucket}/stdin.txt", "-").stdout == b"hello from stdin"


def test_sync_and_ls(aws: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "tree"
    files = {"a.txt": 10, "sub/b.bin": 200 * KiB, "sub/deeper/c.bin": 6 * MiB + 1, "z.dat": 0}
    for rel, size in files.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(payload(rel, 0, size))
    aws("s3", "sync", str(src), f"s3://{bucket}/tree")
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="tree/")["Contents"])
    assert listed == sorted(f"tree/{r}" for r in files)

    # A second sync with nothing changed uploads nothing; a changed and a new file are uploaded.
    assert aws("s3", "sync", str(src), f"s3://{bucket}/tree").stdout.strip() == b""
    (src / "a.txt").write_bytes(b"changed content, longer than before")
    (src / "new.txt").write_bytes(b"new")
    out = aws("s3", "sync", str(src), f"s3://{bucket}/tree").stdout.decode()
    assert "a.txt" in out and "new.txt" in out and "b.bin" not in out, out

    dst = tmp_path / "down"
    aws("s3", "sync", f"s3://{bucket}/tree", str(dst))
    for p in src.rglob("*"):
        if p.is_file():
            assert_same((dst / p.relative_to(src)).read_bytes(), p.read_bytes(), str(p))

    top = aws("s3", "ls", f"s3://{bucket}/tree/").stdout.decode()
    assert "PRE sub/" in top and "a.txt" in top and "new.txt" in top, top
    rec = aws("s3", "ls", "--recursive", f"s3://{bucket}/tree/").stdout.decode().splitlines()
    sizes = {line.split()[-1]: int(line.split()[-2]) for line in rec if line.strip()}
    assert sizes["tree/sub/deeper/c.bin"] == 6 * MiB + 1 and sizes["tree/z.dat"] == 0, sizes
    assert bucket in aws("s3", "ls").stdout.decode()

    (src / "new.txt").unlink()
    aws("s3", "sync", "--delete", str(src), f"s3://{bucket}/tree")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="tree/")["Contents"]]
    assert "tree/new.txt" not in keys and "tree/a.txt" in keys
    aws("s3", "rm", "--recursive", f"s3://{bucket}/tree")
    assert s3.list_objects_v2(Bucket=bucket, Prefix="tree/")["KeyCount"] == 0


def test_s3api_calls(aws: Any, bucket: str, tmp_path: Path) -> None:
    body = tmp_path / "b"
    body.write_bytes(payload("api", 0, 1000))
    put = json.loads(aws("s3api", "put-object", "--bucket", bucket, "--key", "k", "--body", str(body),
                         "--metadata", "x=y").stdout)
    assert put["ETag"] == f'"{md5_hex(body.read_bytes())}"'
    listing = json.loads(aws("s3api", "list-objects-v2", "--bucket", bucket).stdout)
    assert [o["Key"] for o in listing["Contents"]] == ["k"]
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "k").stdout)
    assert head["Metadata"] == {"x": "y"}
    missing = aws("s3api", "head-object", "--bucket", bucket, "--key", "nope", check=False)
    assert missing.returncode != 0 and b"404" in missing.stderr
    aws("s3api", "delete-object", "--bucket", bucket, "--key", "k")


def test_s3api_bucket_tags_conditional_writes_bucket_paging_and_expected_owner(aws: Any, s3: Any, bucket: str,
                                                                               tmp_path: Path) -> None:
    """The S3 surface of issue 14 that the other CLI tests do not cover (CORS, object attributes and object lock
    have theirs: tests/e2e/test_cors.py, test_object_attributes.py, test_object_lock.py)."""
    def api(*args: str, check: bool = True) -> Any:
        return aws("s3api", *args, check=check)

    def fails_with(code: str, *args: str) -> None:
        proc = api(*args, check=False)
        assert proc.returncode != 0 and code.encode() in proc.stderr, proc.stderr

    api("put-bucket-tagging", "--bucket", bucket, "--tagging", json.dumps({"TagSet": [{"Key": "team", "Value": "a"}]}))
    assert json.loads(api("get-bucket-tagging", "--bucket", bucket).stdout)["TagSet"] == [
        {"Key": "team", "Value": "a"}]
    api("delete-bucket-tagging", "--bucket", bucket)
    fails_with("NoSuchTagSet", "get-bucket-tagging", "--bucket", bucket)
    # Conditional writes.
    body = tmp_path / "b"
    body.write_bytes(b"first")
    etag = json.loads(api("put-object", "--bucket", bucket, "--key", "c", "--body", str(body),
                          "--if-none-match", "*").stdout)["ETag"]
    fails_with("PreconditionFailed", "put-object", "--bucket", bucket, "--key", "c", "--body", str(body),
               "--if-none-match", "*")
    fails_with("PreconditionFailed", "put-object", "--bucket", bucket, "--key", "c", "--body", str(body),
               "--if-match", '"0123456789abcdef0123456789abcdef"')
    body.write_bytes(b"second")
    api("put-object", "--bucket", bucket, "--key", "c", "--body", str(body), "--if-match", etag)
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"second"
    # ListBuckets, one page at a time, and filtered.
    for name in ("cli-page-a", "cli-page-b", "cli-page-c"):
        s3.create_bucket(Bucket=name)
    first = json.loads(api("list-buckets", "--prefix", "cli-page-", "--max-buckets", "2", "--no-paginate").stdout)
    assert [b["Name"] for b in first["Buckets"]] == ["cli-page-a", "cli-page-b"]
    rest = json.loads(api("list-buckets", "--prefix", "cli-page-", "--max-buckets", "2", "--no-paginate",
                          "--continuation-token", first["ContinuationToken"]).stdout)
    assert [b["Name"] for b in rest["Buckets"]] == ["cli-page-c"] and "ContinuationToken" not in rest
    # x-amz-expected-bucket-owner.
    api("head-object", "--bucket", bucket, "--key", "c", "--expected-bucket-owner", "000000000000")
    fails_with("403", "head-object", "--bucket", bucket, "--key", "c", "--expected-bucket-owner", "111122223333")
    fails_with("AccessDenied", "get-object-tagging", "--bucket", bucket, "--key", "c",
               "--expected-bucket-owner", "111122223333")
