"""Issue 10 end to end against a real OpenBao (the session's ``openbao``, Vault's API): boto3 through an
engine whose KMS is Vault transit, as the component deploys a tenant (its own key, a policy of that key
only, "encrypt everything" on because the KMS backend is set).

One engine, shared by the tests in file order: SSE-KMS and SSE-S3 round trips (single and multipart), a key
of another tenant refused by the policy, OpenBao stopped (PUT and GET of encrypted objects fail closed with
503 KMSUnavailable, nothing stored, no plaintext), started again (everything reads back), and a key rotation.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .helpers import KiB, MiB, assert_same, error_code, payload

PART = 5 * MiB
SUFFIX = uuid.uuid4().hex[:8]
TENANT_KEY = f"e2e-sse-tenant-{SUFFIX}"
OTHER_KEY = f"e2e-sse-other-{SUFFIX}"
BUCKET = "sse-vault"


@pytest.fixture(scope="module")
def vault_engine(openbao: Any, engine_factory: Callable[..., Any]) -> Iterator[Any]:
    """An engine using Vault with a token allowed only TENANT_KEY (OTHER_KEY exists, another tenant's)."""
    for key in (TENANT_KEY, OTHER_KEY):
        openbao.create_key(key)
    openbao.create_policy(f"rustfs-{TENANT_KEY}", openbao.key_policy(TENANT_KEY))
    token = openbao.create_token([f"rustfs-{TENANT_KEY}"], ttl="2h")
    env = {**openbao.engine_env(TENANT_KEY, token=token), "RUSTFS_KMS_TIMEOUT_SECONDS": "2",
           "RUSTFS_KMS_RETRIES": "2"}
    server = engine_factory(env=env, name="vault-engine")
    client = server.client(retries={"max_attempts": 1, "mode": "standard"})
    client.create_bucket(Bucket=BUCKET)
    server.s3 = client
    yield server
    if not openbao.running:
        openbao.start()


@pytest.fixture(scope="module")
def written() -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Objects the tests wrote, with their read arguments: the restart test reads every one back."""
    return {}


def status(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def on_drives(server: Any, bucket: str, key: str) -> list[Path]:
    return [p for drive in server.drives for p in (Path(drive) / bucket).rglob("*")
            if p.is_file() and key in str(p.relative_to(Path(drive) / bucket))]


def test_sse_kms_round_trips_through_vault(vault_engine: Any, written: dict[str, tuple[bytes, dict[str, Any]]]) -> None:
    s3 = vault_engine.s3
    context = {"tenant": "e2e", "purpose": "issue-10"}
    data = payload("vault-kms", 0, 3 * 64 * KiB + 5)
    resp = s3.put_object(Bucket=BUCKET, Key="kms", Body=data, ServerSideEncryption="aws:kms",
                         SSEKMSKeyId=TENANT_KEY,
                         SSEKMSEncryptionContext=base64.b64encode(json.dumps(context).encode()).decode())
    assert resp["ServerSideEncryption"] == "aws:kms" and resp["SSEKMSKeyId"] == TENANT_KEY
    got = s3.get_object(Bucket=BUCKET, Key="kms", Range="bytes=65530-131080")
    assert_same(got["Body"].read(), data[65530:131081], "SSE-KMS range via Vault")
    written["kms"] = (data, {})
    # The server's default key (the tenant's): SSE-S3, and a PUT without headers ("encrypt everything").
    for key, extra in (("s3", {"ServerSideEncryption": "AES256"}), ("auto", {})):
        body = payload("vault", key, 100 * KiB)
        resp = s3.put_object(Bucket=BUCKET, Key=key, Body=body, **extra)
        assert resp["ServerSideEncryption"] == "AES256", f"{key}: {resp}"
        assert_same(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read(), body, key)
        written[key] = (body, {})
    # Multipart through the real KMS: every part uses the upload's data key (RustFS #1233, #1488).
    big = payload("vault-mp", 0, 2 * PART + 123)
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="mp", ServerSideEncryption="aws:kms")["UploadId"]
    parts = []
    for number, offset in enumerate(range(0, len(big), PART), start=1):
        etag = s3.upload_part(Bucket=BUCKET, Key="mp", UploadId=upload_id, PartNumber=number,
                              Body=big[offset:offset + PART])["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(Bucket=BUCKET, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert s3.head_object(Bucket=BUCKET, Key="mp")["SSEKMSKeyId"] == TENANT_KEY
    assert_same(s3.get_object(Bucket=BUCKET, Key="mp")["Body"].read(), big, "SSE-KMS multipart via Vault")
    written["mp"] = (big, {})


def test_another_tenants_key_is_refused(vault_engine: Any) -> None:
    with pytest.raises(ClientError) as refused:
        vault_engine.s3.put_object(Bucket=BUCKET, Key="theirs", Body=b"data", ServerSideEncryption="aws:kms",
                                   SSEKMSKeyId=OTHER_KEY)
    assert status(refused.value) == 403 and error_code(refused.value) == "AccessDenied"
    with pytest.raises(ClientError) as missing:
        vault_engine.s3.head_object(Bucket=BUCKET, Key="theirs")
    assert status(missing.value) == 404
    # A bucket default naming the other tenant's key does not get around the policy either.
    vault_engine.s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": OTHER_KEY}}]})
    try:
        with pytest.raises(ClientError) as by_default:
            vault_engine.s3.put_object(Bucket=BUCKET, Key="theirs", Body=b"data")
        assert status(by_default.value) == 403
    finally:
        vault_engine.s3.delete_bucket_encryption(Bucket=BUCKET)


def test_openbao_stopped_fails_closed_then_everything_reads_back(
        vault_engine: Any, openbao: Any, written: dict[str, tuple[bytes, dict[str, Any]]]) -> None:
    s3 = vault_engine.s3
    assert written, "runs after the round trips"
    openbao.stop()
    try:
        marker = payload("never-stored", 0, 64 * KiB)
        for key, extra in (("down-kms", {"ServerSideEncryption": "aws:kms"}),
                           ("down-s3", {"ServerSideEncryption": "AES256"}),
                           ("down-auto", {})):
            with pytest.raises(ClientError) as put:
                s3.put_object(Bucket=BUCKET, Key=key, Body=marker, **extra)
            assert status(put.value) == 503 and error_code(put.value) == "KMSUnavailable", key
            assert not on_drives(vault_engine, BUCKET, key), f"{key}: something was stored"
        with pytest.raises(ClientError) as create:
            s3.create_multipart_upload(Bucket=BUCKET, Key="down-mp", ServerSideEncryption="aws:kms")
        assert status(create.value) == 503
        for key in written:
            with pytest.raises(ClientError) as get:
                s3.get_object(Bucket=BUCKET, Key=key)
            assert status(get.value) == 503 and error_code(get.value) == "KMSUnavailable", key
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        assert not [k for k in listed if k.startswith("down-")]
        # No byte of what was refused reached a drive.
        for path in (p for drive in vault_engine.drives for p in Path(drive).rglob("*") if p.is_file()):
            assert marker[:64] not in path.read_bytes(), path
    finally:
        openbao.start()
    for key, (data, extra) in written.items():
        assert_same(s3.get_object(Bucket=BUCKET, Key=key, **extra)["Body"].read(), data, f"{key} after restart")


def test_key_rotation_keeps_old_objects_readable(vault_engine: Any, openbao: Any,
                                                 written: dict[str, tuple[bytes, dict[str, Any]]]) -> None:
    openbao.rotate_key(TENANT_KEY)
    s3 = vault_engine.s3
    fresh = payload("after-rotation", 0, 70 * KiB)
    s3.put_object(Bucket=BUCKET, Key="after-rotation", Body=fresh, ServerSideEncryption="aws:kms")
    written["after-rotation"] = (fresh, {})
    for key, (data, extra) in written.items():
        assert_same(s3.get_object(Bucket=BUCKET, Key=key, **extra)["Body"].read(), data, f"{key} after rotation")
