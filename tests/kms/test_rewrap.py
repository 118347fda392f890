"""The admin re-wrap against a real OpenBao: after ``transit/keys/<k>/rotate``, ``rewrap_keys`` puts every
SSE-S3/SSE-KMS version's data key under the newest key version without touching the data, so the old
version can be retired (``min_decryption_version``) and everything still reads back. Through the object
layer on tmp drives, and end to end through the admin API and ``python -m storage_engine kms-rewrap``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from openbao_server import OpenBao
from storage_engine import errors
from storage_engine.config import EngineSettings
from storage_engine.crypto.envelope import Envelope
from storage_engine.drives import metafile, paths
from storage_engine.erasure.metadata import decode_header
from storage_engine.objects.layer import ErasureObjectLayer, open_object_layer
from storage_engine.objects.types import PutOptions, SseRequest
from storage_engine.topology import Pool

T = TypeVar("T")
KiB = 1 << 10
CUSTOMER = hashlib.sha256(b"customer").digest()


class Body:
    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    async def read(self, n: int) -> bytes:
        out = self._data[self._pos:self._pos + n]
        self._pos += len(out)
        return out

    def checksums(self) -> dict[str, str]:
        return {}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def tenant(bao: OpenBao) -> tuple[str, str]:
    """A fresh transit key and a token whose policy allows exactly it."""
    key = f"rw-{uuid.uuid4().hex[:8]}"
    bao.create_key(key)
    bao.create_policy(key, bao.key_policy(key))
    return key, bao.create_token([key])


def retire_old_versions(bao: OpenBao, key: str) -> None:
    version = bao.api("GET", f"transit/keys/{key}")["data"]["latest_version"]
    bao.api("POST", f"transit/keys/{key}/config", {"min_decryption_version": version})


async def open_layer(root: Path, settings: EngineSettings) -> ErasureObjectLayer:
    drives = [str(root / f"d{i}") for i in range(4)]
    return await open_object_layer([Pool(tuple(drives), 4)], settings)


async def read(layer: ErasureObjectLayer, bucket: str, key: str, version_id: str | None = None,
               customer_key: bytes | None = None) -> bytes:
    reader = await layer.get_object(bucket, key, version_id, customer_key=customer_key)
    try:
        return b"".join([chunk async for chunk in reader.stream()])
    finally:
        await reader.close()


def data_files(root: Path) -> dict[str, bytes]:
    """The digest of every stored object file but the metadata: what a re-wrap must never touch."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).digest()
            for p in root.rglob("*") if p.is_file() and not p.name.endswith(".xl.meta")
            and ".rustfs.sys" not in p.parts}


def wrapped_keys(root: Path, bucket: str, key: str) -> list[bytes]:
    """The wrapped data keys of ``key``'s versions (newest first) in its metadata on the first drive."""
    header, _ = metafile.unpack((root / "d0" / bucket / paths.meta_path(key)).read_bytes())
    return [Envelope.unpack(v.sse).wrapped_key or b"" for v in decode_header(header) if v.sse is not None]


def test_rewrap_after_rotation_lets_the_old_key_version_go(bao: OpenBao, tmp_path: Path) -> None:
    key, token = tenant(bao)
    settings = EngineSettings.model_validate({
        "kms_backend": "vault", "kms_vault_address": bao.address, "kms_vault_token": token,
        "kms_default_key_id": key, "heal_interval_seconds": 0, "kms_auto_encryption": False})
    big = os.urandom(300 * KiB)                        # beyond the inline threshold: data files on disk
    objects = {
        "kms": (SseRequest("KMS", kms_key_id=key, context={"p": "1"}), big),
        "s3": (SseRequest("S3"), b"small sse-s3 object"),
        "c": (SseRequest("C", customer_key=CUSTOMER), b"sse-c object"),
        "plain": (None, b"plain object"),
    }

    async def main() -> None:
        layer = await open_layer(tmp_path, settings)
        try:
            await layer.make_bucket("bkt")
            await layer.set_bucket_versioning("bkt", "Enabled")
            for name, (sse, data) in objects.items():
                await layer.put_object("bkt", name, Body(data), PutOptions(sse=sse))
            first = await layer.put_object("bkt", "kms", Body(b"older"), PutOptions(sse=SseRequest("KMS", kms_key_id=key)))
            await layer.put_object("bkt", "kms", Body(big), PutOptions(sse=SseRequest("KMS", kms_key_id=key)))
            assert all(w.startswith(b"vault:v1:") for w in wrapped_keys(tmp_path, "bkt", "kms"))
            before = data_files(tmp_path)

            bao.rotate_key(key)
            report = await layer.rewrap_keys()
            assert (report.versions_scanned, report.rewrapped, report.unchanged, report.skipped, report.failures) \
                == (4, 4, 0, 0, 0), report
            assert data_files(tmp_path) == before       # only metadata changed
            assert [w[:9] for w in wrapped_keys(tmp_path, "bkt", "kms")] == [b"vault:v2:"] * 3

            retire_old_versions(bao, key)                # v1 can no longer decrypt anything
            assert await read(layer, "bkt", "kms") == big
            assert await read(layer, "bkt", "kms", first.version_id) == b"older"
            assert await read(layer, "bkt", "s3") == b"small sse-s3 object"
            assert await read(layer, "bkt", "c", customer_key=CUSTOMER) == b"sse-c object"
            assert await read(layer, "bkt", "plain") == b"plain object"

            again = await layer.rewrap_keys("bkt")
            assert (again.versions_scanned, again.rewrapped, again.unchanged) == (4, 0, 4)
            with pytest.raises(errors.NoSuchBucket):
                await layer.rewrap_keys("no-such-bucket")
            bao.stop()
            try:
                with pytest.raises(errors.KMSUnavailable):
                    await layer.rewrap_keys()
            finally:
                bao.start()
        finally:
            await layer.close()
    run(main())


def test_without_rewrap_the_retired_version_locks_objects_out(bao: OpenBao, tmp_path: Path) -> None:
    """The control: what the re-wrap saves us from."""
    key, token = tenant(bao)
    settings = EngineSettings.model_validate({
        "kms_backend": "vault", "kms_vault_address": bao.address, "kms_vault_token": token,
        "kms_default_key_id": key, "heal_interval_seconds": 0})

    async def main() -> None:
        layer = await open_layer(tmp_path, settings)
        try:
            await layer.make_bucket("bkt")
            await layer.put_object("bkt", "o", Body(b"data"), PutOptions())      # auto encryption: SSE-S3
            bao.rotate_key(key)
            retire_old_versions(bao, key)
            with pytest.raises(errors.S3Error):
                await read(layer, "bkt", "o")
        finally:
            await layer.close()
    run(main())


def test_static_key_rewrap_changes_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        layer = await open_layer(tmp_path, EngineSettings.model_validate({"heal_interval_seconds": 0,
                                                                          "kms_auto_encryption": True}))
        try:
            await layer.make_bucket("bkt")
            await layer.put_object("bkt", "o", Body(b"data"), PutOptions())
            before = wrapped_keys(tmp_path, "bkt", "o")
            report = await layer.rewrap_keys()
            assert (report.versions_scanned, report.rewrapped, report.unchanged, report.failures) == (1, 0, 1, 0)
            assert wrapped_keys(tmp_path, "bkt", "o") == before
        finally:
            await layer.close()
    run(main())


def test_admin_api_and_command_line(bao: OpenBao, make_engine: Callable[..., Any]) -> None:
    key, token = tenant(bao)
    server = make_engine(env=bao.engine_env(key, token=token), name="rewrap")
    s3 = boto3.client("s3", endpoint_url=server.url, aws_access_key_id=server.access_key,
                      aws_secret_access_key=server.secret_key, region_name=server.region,
                      config=Config(s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key="kms", Body=b"kms data", ServerSideEncryption="aws:kms", SSEKMSKeyId=key)
    s3.put_object(Bucket="bkt", Key="auto", Body=b"auto data")
    bao.rotate_key(key)

    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSTFS_")}
    env.update(RUSTFS_ACCESS_KEY=server.access_key, RUSTFS_SECRET_KEY=server.secret_key)
    cli = [sys.executable, "-m", "storage_engine", "kms-rewrap", "--endpoint", server.url]
    done = subprocess.run([*cli, "bkt"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "KMS re-wrap of bkt" in done.stdout and "rewrapped: 2" in done.stdout and "failures: 0" in done.stdout

    retire_old_versions(bao, key)
    assert s3.get_object(Bucket="bkt", Key="kms")["Body"].read() == b"kms data"
    assert s3.get_object(Bucket="bkt", Key="auto")["Body"].read() == b"auto data"

    missing = subprocess.run([*cli, "no-such-bucket"], env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "NoSuchBucket" in missing.stderr and "Traceback" not in missing.stderr
    wrong = subprocess.run(cli, env={**env, "RUSTFS_SECRET_KEY": "wrong-secret-0123456789"}, capture_output=True,
                           text=True, timeout=120)
    assert wrong.returncode == 1 and "403" in wrong.stderr
    bao.stop()
    try:
        down = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
        assert down.returncode == 1 and "503" in down.stderr and "KMSUnavailable" in down.stderr
    finally:
        bao.start()
    with pytest.raises(ClientError):
        s3.put_object(Bucket="bkt", Key="kms", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId="not-ours")
