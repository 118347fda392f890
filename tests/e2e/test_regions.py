"""Regions against the real engine (docs/iam.md "Regions").

A server started without RUSTFS_REGION accepts a SigV4 signature scoped to any region and answers with
the client's region: s3cmd with its default settings (region "US") works, and so do boto3 clients of
any region, their presigned URLs and hand-built aws-chunked uploads. The session ``engine`` has
RUSTFS_REGION set (as the component renders it): it stays strict, answering a wrong region as AWS does.
"""

from __future__ import annotations

import http.client
import os
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

from tests.conftest import EngineServer

from .helpers import KiB, MiB, assert_same, payload, run
from .test_streaming import chunked_put


class RegionlessEngine(EngineServer):
    """An engine started without RUSTFS_REGION; ``region`` is only what its clients sign for."""

    def env(self) -> dict[str, str]:
        env = super().env()
        env.pop("RUSTFS_REGION", None)
        return env


@pytest.fixture(scope="module")
def regionless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionlessEngine]:
    server = RegionlessEngine(tmp_path_factory.mktemp("regionless"), drives=4, name="regionless")
    server.region = "US"        # readiness probes sign like s3cmd
    server.start()
    try:
        yield server
    finally:
        server.discard()


def client_of(server: EngineServer, region: str) -> Any:
    """A boto3 S3 client of ``region`` for ``server`` (path-style, bounded retries)."""
    import boto3

    config = Config(signature_version="s3v4", s3={"addressing_style": "path"},   # presigned URLs: SigV4
                    retries={"max_attempts": 2, "mode": "standard"})
    return boto3.session.Session().client("s3", endpoint_url=server.url, region_name=region, config=config,
                                          aws_access_key_id=server.access_key,
                                          aws_secret_access_key=server.secret_key)


def s3cmd_exe() -> str:
    exe = shutil.which("s3cmd", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if exe is None:
        pytest.fail("s3cmd is not installed (it is in the test extra)")
    return exe


def default_s3cfg(server: EngineServer, path: Path) -> Path:
    """s3cmd's defaults (bucket_location "US", SigV4), pointed at ``server``: only what must point there."""
    path.write_text(
        "[default]\n"
        f"access_key = {server.access_key}\n"
        f"secret_key = {server.secret_key}\n"
        f"host_base = {server.address}\n"
        f"host_bucket = {server.address}\n"
        "use_https = False\n")
    return path


def test_s3cmd_with_default_settings(regionless: RegionlessEngine, tmp_path: Path, unique_name: Any) -> None:
    exe = s3cmd_exe()
    cfg = default_s3cfg(regionless, tmp_path / "s3cfg")

    def s3cmd(*args: str) -> str:
        return run([exe, "-c", str(cfg), "--no-progress", *args], env={"HOME": str(tmp_path)},
                   timeout=120).stdout.decode()

    bucket = unique_name("s3cmd-us")
    s3cmd("mb", f"s3://{bucket}")
    data = payload("s3cmd-regions", 0, 6 * MiB + 7)
    (tmp_path / "big.bin").write_bytes(data)
    s3cmd("put", "--multipart-chunk-size-mb=5", str(tmp_path / "big.bin"), f"s3://{bucket}/dir/big.bin")
    (tmp_path / "small.txt").write_bytes(b"small")
    s3cmd("put", str(tmp_path / "small.txt"), f"s3://{bucket}/small.txt")
    assert bucket in s3cmd("ls")
    listing = s3cmd("ls", "--recursive", f"s3://{bucket}")
    assert f"s3://{bucket}/dir/big.bin" in listing and f"s3://{bucket}/small.txt" in listing, listing
    s3cmd("get", f"s3://{bucket}/dir/big.bin", str(tmp_path / "out.bin"))
    assert_same((tmp_path / "out.bin").read_bytes(), data)
    info = s3cmd("info", f"s3://{bucket}")
    assert "Location:  us-east-1" in info, info       # GetBucketLocation: empty, as AWS answers us-east-1
    s3cmd("del", "--recursive", "--force", f"s3://{bucket}")
    s3cmd("rb", f"s3://{bucket}")
    assert bucket not in s3cmd("ls")


@pytest.mark.parametrize(("region", "reported"), [("eu-west-3", "eu-west-3"), ("US", "us-east-1"),
                                                  ("cn-north-1", "cn-north-1")])
def test_boto3_of_any_region(regionless: RegionlessEngine, region: str, reported: str, unique_name: Any) -> None:
    client = client_of(regionless, region)
    name = unique_name("r")
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    try:
        # The server answers with the client's region ("US" is S3's legacy name of us-east-1, whose
        # LocationConstraint is empty).
        assert client.get_bucket_location(Bucket=name).get("LocationConstraint") == (
            None if reported == "us-east-1" else reported)
        head = client.head_bucket(Bucket=name)
        assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == reported
        mine = [b for b in client.list_buckets()["Buckets"] if b["Name"] == name]
        assert mine and mine[0].get("BucketRegion") == reported
        client.put_object(Bucket=name, Key="k", Body=b"hello " + region.encode())
        url = client.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "k"}, ExpiresIn=60)
        assert f"%2F{region}%2Fs3%2F" in url
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.read() == b"hello " + region.encode()
    finally:
        for item in client.list_objects_v2(Bucket=name).get("Contents", []):
            client.delete_object(Bucket=name, Key=item["Key"])
        client.delete_bucket(Bucket=name)


@pytest.mark.parametrize("mode", ["signed", "signed-trailer"])
def test_chunk_signatures_in_the_clients_region(regionless: RegionlessEngine, mode: str, unique_name: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_of(regionless, "us-east-1")
    name = unique_name("chunked")
    client.create_bucket(Bucket=name)
    try:
        data = payload(mode, 1, 300 * KiB + 3)
        monkeypatch.setattr(regionless, "region", "ap-southeast-2")    # what the hand-built upload signs for
        status, body = chunked_put(regionless, f"/{name}/obj", data, mode)
        assert status == 200, body
        status, body = chunked_put(regionless, f"/{name}/bad", data, mode, corrupt_chunk=1)
        assert status == 403 and b"SignatureDoesNotMatch" in body, body
        monkeypatch.undo()
        assert_same(client.get_object(Bucket=name, Key="obj")["Body"].read(), data)
    finally:
        for item in client.list_objects_v2(Bucket=name).get("Contents", []):
            client.delete_object(Bucket=name, Key=item["Key"])
        client.delete_bucket(Bucket=name)


def test_explicit_region_stays_strict(engine: EngineServer, s3: Any, bucket: str) -> None:
    # The session engine has RUSTFS_REGION=us-east-1: another region is refused with AWS's error, which
    # names the server's region (header and <Region>).
    headers = engine.sign("GET", f"/{bucket}", "list-type=2")
    headers["authorization"] = headers["authorization"].replace("/us-east-1/", "/eu-west-3/")
    conn = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=30)
    try:
        conn.request("GET", f"/{bucket}?list-type=2", headers=headers)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 400, body
    assert response.getheader("x-amz-bucket-region") == "us-east-1"
    assert b"<Code>AuthorizationHeaderMalformed</Code>" in body and b"<Region>us-east-1</Region>" in body, body
    assert b"the region 'eu-west-3' is wrong; expecting 'us-east-1'" in body, body
    # botocore follows it: a client of another region reaches the bucket.
    s3.put_object(Bucket=bucket, Key="k", Body=b"strict")
    assert client_of(engine, "eu-west-3").get_object(Bucket=bucket, Key="k")["Body"].read() == b"strict"


def test_s3cmd_default_settings_follow_an_explicit_region(engine: EngineServer, tmp_path: Path,
                                                          unique_name: Any) -> None:
    # s3cmd with its defaults signs for "US"; a server with RUSTFS_REGION=us-east-1 refuses that, naming its
    # region in <Region>, and s3cmd retries there.
    exe, cfg = s3cmd_exe(), default_s3cfg(engine, tmp_path / "s3cfg")

    def s3cmd(*args: str) -> str:
        return run([exe, "-c", str(cfg), "--no-progress", *args], env={"HOME": str(tmp_path)},
                   timeout=120).stdout.decode()

    name = unique_name("s3cmd-strict")
    s3cmd("mb", f"s3://{name}")
    (tmp_path / "f.txt").write_bytes(b"strict server")
    s3cmd("put", str(tmp_path / "f.txt"), f"s3://{name}/f.txt")
    assert f"s3://{name}/f.txt" in s3cmd("ls", f"s3://{name}")
    assert f"s3://{name}" in s3cmd("ls")
    s3cmd("get", f"s3://{name}/f.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_bytes() == b"strict server"
    s3cmd("del", f"s3://{name}/f.txt")
    s3cmd("rb", f"s3://{name}")


class FlagRegionEngine(RegionlessEngine):
    """No RUSTFS_REGION, but ``server --region eu-1``: the flag makes the region explicit."""

    def command(self) -> list[str]:
        command = super().command()
        return [*command[:4], "--region", "eu-1", *command[4:]]


def test_region_flag_is_explicit(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = FlagRegionEngine(tmp_path_factory.mktemp("flagregion"), drives=1, name="flag-region")
    server.region = "eu-1"
    server.start()
    try:
        assert server.request("GET", "/")[0] == 200
        server.region = "US"
        status, body = server.request("GET", "/")
        assert status == 400 and b"the region 'US' is wrong; expecting 'eu-1'" in body, body
    finally:
        server.discard()
